"""``tunewise chat MODEL_OR_CONFIG[:strategy]``: talk to a model or a strategy in the terminal.

Answers stream as the model writes them; after each one the retrieved sources, the token
usage and what the turn cost (``tunewise.costs.cost_of``; "unknown" when no price is known)
are shown. ``/reset`` starts a new conversation, ``/exit`` (or end of input) quits. When
stdin is not a terminal, each line is one user message, so a chat can be scripted.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.text import Text

if TYPE_CHECKING:
    from tunewise._types import Message
    from tunewise.interfaces.strategy import Answer, Strategy

HELP = "/reset clears the conversation, /exit quits"


def chat_command(
    target: Annotated[
        str,
        typer.Argument(
            metavar="MODEL_OR_CONFIG[:STRATEGY]",
            help="A model reference (openai:gpt-4o-mini), or a strategies TOML with an optional :strategy name.",
        ),
    ],
    stream: Annotated[bool, typer.Option("--stream/--no-stream", help="Show the answer as it is written.")] = True,
    temperature: Annotated[
        float | None, typer.Option("--temperature", min=0.0, max=2.0, help="Override the temperature.")
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", min=1, help="Override the answer length limit.")
    ] = None,
) -> None:
    """Chat with a model or a strategy: streaming answers, retrieved sources, tokens and cost per turn."""
    import anyio

    options = {k: v for k, v in (("temperature", temperature), ("max_tokens", max_tokens)) if v is not None}
    try:
        anyio.run(_chat, target, stream, options)
    except KeyboardInterrupt:
        typer.echo("", err=True)
        raise typer.Exit(0) from None


async def _chat(target: str, stream: bool, options: dict[str, float | int]) -> None:
    from tunewise._registry import Registry
    from tunewise.serve._app import models_of
    from tunewise.serve._config import load_served, pick, split_target

    interactive = sys.stdin.isatty()
    console = Console(highlight=False, soft_wrap=True)
    path, name = split_target(target)
    async with Registry() as registry:
        strategy = pick(load_served(path, registry=registry), name)
        models_of(strategy.name, strategy)  # a missing plugin or API key stops here, not at the first question
        console.print(Text(f"Chatting with {strategy.name} ({HELP}).", style="dim"))
        if interactive:
            with contextlib.suppress(ImportError):  # line editing and history for input(), where available
                import readline  # noqa: F401
        history: list[Message] = []
        while True:
            line = await _read(interactive)
            if line is None:
                break
            text = line.strip()
            if not text:
                continue
            if text in ("/exit", "/quit"):
                break
            if text == "/reset":
                history.clear()
                console.print(Text("(new conversation)", style="dim"))
                continue
            if text.startswith("/"):
                console.print(Text(f"unknown command {text.split()[0]!r}: {HELP}", style="yellow"))
                continue
            answer = await _turn(strategy, history, text, stream, options, console)
            if answer is not None:
                _footer(answer, console)


async def _read(interactive: bool) -> str | None:
    """One line from the user, or ``None`` at the end of input."""
    import anyio

    if interactive:
        try:
            return await anyio.to_thread.run_sync(input, "you> ", abandon_on_cancel=True)
        except EOFError:
            return None
    line = await anyio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
    return line if line else None


async def _turn(
    strategy: Strategy,
    history: list[Message],
    text: str,
    stream: bool,
    options: dict[str, float | int],
    console: Console,
) -> Answer | None:
    """Ask, print the answer as it arrives, and keep the turn in ``history`` (a failed turn is not kept)."""
    from tunewise._errors import TunewiseError
    from tunewise._secrets import redact
    from tunewise._types import ChatChunk
    from tunewise._types import Message as Msg
    from tunewise.strategies import stream_calls

    write: Callable[[str], None] = _writer()
    streamed: list[str] = []

    async def on_chunk(chunk: ChatChunk) -> None:
        if chunk.delta:
            if not streamed:
                write("assistant> ")
            streamed.append(chunk.delta)
            write(chunk.delta)

    conversation = [*history, Msg.user(text)]
    streams = stream and getattr(strategy, "streams_answer", False) is True
    try:
        with stream_calls(on_chunk if streams else None, options=options):
            answer = await strategy.respond(conversation)
    except (TunewiseError, ValueError) as exc:
        if streamed:
            write("\n")
        console.print(Text(f"error: {redact(str(exc))}", style="red"))
        return None
    done = "".join(streamed)
    if not streamed:
        write("assistant> " + answer.text)
    elif answer.text.startswith(done):
        write(answer.text[len(done) :])
    write("\n")
    history[:] = [*conversation, Msg.assistant(answer.text)]
    return answer


def _writer() -> Callable[[str], None]:
    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    return write


def _footer(answer: Answer, console: Console) -> None:
    lines: list[str] = []
    if answer.handoff:
        lines.append("handed off: a person should answer this one")
    if answer.hits:
        cited = answer.metadata.get("cited") or []
        lines.append("sources:")
        for n, hit in enumerate(answer.hits, 1):
            mark = " (cited)" if hit.source in cited else ""
            lines.append(f"  [{n}] {hit.source}  score {hit.score:.3f}{mark}")
    lines.append(f"{usage_line(answer)}")
    console.print(Text("\n".join(lines), style="dim"))


def usage_line(answer: Answer) -> str:
    """``tokens: 120 in, 35 out · cost: $0.000040`` for one turn, with unknowns said as such."""
    usage = answer.usage
    if usage.prompt_tokens is None or usage.completion_tokens is None:
        tokens = "tokens: unknown (the provider did not report them)"
    else:
        cached = f" ({usage.cached_prompt_tokens} cached)" if usage.cached_prompt_tokens else ""
        tokens = f"tokens: {usage.prompt_tokens} in{cached}, {usage.completion_tokens} out"
    return f"{tokens} · cost: {turn_cost(answer)}"


def turn_cost(answer: Answer) -> str:
    """Dollars for every model call of the answer, or why the cost is unknown."""
    from tunewise.costs import Cost, price

    if not answer.responses:
        return "$0 (no model call)"
    if not answer.calls:
        return "unknown (the strategy does not say which models it called)"
    return str(Cost.total(price(call.model_ref, call.response.usage) for call in answer.calls))


def register(app: typer.Typer) -> None:
    app.command("chat")(chat_command)
