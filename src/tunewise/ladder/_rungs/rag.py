"""The retrieval rungs: ``rag`` (the base model) and ``rag_fine_tuned`` (the fine-tune), alike but for the model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunewise.strategies import RagFineTuned

if TYPE_CHECKING:
    from tunewise.interfaces.strategy import Strategy
    from tunewise.ladder._config import RungKind
    from tunewise.ladder._context import LadderContext
    from tunewise.ladder._state import RungResult


async def retrieval_strategy(ctx: LadderContext, rung: RungKind, model: str) -> Strategy:
    """Retrieval feeding ``model``, with the config's relevance rule.

    The same for ``rag`` (the base model) and ``rag_fine_tuned`` (the fine-tune), so the two differ
    only in the model.
    """
    retrieval = ctx.config.retrieval
    return RagFineTuned(
        ctx.model(model),
        await ctx.retriever(),
        threshold=retrieval.threshold,
        threshold_on=retrieval.threshold_on,
        on_low_relevance=retrieval.on_low_relevance,
        k=retrieval.k,
        name=rung,
        **ctx.config.options,
    )


async def rag(ctx: LadderContext) -> RungResult:
    """The base model answering from retrieved knowledge-base passages: what retrieval alone brings."""
    model = ctx.config.models.base
    strategy = await retrieval_strategy(ctx, "rag", model)
    results = await ctx.evaluate(strategy, ctx.test, "ladder-rag")
    return ctx.scoring.measure("rag", strategy, model, results)


async def rag_fine_tuned(ctx: LadderContext) -> RungResult:
    """The fine-tuned model answering from retrieved passages; its training cost is the fine-tune rung's."""
    record = ctx.state.fine_tune
    assert record is not None and record.model is not None
    strategy = await retrieval_strategy(ctx, "rag_fine_tuned", record.model)
    results = await ctx.evaluate(strategy, ctx.test, "ladder-rag_fine_tuned")
    fine_tuned = ctx.state.results.get("fine_tune")
    return ctx.scoring.measure(
        "rag_fine_tuned",
        strategy,
        record.model,
        results,
        training_cost=fine_tuned.training_cost if fine_tuned is not None else None,
    )
