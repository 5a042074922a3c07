"""Tools for testing code built on tunewise, and for testing provider plugins.

- `ScriptedProvider`: an in-memory provider with scripted answers (chat, streaming,
  embeddings, fine-tune jobs), like `httpx.MockTransport`.
- `ProviderConformance`: the checks every provider plugin should pass.
- `HashingEmbedder` and `InMemoryRetriever`: re-exported from `tunewise.retrieval`, where
  they live (production code uses them too).
"""

from tunewise.retrieval import HashingEmbedder, InMemoryRetriever
from tunewise.testing._conformance import ProviderConformance
from tunewise.testing._scripted import (
    ScriptedFineTuner,
    ScriptedJob,
    ScriptedProvider,
)

__all__ = [
    "HashingEmbedder",
    "InMemoryRetriever",
    "ProviderConformance",
    "ScriptedFineTuner",
    "ScriptedJob",
    "ScriptedProvider",
]
