"""Tools for testing code built on tunewise, and for testing provider plugins.

- :class:`ScriptedProvider`: an in-memory provider with scripted answers (chat,
  streaming, embeddings, fine-tune jobs), like ``httpx.MockTransport``.
- :class:`ProviderConformance`: the checks every provider plugin should pass.
- :class:`InMemoryRetriever`: exact cosine retrieval over any embedder.
"""

from tunewise.testing._conformance import ProviderConformance
from tunewise.testing._retriever import InMemoryRetriever
from tunewise.testing._scripted import (
    HashingEmbedder,
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
