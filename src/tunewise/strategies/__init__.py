"""Every technique as a `Strategy`: ``await strategy.respond(conversation)``.

Each strategy takes a ``tunewise.Model`` or a model reference string (plus an optional
``Registry``), records exactly the requests it sent in the [`Answer`][tunewise.Answer], and
can be built from config with [`build_strategy()`][tunewise.strategies.build_strategy].
"""

from tunewise.strategies._call import ProviderWrapper, wrap_providers
from tunewise.strategies._factory import (
    REQUEST_OPTIONS,
    BuildContext,
    build_strategies,
    build_strategy,
    load_strategies,
    register_retriever,
    register_strategy,
    strategy_kinds,
)
from tunewise.strategies._fewshot import Example, FewShot, mmr_select
from tunewise.strategies._prompting import ChainOfThought, FineTuned, SystemPrompt, ZeroShot, extract_answer
from tunewise.strategies._rag import RAG, RagFineTuned, cited_sources, format_context
from tunewise.strategies._streaming import ChunkSink, stream_calls

__all__ = [
    "RAG",
    "REQUEST_OPTIONS",
    "BuildContext",
    "ChunkSink",
    "ChainOfThought",
    "Example",
    "FewShot",
    "FineTuned",
    "ProviderWrapper",
    "RagFineTuned",
    "SystemPrompt",
    "ZeroShot",
    "build_strategies",
    "build_strategy",
    "cited_sources",
    "extract_answer",
    "format_context",
    "load_strategies",
    "mmr_select",
    "register_retriever",
    "register_strategy",
    "stream_calls",
    "wrap_providers",
    "strategy_kinds",
]
