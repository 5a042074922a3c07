"""The ``optimized_prompt`` rung: an instruction search on the dev split, the best instruction tested.

Each round a writer model reads the best instruction's dev failures and writes new candidates
(see `tunewise.ladder._optimize`); every candidate and score is kept in the state, so a killed
search resumes without rewriting or rescoring.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from tunewise._types import Message
from tunewise.costs import sum_known
from tunewise.evaluation import Case
from tunewise.ladder._measure import spend_of
from tunewise.ladder._optimize import DEFAULT_INSTRUCTION, Failure, parse_candidates, writer_prompt
from tunewise.ladder._rungs.prompting import prompt_strategy
from tunewise.ladder._state import Candidate

if TYPE_CHECKING:
    from tunewise.ladder._context import LadderContext
    from tunewise.ladder._state import RungResult


def short_hash(text: str) -> str:
    """Twelve hex digits of ``text``'s SHA-256: a run id's stable suffix."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


async def optimized_prompt(ctx: LadderContext) -> RungResult:
    """Score the starting instruction on dev, then rounds of written candidates; keep the best."""
    opt = ctx.config.optimizer
    if not ctx.state.candidates:
        ctx.state.candidates.append(Candidate(instruction=ctx.system or DEFAULT_INSTRUCTION, round=0))
        ctx.save()
    dollars: float | None = 0.0
    tokens = 0
    notes: list[str] = []
    for round_no in range(opt.rounds + 1):
        await _score_round(ctx, round_no)
        if round_no == opt.rounds:
            break
        if any(c.round == round_no + 1 for c in ctx.state.candidates):
            continue  # written before a restart: score them, do not write new ones
        failures = _failures(ctx, _best_candidate(ctx))
        if not failures:
            notes.append(f"round {round_no + 1}: no dev failures left to learn from")
            break
        paid, used = await _write_round(ctx, round_no, failures, notes)
        dollars = sum_known(dollars, paid)
        tokens += used
    for candidate in ctx.state.candidates:
        if candidate.run_id is not None:
            spent, used = spend_of(ctx.store.results(candidate.run_id))
            dollars = sum_known(dollars, spent)
            tokens += used
    return await _test_best(ctx, dollars, tokens, notes)


async def _score_round(ctx: LadderContext, round_no: int) -> None:
    """Score this round's candidates on the dev split (those not scored before a restart)."""
    for candidate in [c for c in ctx.state.candidates if c.round == round_no]:
        if candidate.dev_score is not None:
            continue
        run_id = "ladder-dev-" + short_hash(candidate.instruction)
        strategy = prompt_strategy(ctx, "candidate", candidate.instruction)
        results = await ctx.evaluate(strategy, ctx.dev, run_id, report_metrics=False)
        candidate.run_id = run_id
        dev_scores = ctx.scoring.score(results)
        candidate.dev_score = sum(dev_scores) / len(dev_scores) if dev_scores else 0.0
        ctx.save()
        ctx.event(f"optimized_prompt: round {round_no} candidate scored {candidate.dev_score:.3f} on dev")


async def _write_round(
    ctx: LadderContext, round_no: int, failures: list[Failure], notes: list[str]
) -> tuple[float | None, int]:
    """Ask the writer model for the next round's candidates; returns what the call cost (dollars, tokens)."""
    opt = ctx.config.optimizer
    tried = [(c.instruction, c.dev_score or 0.0) for c in ctx.state.candidates]
    system, user = writer_prompt(tried, failures, n=opt.candidates, metric=ctx.metric.name)
    writer = ctx.model(ctx.config.optimizer_model)
    response = await writer.chat([Message.system(system), Message.user(user)], temperature=opt.temperature)
    paid = ctx.cost(str(writer.ref), response.usage)
    ctx.pay(paid)
    written = parse_candidates(response.text, n=opt.candidates, seen=[c.instruction for c in ctx.state.candidates])
    if not written:
        notes.append(f"round {round_no + 1}: the optimizer wrote no usable instruction")
    ctx.state.candidates.extend(Candidate(instruction=w, round=round_no + 1) for w in written)
    ctx.save()
    return paid, (response.usage.prompt_tokens or 0) + (response.usage.completion_tokens or 0)


async def _test_best(ctx: LadderContext, dollars: float | None, tokens: int, notes: list[str]) -> RungResult:
    """Evaluate the best instruction on the test split (or reuse few_shot's answers when it is the same prompt)."""
    best = _best_candidate(ctx)
    notes.insert(
        0,
        f"best of {len(ctx.state.candidates)} instructions on the dev split "
        f"({ctx.metric.name} {best.dev_score:.3f}; "
        f"the starting one scored {ctx.state.candidates[0].dev_score:.3f})",
    )
    strategy = prompt_strategy(ctx, "optimized_prompt", best.instruction)
    base = ctx.config.models.base
    few = ctx.state.results.get("few_shot")
    if few is not None and ctx.system is not None and best.instruction == ctx.system:
        # The search kept the starting instruction: the prompt is few_shot's, so are its test answers.
        notes.append("the starting instruction won: the test answers are few_shot's (the same prompt), reused")
        results = ctx.store.results(few.run_id, few.strategy)
        measured = ctx.scoring.measure(
            "optimized_prompt", strategy, base, results, system=best.instruction, notes=notes
        )
        return measured.model_copy(update={"spent": dollars, "tokens": tokens})
    results = await ctx.evaluate(strategy, ctx.test, "ladder-optimized_prompt-" + short_hash(best.instruction))
    return ctx.scoring.measure(
        "optimized_prompt",
        strategy,
        base,
        results,
        extra_dollars=dollars,
        extra_tokens=tokens,
        system=best.instruction,
        notes=notes,
    )


def _best_candidate(ctx: LadderContext) -> Candidate:
    scored = [c for c in ctx.state.candidates if c.dev_score is not None]
    return max(scored, key=lambda c: (c.dev_score or 0.0, -c.round, -len(c.instruction)))


def _failures(ctx: LadderContext, best: Candidate) -> list[Failure]:
    """The best candidate's worst dev cases (below the threshold, else below a perfect score), for the writer."""
    assert best.run_id is not None
    threshold = ctx.config.target.threshold
    name = ctx.metric.name
    results = [r for r in ctx.store.results(best.run_id) if not r.not_applicable(name)]
    failing = [r for r in results if r.status != "ok" or r.scores.get(name, 0.0) < max(threshold, 1e-9)]
    if not failing:
        failing = [r for r in results if r.scores.get(name, 0.0) < 1.0]
    failing.sort(key=lambda r: r.scores.get(name, 0.0))
    out = []
    for r in failing[: ctx.config.optimizer.failures]:
        case = Case.model_validate(r.case)
        out.append(
            Failure(
                question=case.question,
                expected=case.reference or "",
                got=r.response if r.status == "ok" and r.response is not None else f"(error: {r.error})",
                score=r.scores.get(name, 0.0),
            )
        )
    return out
