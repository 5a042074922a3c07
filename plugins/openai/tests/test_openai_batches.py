"""The Batch API round trip: JSONL out, results mapped back to requests in order."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tunewise import BadRequestError, ChatRequest, Message, NotFoundError
from tunewise_openai._batches import build_jsonl, custom_ids
from tunewise_openai.fake import FakeServer

pytestmark = pytest.mark.anyio


def ask(text: str, model: str = "gpt-4o-mini") -> ChatRequest:
    return ChatRequest(model=model, messages=(Message.user(text),), max_tokens=20)


async def test_batch_round_trip_maps_results_back_in_order(provider_factory: Any, fake: FakeServer) -> None:
    requests = [ask(f"batch item {i}") for i in range(25)]
    requests[7] = ask("this one goes nowhere", model="gpt-0-missing")
    requests[12] = requests[11]  # identical requests still get their own results
    async with provider_factory() as provider:
        results = await provider.batches.run(requests, poll_interval=0, metadata={"run": "test"})
    assert len(results) == 25
    for i, result in enumerate(results):
        assert result.request is requests[i]
        if i == 7:
            assert not result.ok and isinstance(result.error, NotFoundError)
            assert "gpt-0-missing" in str(result.error)
        else:
            assert result.ok and result.response is not None
            expected = 11 if i == 12 else i
            assert result.response.text == f"You said: batch item {expected}"
            assert result.response.usage.prompt_tokens is not None
    assert len({r.custom_id for r in results}) == 25
    stats = fake.stats()
    assert stats["batches"] == 1 and stats["completions_served"] == 24


async def test_steps_can_resume_from_a_batch_id(provider_factory: Any) -> None:
    requests = [ask("first"), ask("second")]
    async with provider_factory() as provider:
        batch = await provider.batches.submit(requests)
    async with provider_factory() as later:  # e.g. another process, holding the batch id
        done = await later.batches.wait(batch["id"], poll_interval=0)
        results = await later.batches.results(done, requests)
        with pytest.raises(BadRequestError, match="custom_ids these requests do not have"):
            await later.batches.results(done, [ask("something else"), ask("entirely")])
    assert [r.response.text for r in results if r.response] == ["You said: first", "You said: second"]


def test_jsonl_lines_carry_custom_id_url_and_body() -> None:
    requests = [ask("a"), ask("b")]
    lines = [
        json.loads(line)
        for line in build_jsonl(
            requests, custom_ids(requests), provider="openai", max_tokens_param="max_completion_tokens"
        ).splitlines()
    ]
    assert [line["custom_id"][:10] for line in lines] == ["req-000000", "req-000001"]
    assert all(line["method"] == "POST" and line["url"] == "/v1/chat/completions" for line in lines)
    assert lines[0]["body"]["messages"] == [{"role": "user", "content": "a"}]
    assert lines[0]["body"]["max_completion_tokens"] == 20


async def test_empty_batch_is_refused(provider_factory: Any) -> None:
    async with provider_factory() as provider:
        with pytest.raises(BadRequestError, match="at least one request"):
            await provider.batches.submit([])


async def test_running_the_same_requests_again_reattaches(
    provider_factory: Any, fake: FakeServer, isolated_settings: Any
) -> None:
    requests = [ask(f"resumable {i}") for i in range(5)]
    async with provider_factory() as provider:
        submitted = await provider.batches.submit(requests)  # then the process dies
    async with provider_factory() as restarted:
        results = await restarted.batches.run(requests, poll_interval=0)
        again = await restarted.batches.run(requests, poll_interval=0)  # done already: same batch, no new cost
        fresh = await restarted.batches.run(requests, poll_interval=0, resume=False)
    assert [r.response.text for r in results if r.response] == [f"You said: resumable {i}" for i in range(5)]
    assert [r.response.text for r in again if r.response] == [r.response.text for r in results if r.response]
    assert len(fresh) == 5
    assert fake.stats()["batches"] == 2 and submitted["metadata"]["tunewise_key"]
    assert len(list((isolated_settings / "openai" / "batches").glob("*.json"))) == 1


async def test_lost_answer_to_create_does_not_start_a_second_batch(provider_factory: Any, fake: FakeServer) -> None:
    fake.faults.configure(rate=1.0, kinds=("lost",), paths=("/v1/batches",), methods=("POST",))
    async with provider_factory() as provider:
        batch = await provider.batches.submit([ask("only once")])
    assert fake.faults.injected == {"lost": 1}
    assert fake.stats()["batches"] == 1 and batch["id"] in fake.fake.state.batches


async def test_wait_keeps_polling_through_transient_errors(provider_factory: Any, fake: FakeServer) -> None:
    async with provider_factory(max_retries=0) as provider:
        batch = await provider.batches.submit([ask("patience")])
        fake.faults.configure(rate=0.5, seed=1, kinds=("server_error",), paths=(f"/v1/batches/{batch['id']}",))
        done = await provider.batches.wait(batch["id"], poll_interval=0)
    assert done["status"] == "completed" and fake.faults.injected["server_error"] >= 1


async def test_a_damaged_result_line_costs_only_its_own_request(provider_factory: Any) -> None:
    """A server's output file with a line cut short, a line that is not an object and a body of the wrong
    shape: every other request keeps its answer, the damaged ones get one-line errors (and can be resent)."""
    requests = [ask(f"item {i}") for i in range(5)]
    async with provider_factory() as provider:
        done = await provider.batches.wait((await provider.batches.submit(requests))["id"], poll_interval=0)
        lines = (await provider.files.content(done["output_file_id"])).splitlines()
        ids = custom_ids(requests)
        damaged = [
            lines[0][: len(lines[0]) // 2],  # cut short: not JSON
            lines[1],
            b"[1, 2, 3]",  # JSON, not an object
            lines[3],
            json.dumps({"custom_id": ids[4], "response": {"status_code": 200, "body": ["not", "a", "completion"]}}),
        ]
        damaged = [line if isinstance(line, bytes) else line.encode() for line in damaged]
        uploaded = await provider.files.upload(b"\n".join(damaged) + b"\n", purpose="batch")
        results = await provider.batches.results({**done, "output_file_id": uploaded.id}, requests)
    assert [r.ok for r in results] == [False, True, False, True, False]
    assert [r.response.text for r in results if r.response] == ["You said: item 1", "You said: item 3"]
    for failed in (results[0], results[2]):
        assert "no result" in str(failed.error) and "2 result lines could not be read" in str(failed.error)
    assert results[4].error is not None and "\n" not in str(results[4].error)
