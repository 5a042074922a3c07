"""The prompting rungs: ``zero_shot`` (the base model as is) and ``few_shot`` (examples from the train split)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunewise.strategies import FewShot, SystemPrompt, ZeroShot

if TYPE_CHECKING:
    from tunewise.interfaces.strategy import Strategy
    from tunewise.ladder._context import LadderContext
    from tunewise.ladder._state import RungResult


def prompt_strategy(ctx: LadderContext, name: str, system: str | None) -> Strategy:
    """A prompt rung's strategy: few-shot examples when that rung is on the ladder, plus ``system``."""
    config = ctx.config
    base = ctx.model(config.models.base)
    if "few_shot" in config.rungs and ctx.examples():
        return FewShot(
            base,
            ctx.examples(),
            k=config.few_shot.k,
            embedder=ctx.embedder(),
            diversity=config.few_shot.diversity,
            system=system,
            name=name,
            **config.options,
        )
    if system:
        return SystemPrompt(base, system, name=name, **config.options)
    return ZeroShot(base, name=name, **config.options)


async def zero_shot(ctx: LadderContext) -> RungResult:
    """The base model with no instruction and no examples."""
    strategy = ZeroShot(ctx.model(ctx.config.models.base), name="zero_shot", **ctx.config.options)
    results = await ctx.evaluate(strategy, ctx.test, "ladder-zero_shot")
    return ctx.scoring.measure("zero_shot", strategy, ctx.config.models.base, results)


async def few_shot(ctx: LadderContext) -> RungResult:
    """The base model with the config's system prompt and the nearest training examples."""
    strategy = prompt_strategy(ctx, "few_shot", ctx.system)
    results = await ctx.evaluate(strategy, ctx.test, "ladder-few_shot")
    return ctx.scoring.measure("few_shot", strategy, ctx.config.models.base, results, system=ctx.system)
