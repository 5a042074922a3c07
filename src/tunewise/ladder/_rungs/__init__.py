"""One module per kind of rung; [`run_rung`][tunewise.ladder._rungs.run_rung] picks the one to climb."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunewise.ladder._rungs.fine_tune import fine_tune
from tunewise.ladder._rungs.optimized import optimized_prompt
from tunewise.ladder._rungs.prompting import few_shot, zero_shot
from tunewise.ladder._rungs.rag import rag, rag_fine_tuned

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tunewise.ladder._config import RungKind
    from tunewise.ladder._context import LadderContext
    from tunewise.ladder._state import RungResult

RUNGS: dict[RungKind, Callable[[LadderContext], Awaitable[RungResult]]] = {
    "zero_shot": zero_shot,
    "few_shot": few_shot,
    "optimized_prompt": optimized_prompt,
    "rag": rag,
    "fine_tune": fine_tune,
    "rag_fine_tuned": rag_fine_tuned,
}


async def run_rung(ctx: LadderContext, rung: RungKind) -> RungResult:
    """Climb one rung: evaluate its strategy on the test split (after any dev search or training)."""
    return await RUNGS[rung](ctx)
