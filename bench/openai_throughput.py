"""tunewise's OpenAI provider vs the official ``AsyncOpenAI`` client, side by side in one run.

Both talk to the same fake OpenAI server over loopback, run in its own process (uvloop
+ httptools) so it never shares the clients' event loop. Rounds alternate which client
goes first so machine noise hits both alike.

- throughput: ``--calls`` chat completions at ``--concurrency`` in flight, per round;
  the table gives the median calls/s of each and the ratio of medians; "tunewise, 1
  pool" is tunewise with ``pool_shards=1``, to show what the sharded pools contribute;
- time to first chunk: ``--streams`` streamed answers, one at a time, alternating
  clients stream by stream; median milliseconds from the call to the first text.

    .venv/bin/python bench/openai_throughput.py [--rounds 5 --calls 2000 --concurrency 64 --streams 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import anyio
from openai import AsyncOpenAI

from tunewise import ChatRequest, Message
from tunewise_openai import OpenAIProvider

MODEL = "gpt-4o-mini"
KEY = "sk-bench-not-a-real-key"


async def throughput(call: Callable[[int], Awaitable[str]], calls: int, concurrency: int) -> float:
    """Calls per second for ``calls`` calls with at most ``concurrency`` in flight."""
    limiter = anyio.Semaphore(concurrency)
    answers: list[str] = []

    async def one(i: int) -> None:
        async with limiter:
            answers.append(await call(i))

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for i in range(calls):
            tg.start_soon(one, i)
    elapsed = time.perf_counter() - started
    assert len(answers) == calls and all(a.startswith("You said: ") for a in answers)
    return calls / elapsed


async def main(base_url: str, args: argparse.Namespace) -> None:
    provider = OpenAIProvider(base_url=base_url, api_key=KEY, options={"max_retries": 2})
    one_pool = OpenAIProvider(base_url=base_url, api_key=KEY, options={"max_retries": 2, "pool_shards": 1})
    official = AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=2)

    async def tunewise_chat(i: int) -> str:
        request = ChatRequest(model=MODEL, messages=(Message.user(f"question {i}"),))
        return (await provider.chat(request)).text

    async def one_pool_chat(i: int) -> str:
        request = ChatRequest(model=MODEL, messages=(Message.user(f"question {i}"),))
        return (await one_pool.chat(request)).text

    async def openai_chat(i: int) -> str:
        completion = await official.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": f"question {i}"}]
        )
        return completion.choices[0].message.content or ""

    async def tunewise_first_chunk(i: int) -> float:
        request = ChatRequest(model=MODEL, messages=(Message.user(f"stream {i} please"),))
        started = time.perf_counter()
        first = None
        async for chunk in provider.stream(request):
            if first is None and chunk.delta:
                first = time.perf_counter() - started
        assert first is not None
        return first

    async def openai_first_chunk(i: int) -> float:
        started = time.perf_counter()
        first = None
        stream = await official.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": f"stream {i} please"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        async for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter() - started
        assert first is not None
        return first

    clients = {"tunewise": tunewise_chat, "tunewise, 1 pool": one_pool_chat, "AsyncOpenAI": openai_chat}
    # warm-up: connections, imports, caches
    for call in clients.values():
        await throughput(call, min(200, args.calls), args.concurrency)
    rates: dict[str, list[float]] = {name: [] for name in clients}
    for round_number in range(args.rounds):
        names = list(clients)
        shift = round_number % len(names)
        order = names[shift:] + names[:shift]  # each client goes first in turn
        for name in order:
            rates[name].append(await throughput(clients[name], args.calls, args.concurrency))
        print(
            f"round {round_number + 1}: " + ", ".join(f"{n} {rates[n][-1]:.0f}/s" for n in clients),
            file=sys.stderr,
        )

    firsts: dict[str, list[float]] = {"tunewise": [], "AsyncOpenAI": []}
    for i in range(args.streams):
        pair = [("tunewise", tunewise_first_chunk), ("AsyncOpenAI", openai_first_chunk)]
        for name, measure in pair if i % 2 == 0 else reversed(pair):
            firsts[name].append(await measure(i))

    await provider.aclose()
    await one_pool.aclose()
    await official.close()

    ours, theirs = statistics.median(rates["tunewise"]), statistics.median(rates["AsyncOpenAI"])
    single = statistics.median(rates["tunewise, 1 pool"])
    per_round = [a / b for a, b in zip(rates["tunewise"], rates["AsyncOpenAI"], strict=True)]
    ttft_ours = statistics.median(firsts["tunewise"]) * 1000
    ttft_theirs = statistics.median(firsts["AsyncOpenAI"]) * 1000
    print(f"\n{args.calls} chat calls at concurrency {args.concurrency}, {args.rounds} rounds (median calls/s)")
    print(f"  tunewise          {ours:8.0f}/s")
    print(f"  tunewise, 1 pool  {single:8.0f}/s  (pool_shards=1: what the sharded pools add)")
    print(f"  AsyncOpenAI       {theirs:8.0f}/s")
    print(f"  ratio             {ours / theirs:8.2f}x  (per round: {', '.join(f'{r:.2f}' for r in per_round)})")
    print(f"  ratio, 1 pool     {single / theirs:8.2f}x")
    print(f"\ntime to first chunk, {args.streams} streams each, sequential (median ms)")
    print(f"  tunewise          {ttft_ours:8.2f} ms")
    print(f"  AsyncOpenAI       {ttft_theirs:8.2f} ms")
    print(f"  overhead          {ttft_ours - ttft_theirs:+8.2f} ms  ({ttft_ours / ttft_theirs:.2f}x)")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--streams", type=int, default=200)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-m", "tunewise_openai.fake", "--fast"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        base_url = json.loads(server.stdout.readline())["base_url"]
        anyio.run(main, base_url, args)
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    cli()
