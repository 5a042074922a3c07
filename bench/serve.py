"""``tunewise serve`` overhead: requests per second against a bare starlette endpoint on the same stack.

Two servers run side by side as subprocesses on 127.0.0.1, each uvicorn + starlette:

- ``bare``: reads and parses the JSON body and returns a fixed ``chat.completion`` (or, for
  streaming, four fixed chunks and ``[DONE]``): the floor of the ASGI stack itself;
- ``tunewise``: ``create_app`` serving a zero-shot strategy over an in-memory echo provider
  (request checks, the strategy, the provider, usage, the ``tunewise`` field, real streaming).

One httpx client sends the same requests to both, round by round interleaved, so machine
noise hits both alike; the figure is the ratio of their medians.

    .venv/bin/python bench/serve.py [--requests 400] [--concurrency 8] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import anyio
import httpx

BODY = {"model": "echo", "messages": [{"role": "user", "content": "one two three four"}]}


def bare_app() -> object:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    completion = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "echo",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "one two three four"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14},
    }

    async def chunks() -> object:
        for word in ["one", " two", " three", " four"]:
            chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [{"delta": {"content": word}}]}
            yield f"data: {json.dumps(chunk)}\n\n"
        yield "data: [DONE]\n\n"

    async def completions(request: Request) -> Response:
        body = json.loads(await request.body())
        if body.get("stream"):
            return StreamingResponse(chunks(), media_type="text/event-stream")  # type: ignore[arg-type]
        return JSONResponse(completion)

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


def tunewise_app() -> object:
    from tunewise import Model, ModelRef
    from tunewise.serve import create_app
    from tunewise.strategies import ZeroShot
    from tunewise.testing import ScriptedProvider

    return create_app({"echo": ZeroShot(Model(ModelRef.parse("scripted:echo"), ScriptedProvider()), name="echo")})


def child(kind: str) -> None:
    import uvicorn

    app = bare_app() if kind == "bare" else tunewise_app()
    uvicorn.run(app, host="127.0.0.1", port=0, log_level="info", access_log=False)  # type: ignore[arg-type]


def start(kind: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", kind], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "Uvicorn running on " in line:
            return process, line.split("Uvicorn running on ")[1].split()[0]
    raise RuntimeError(f"the {kind} server did not start")


async def rate(url: str, requests: int, concurrency: int, stream: bool) -> float:
    body = {**BODY, "stream": stream}
    limiter = anyio.CapacityLimiter(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def one() -> None:
            async with limiter:
                response = await client.post("/v1/chat/completions", json=body)
                assert response.status_code == 200 and "four" in response.text

        started = time.perf_counter()
        async with anyio.create_task_group() as tasks:
            for _ in range(requests):
                tasks.start_soon(one)
        return requests / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", choices=["bare", "tunewise"])
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    servers = {kind: start(kind) for kind in ("bare", "tunewise")}
    try:
        results: dict[tuple[str, bool], list[float]] = {}
        for _ in range(args.rounds):
            for stream in (False, True):
                for kind, (_, url) in servers.items():
                    r = anyio.run(rate, url, args.requests, args.concurrency, stream)
                    results.setdefault((kind, stream), []).append(r)
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait()
    print(f"{args.requests} requests x {args.rounds} rounds, concurrency {args.concurrency}, medians (requests/s)")
    for stream in (False, True):
        bare = statistics.median(results[("bare", stream)])
        ours = statistics.median(results[("tunewise", stream)])
        mode = "streaming    " if stream else "non-streaming"
        print(f"{mode}  bare starlette {bare:8.1f}   tunewise serve {ours:8.1f}   ratio {ours / bare:.2f}")


if __name__ == "__main__":
    main()
