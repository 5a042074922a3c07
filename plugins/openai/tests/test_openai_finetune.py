"""Fine-tuning jobs: the full life, idempotent starts, re-attaching after a kill."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
import pytest

from tunewise import (
    ConfigError,
    DataError,
    FineTuneError,
    FineTuneJob,
    FineTuner,
    FineTuneSpec,
    Model,
)
from tunewise_openai import OpenAIProvider
from tunewise_openai.fake import FakeServer

from .conftest import FAST, SECRET

pytestmark = pytest.mark.anyio

EXAMPLE = {
    "messages": [
        {"role": "system", "content": "You are a support agent."},
        {"role": "user", "content": "How do I reset my password?"},
        {"role": "assistant", "content": "Use the 'Forgot password' link on the sign-in page."},
    ]
}


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def spec(tmp_path: Path) -> FineTuneSpec:
    return FineTuneSpec(
        base_model="gpt-4o-mini",
        training_file=write_jsonl(tmp_path / "train.jsonl", [EXAMPLE] * 10),
        validation_file=write_jsonl(tmp_path / "valid.jsonl", [EXAMPLE] * 2),
        n_epochs=2,
        learning_rate_multiplier=0.5,
        suffix="support",
        seed=7,
    )


async def test_full_life_upload_create_events_succeed_use(
    provider_factory: Any, fake: FakeServer, spec: FineTuneSpec
) -> None:
    async with provider_factory() as provider:
        tuner = provider.fine_tuner()
        assert isinstance(tuner, FineTuner)
        job = await tuner.start(spec)
        assert isinstance(job, FineTuneJob) and job.status == "validating_files" and job.model is None
        assert job.data["method"]["supervised"]["hyperparameters"]["n_epochs"] == 2
        assert job.data["user_provided_suffix"] == "support" and job.data["seed"] == 7
        assert job.data["validation_file"] is not None
        assert job.metadata["tunewise_key"] == tuner.key(spec)
        events = [event async for event in job.events(poll_interval=0)]
        ref = await job.wait(poll_interval=0)
        answer = await Model(ref, provider).chat("How do I reset my password?")
    ids = [e.id for e in events]
    assert len(ids) == len(set(ids)) >= 8
    assert events[0].message.startswith("Created fine-tuning job")
    assert events[-1].message == "The job has successfully completed"
    metrics = [e for e in events if e.type == "metrics"]
    assert [e.data["step"] for e in metrics] == [1, 2, 3]
    assert job.status == "succeeded" and job.error is None
    assert str(ref).startswith("openai:ft:gpt-4o-mini:fake-org:support:")
    assert answer.text == "Fine-tuned gpt-4o-mini says: How do I reset my password?"
    assert fake.stats()["files"] == 2 and fake.stats()["jobs"] == 1


async def test_same_inputs_reattach_instead_of_paying_twice(
    provider_factory: Any, fake: FakeServer, spec: FineTuneSpec, isolated_settings: Path
) -> None:
    async with provider_factory() as provider:
        first = await provider.fine_tuner().start(spec)
    async with provider_factory() as restarted:  # a new process would see the same records
        again = await restarted.fine_tuner().start(spec)
        changed = await restarted.fine_tuner().start(spec.model_copy(update={"n_epochs": 3}))
    assert again.id == first.id and changed.id != first.id
    assert fake.stats()["jobs"] == 2
    records = list((isolated_settings / "openai" / "fine_tune_jobs").glob("*.json"))
    assert len(records) == 2 and SECRET not in "".join(r.read_text() for r in records)


async def test_lost_record_is_recovered_from_the_job_metadata(
    provider_factory: Any, fake: FakeServer, spec: FineTuneSpec, isolated_settings: Path
) -> None:
    async with provider_factory() as provider:
        first = await provider.fine_tuner().start(spec)
    for record in (isolated_settings / "openai" / "fine_tune_jobs").glob("*.json"):
        record.unlink()  # as if the process died between "job created" and "record written"
    async with provider_factory() as provider:
        again = await provider.fine_tuner().start(spec)
    assert again.id == first.id and fake.stats()["jobs"] == 1


async def test_lost_answer_to_create_does_not_start_a_second_job(
    provider_factory: Any, fake: FakeServer, spec: FineTuneSpec
) -> None:
    # the server creates the job, then the connection drops before the answer arrives
    fake.faults.configure(rate=1.0, kinds=("lost",), paths=("/v1/fine_tuning/jobs",), methods=("POST",))
    async with provider_factory() as provider:
        job = await provider.fine_tuner().start(spec)
    assert fake.faults.injected == {"lost": 1}
    assert fake.stats()["jobs"] == 1 and job.id in fake.fake.state.jobs


@pytest.mark.slow
def test_killed_process_reattaches_without_a_second_job(
    fake: FakeServer, spec: FineTuneSpec, isolated_settings: Path
) -> None:
    script = textwrap.dedent(
        f"""
        import anyio, sys
        from pathlib import Path
        from tunewise import FineTuneSpec
        from tunewise_openai import OpenAIProvider

        async def main():
            provider = OpenAIProvider(base_url={fake.base_url!r}, api_key={SECRET!r}, options={FAST!r},
                                      home=Path({str(isolated_settings)!r}))
            spec = FineTuneSpec.model_validate_json({spec.model_dump_json()!r})
            job = await provider.fine_tuner().start(spec)
            print(job.id, flush=True)
            await anyio.sleep(120)  # "training": killed here

        anyio.run(main)
        """
    )
    env = {**os.environ, "TUNEWISE_HOME": str(isolated_settings)}
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None
        started_id = child.stdout.readline().strip()
    finally:
        child.kill()
        child.wait(timeout=10)
    assert started_id.startswith("ftjob-")

    async def restart() -> tuple[str, str, str]:
        async with OpenAIProvider(base_url=fake.base_url, api_key=SECRET, options=FAST, home=isolated_settings) as p:
            job = await p.fine_tuner().start(spec)
            attached = await p.fine_tuner().attach(started_id)
            ref = await job.wait(poll_interval=0)
            return job.id, attached.id, ref.name

    job_id, attached_id, model_name = anyio.run(restart)
    assert job_id == attached_id == started_id
    assert model_name.startswith("ft:gpt-4o-mini:")
    assert fake.stats()["jobs"] == 1


async def test_failed_job_raises_and_a_restart_creates_a_new_one(
    provider_factory: Any, fake: FakeServer, tmp_path: Path
) -> None:
    no_answers = {"messages": [{"role": "user", "content": "hello?"}]}
    bad = FineTuneSpec(base_model="gpt-4o-mini", training_file=write_jsonl(tmp_path / "bad.jsonl", [no_answers]))
    async with provider_factory() as provider:
        job = await provider.fine_tuner().start(bad)
        with pytest.raises(FineTuneError, match="ended failed: line 1 has no assistant message"):
            await job.wait(poll_interval=0)
        retry = await provider.fine_tuner().start(bad)
    assert retry.id != job.id and fake.stats()["jobs"] == 2


async def test_cancel(provider_factory: Any, spec: FineTuneSpec) -> None:
    async with provider_factory() as provider:
        job = await provider.fine_tuner().start(spec)
        await job.cancel()
        assert job.status == "cancelled"
        with pytest.raises(FineTuneError, match="cancelled"):
            await job.wait(poll_interval=0)
        await job.cancel()  # cancelling a finished job is a no-op


async def test_bad_training_data_is_a_one_line_data_error_before_any_upload(
    provider_factory: Any, fake: FakeServer, tmp_path: Path
) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(EXAMPLE) + "\n" + '{"messages": [{"content": "no role"}]}\n', encoding="utf-8")
    async with provider_factory() as provider:
        with pytest.raises(DataError) as broken:
            await provider.fine_tuner().start(FineTuneSpec(base_model="gpt-4o-mini", training_file=path))
        with pytest.raises(ConfigError, match="learning_rate_multiplier"):
            await provider.fine_tuner().start(
                FineTuneSpec(base_model="gpt-4o-mini", training_file=path, learning_rate=1e-4)
            )
    assert str(broken.value) == f"{path}:2: messages[0]: each message needs a 'role'"
    assert fake.stats()["files"] == 0


async def test_wait_timeout_says_the_job_keeps_running(provider_factory: Any, spec: FineTuneSpec) -> None:
    async with provider_factory() as provider:
        job = await provider.fine_tuner().start(spec)
        with pytest.raises(FineTuneError, match=r"still .* re-attach later"):
            await job.wait(poll_interval=0.05, timeout=0.01)


async def test_events_page_through_without_duplicates(provider_factory: Any, spec: FineTuneSpec) -> None:
    async with provider_factory() as provider:
        job = await provider.fine_tuner().start(spec)
        job.events_page_size = 2  # force several pages per poll
        events = [e async for e in job.events(poll_interval=0)]
    messages = [e.message for e in events]
    assert len(messages) == len(set(e.id for e in events)) >= 9
    assert messages[0].startswith("Created") and messages[-1] == "The job has successfully completed"
    assert [e.created_at for e in events] == sorted(e.created_at for e in events)


async def test_wait_keeps_polling_through_transient_errors(
    provider_factory: Any, fake: FakeServer, spec: FineTuneSpec
) -> None:
    async with provider_factory(max_retries=0) as provider:
        job = await provider.fine_tuner().start(spec)
        fake.faults.configure(rate=0.5, seed=1, kinds=("unavailable",), paths=(f"/v1/fine_tuning/jobs/{job.id}",))
        ref = await job.wait(poll_interval=0)
    assert ref.name.startswith("ft:") and fake.faults.injected["unavailable"] >= 2
