"""Fine-tuning on this machine: LoRA that learns, kill and resume, cancel, full fine-tune, merge, bad data."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import anyio
import pytest

import tunewise
from tunewise import ChatRequest, ConfigError, DataError, FineTuneError, FineTuneEvent, FineTuneSpec, Message
from tunewise_local._provider import LocalProvider

pytestmark = pytest.mark.anyio


async def greedy(provider: LocalProvider, model: str, question: str) -> str:
    request = ChatRequest(model=model, messages=(Message.user(question),), temperature=0, max_tokens=24)
    return (await provider.chat(request)).text


async def collect(job: object) -> list[FineTuneEvent]:
    return [event async for event in job.events()]  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def trained(
    tiny_model: Path,
    chat_data: tuple[Path, Path],
    qa_pairs: tuple[tuple[str, str], ...],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, object]:
    """One LoRA job, trained in a worker process: its events, result and what the base model said."""
    home = tmp_path_factory.mktemp("lora-home")
    train, val = chat_data

    async def main() -> dict[str, object]:
        provider = LocalProvider(home=home)
        try:
            spec = FineTuneSpec(
                base_model=str(tiny_model),
                training_file=train,
                validation_file=val,
                n_epochs=40,
                batch_size=4,
                learning_rate=1e-2,
                seed=0,
                options={"lora_r": 16, "lora_alpha": 64, "lora_dropout": 0.0, "eval_every": 20, "num_threads": 1},
            )
            job = await provider.fine_tuner().start(spec)
            events = await collect(job)
            ref = await job.wait(poll_interval=0.05, timeout=300)
            before = [await greedy(provider, str(tiny_model), q) for q, _ in qa_pairs]
            after = [await greedy(provider, ref.model, q) for q, _ in qa_pairs]
            return {"job": job, "events": events, "ref": ref, "before": before, "after": after, "home": home}
        finally:
            await provider.aclose()

    return anyio.run(main)


@pytest.mark.slow
def test_lora_lowers_validation_loss(trained: dict[str, object]) -> None:
    events: list[FineTuneEvent] = trained["events"]  # type: ignore[assignment]
    val = [e.data["val_loss"] for e in events if e.type == "metrics"]
    steps = [e for e in events if e.type == "step"]
    assert len(val) >= 3 and val[0] == events[[e.type for e in events].index("metrics")].data["val_loss"]
    assert val[-1] < 0.8 * val[0], val
    assert [e.data["step"] for e in steps] == list(range(1, 41))
    assert all(e.data["tokens_per_s"] > 0 and e.data["loss"] > 0 for e in steps)
    assert steps[-1].data["loss"] < steps[0].data["loss"]
    ids = [e.id for e in events]
    assert len(ids) == len(set(ids)) and events[-1].type == "succeeded"


@pytest.mark.slow
def test_greedy_decoding_reproduces_training_answers(
    trained: dict[str, object], qa_pairs: tuple[tuple[str, str], ...]
) -> None:
    answers = [a for _, a in qa_pairs]
    before: list[str] = trained["before"]  # type: ignore[assignment]
    after: list[str] = trained["after"]  # type: ignore[assignment]
    assert not any(b == a for b, a in zip(before, answers, strict=True)), before
    learned = [a for a, got in zip(answers, after, strict=True) if got == a]
    assert len(learned) >= 3, after


@pytest.mark.slow
def test_adapter_is_written_with_its_metadata(trained: dict[str, object], tiny_model: Path) -> None:
    ref: tunewise.ModelRef = trained["ref"]  # type: ignore[assignment]
    assert ref.prefix == "local" and ref.name == str(tiny_model.resolve()) and ref.adapter
    adapter = Path(ref.adapter)
    names = {p.name for p in adapter.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "tunewise_finetune.json"} <= names
    metadata = json.loads((adapter / "tunewise_finetune.json").read_text())
    assert metadata["base_model"] == str(tiny_model.resolve())
    assert metadata["hyperparameters"]["lora_r"] == 16 and metadata["method"] == "lora"
    assert len(metadata["dataset_sha256"]) == 64
    assert metadata["metrics"]["val_loss"] < metadata["metrics"]["initial_val_loss"]


@pytest.mark.slow
async def test_adapter_round_trips_through_the_model_ref(
    trained: dict[str, object], qa_pairs: tuple[tuple[str, str], ...]
) -> None:
    ref: tunewise.ModelRef = trained["ref"]  # type: ignore[assignment]
    async with tunewise.Registry() as registry:
        model = registry.model(str(ref))  # the string a user would paste
        answer = await model.chat(qa_pairs[0][0], temperature=0, max_tokens=24)
    after: list[str] = trained["after"]  # type: ignore[assignment]
    assert answer.text == after[0]


@pytest.mark.slow
async def test_attach_by_id_from_a_new_provider(trained: dict[str, object]) -> None:
    job = trained["job"]
    provider = LocalProvider(home=trained["home"])
    again = await provider.fine_tuner().attach(job.id)  # type: ignore[attr-defined]
    assert again.status == "succeeded" and again.model == trained["ref"]
    assert [e.id async for e in again.events()] == [e.id for e in trained["events"]]  # type: ignore[attr-defined]
    assert provider.fine_tuner().list_jobs() == [job.id]  # type: ignore[attr-defined]
    with pytest.raises(tunewise.NotFoundError):
        await provider.fine_tuner().attach("ftjob-missing")
    await provider.aclose()


@pytest.mark.slow
async def test_killed_worker_resumes_from_its_last_checkpoint(
    tiny_model: Path, chat_data: tuple[Path, Path], tmp_path: Path
) -> None:
    spec = FineTuneSpec(
        base_model=str(tiny_model),
        training_file=chat_data[0],
        n_epochs=6,
        batch_size=1,
        options={"checkpoint_every": 4, "validation_split": 0.0, "num_threads": 1},
    )
    provider = LocalProvider(home=tmp_path)
    job = await provider.fine_tuner().start(spec)
    seen: list[FineTuneEvent] = []
    async for event in job.events():
        seen.append(event)
        if event.type == "checkpoint" and event.data["step"] >= 8:
            break
    assert job.pid is not None
    os.kill(job.pid, signal.SIGKILL)
    first_pid = job.pid

    # Re-attach by id, as a new process would after a crash: the dead worker is noticed and restarted.
    resumed = await LocalProvider(home=tmp_path).fine_tuner().attach(job.id)
    ref = await resumed.wait(poll_interval=0.05, timeout=300)
    events = [e async for e in resumed.events()]
    types = [e.type for e in events]
    assert "restarting" in types and "resumed" in types
    resumed_at = events[types.index("resumed")].data["step"]
    assert resumed_at >= 8 and resumed_at % 4 == 0
    after = [e.data["step"] for e in events[types.index("resumed") :] if e.type == "step"]
    assert after == list(range(resumed_at + 1, 25))
    assert resumed.pid != first_pid and resumed.metrics["steps"] == 24
    assert not (resumed.directory / "checkpoints").exists()
    answer = await provider.chat(ChatRequest(model=ref.model, messages=(Message.user("Hi"),), max_tokens=4))
    assert answer.finish_reason in ("stop", "length")
    await provider.aclose()


@pytest.mark.slow
async def test_cancel_stops_the_worker(tiny_model: Path, chat_data: tuple[Path, Path], tmp_path: Path) -> None:
    spec = FineTuneSpec(
        base_model=str(tiny_model),
        training_file=chat_data[0],
        n_epochs=50,
        batch_size=1,
        suffix="cancel me",
        options={"num_threads": 1},
    )
    provider = LocalProvider(home=tmp_path)
    job = await provider.fine_tuner().start(spec)
    assert job.id.startswith("ftjob-") and job.id.endswith("-cancel-me")
    async for event in job.events():
        if event.type == "step":
            break
    await job.cancel()
    assert job.status == "cancelled" and job.error == "cancelled by user" and job.model is None
    with pytest.raises(FineTuneError, match="cancelled"):
        await job.wait(poll_interval=0.01)
    assert not (job.directory / "adapter").exists()
    steps = [e.data["step"] for e in await collect(job) if e.type == "step"]
    assert max(steps) < 200
    await provider.aclose()


@pytest.mark.slow
async def test_full_fine_tune_then_merge(
    tiny_model: Path, chat_data: tuple[Path, Path], tmp_path: Path, trained: dict[str, object]
) -> None:
    from tunewise_local import merge_adapter

    provider = LocalProvider(home=tmp_path)
    spec = FineTuneSpec(
        base_model=str(tiny_model),
        training_file=chat_data[0],
        method="full",
        n_epochs=2,
        batch_size=2,
        options={"worker": "thread", "validation_split": 0.0},
    )
    job = await provider.fine_tuner().start(spec)
    ref = await job.wait(poll_interval=0.05, timeout=300)
    assert ref.adapter is None and (Path(ref.name) / "model.safetensors").is_file()
    assert json.loads((Path(ref.name) / "tunewise_finetune.json").read_text())["method"] == "full"
    hello = ChatRequest(model=ref.model, messages=(Message.user("Hi"),), max_tokens=4, temperature=0)
    assert (await provider.chat(hello)).text  # greedy: sampled, the first token was now and then the end of turn

    lora: tunewise.ModelRef = trained["ref"]  # type: ignore[assignment]
    merged = merge_adapter(lora.name, lora.adapter or "", tmp_path / "merged")
    question = "What is the refund window?"
    assert await greedy(provider, str(merged), question) == await greedy(provider, lora.model, question)
    await provider.aclose()


async def test_bad_data_and_options_fail_before_any_work(tiny_model: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    good_line = json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})
    bad.write_text(good_line + "\n" + json.dumps({"messages": [{"role": "bot", "content": "x"}]}) + "\n")
    tuner = LocalProvider(home=tmp_path).fine_tuner()
    with pytest.raises(DataError) as error:
        await tuner.start(FineTuneSpec(base_model=str(tiny_model), training_file=bad))
    assert str(error.value).startswith(f"{bad}:2: messages[0].role:") and "\n" not in str(error.value)

    no_answer = tmp_path / "no-answer.jsonl"
    no_answer.write_text(json.dumps({"messages": [{"role": "user", "content": "a"}]}) + "\n")
    with pytest.raises(DataError, match=r"no-answer\.jsonl:1: messages: no assistant message"):
        await tuner.start(FineTuneSpec(base_model=str(tiny_model), training_file=no_answer))
    with pytest.raises(ConfigError, match=r"lora_rank.*known options"):
        await tuner.start(FineTuneSpec(base_model=str(tiny_model), training_file=bad, options={"lora_rank": 4}))
    good = tmp_path / "good.jsonl"
    good.write_text(good_line + "\n")
    with pytest.raises(ConfigError, match="has an adapter"):
        await tuner.start(FineTuneSpec(base_model=f"{tiny_model}+{tmp_path}", training_file=good))
    tied = FineTuneSpec(
        base_model=str(tiny_model), training_file=good, options={"target_modules": ["q_proj", "lm_head"]}
    )
    with pytest.raises(ConfigError, match=r"options.target_modules: .* ties lm_head to its input embeddings") as tie:
        await tuner.start(tied)
    assert "\n" not in str(tie.value)
    assert tuner.list_jobs() == []


async def test_starting_the_same_inputs_again_returns_the_same_job(
    tiny_model: Path, chat_data: tuple[Path, Path], tmp_path: Path
) -> None:
    tuner = LocalProvider(home=tmp_path).fine_tuner()
    spec = FineTuneSpec(
        base_model=str(tiny_model), training_file=chat_data[0], n_epochs=1, batch_size=2, options={"worker": "thread"}
    )
    first = await tuner.start(spec)
    again = await tuner.start(spec)  # e.g. a script run twice: no second training run
    assert again.id == first.id and tuner.list_jobs() == [first.id]
    longer = spec.model_copy(update={"seed": 7, "n_epochs": 50})
    other = await tuner.start(longer)  # different inputs: a new job
    assert other.id != first.id
    await other.cancel()
    assert other.status == "cancelled", (other.directory / "state.json").read_text()
    await first.wait(poll_interval=0.05, timeout=300)
    assert (await tuner.start(spec)).id == first.id  # a finished job is returned too
    fresh = await tuner.start(longer)  # a cancelled one is started afresh
    assert fresh.id not in (first.id, other.id)
    await fresh.cancel()


def test_assistant_only_labels_respect_weight_zero(tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    from tunewise_local._chatdata import IGNORE, tokenize_conversation

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Old answer.", "weight": 0},
        {"role": "user", "content": "Again"},
        {"role": "assistant", "content": "New answer."},
    ]
    example = tokenize_conversation(tokenizer, messages, max_length=512)
    labelled = tokenizer.decode([t for t, lab in zip(example.input_ids, example.labels, strict=True) if lab != IGNORE])
    assert labelled == "New answer.<|end|>\n"
    assert (
        example.input_ids
        == tokenizer(
            tokenizer.apply_chat_template(
                [{k: v for k, v in m.items() if k != "weight"} for m in messages], tokenize=False
            ),
            add_special_tokens=False,
        )["input_ids"]
    )


async def test_gradient_checkpointing_and_accumulation_train(
    tiny_model: Path, chat_data: tuple[Path, Path], tmp_path: Path
) -> None:
    provider = LocalProvider(home=tmp_path)
    spec = FineTuneSpec(
        base_model=str(tiny_model),
        training_file=chat_data[0],
        validation_file=chat_data[1],
        n_epochs=2,
        batch_size=1,
        options={"worker": "thread", "gradient_checkpointing": True, "gradient_accumulation_steps": 2},
    )
    job = await provider.fine_tuner().start(spec)
    await job.wait(poll_interval=0.02, timeout=120)
    steps = [e.data for e in await collect(job) if e.type == "step"]
    assert [s["step"] for s in steps] == [1, 2, 3, 4]  # 4 examples / (1 x 2 accumulated) x 2 epochs
    assert job.metrics["val_loss"] is not None
    await provider.aclose()


async def test_lora_on_the_top_layers_only(tiny_model: Path, chat_data: tuple[Path, Path], tmp_path: Path) -> None:
    from safetensors import safe_open

    provider = LocalProvider(home=tmp_path)
    spec = FineTuneSpec(
        base_model=str(tiny_model),
        training_file=chat_data[0],
        n_epochs=1,
        batch_size=2,
        options={"worker": "thread", "lora_layers": 1, "validation_split": 0.0},
    )
    job = await provider.fine_tuner().start(spec)
    model = await job.wait(poll_interval=0.02, timeout=120)
    adapter = Path(str(model.model).split("+", 1)[1])
    with safe_open(adapter / "adapter_model.safetensors", "pt") as weights:
        layers = {int(k.split(".layers.")[1].split(".")[0]) for k in weights.keys()}  # noqa: SIM118
    config = json.loads((tiny_model / "config.json").read_text())
    assert layers == {config["num_hidden_layers"] - 1}  # only the last block is adapted, all its linear layers
    assert job.metrics["compute_s"] > 0
    answer = await greedy(provider, str(model.model), "What is the refund window?")
    assert answer
    await provider.aclose()


async def test_a_thread_worker_stops_cleanly_when_its_process_exits_and_resumes_later(
    tiny_model: Path, chat_data: tuple[Path, Path], tmp_path: Path
) -> None:
    script = f"""
import anyio
from tunewise import FineTuneSpec
from tunewise_local import LocalProvider

async def main():
    tuner = LocalProvider(home={str(tmp_path)!r}).fine_tuner()
    spec = FineTuneSpec(base_model={str(tiny_model)!r}, training_file={str(chat_data[0])!r}, n_epochs=50,
                        batch_size=2, options={{"worker": "thread", "checkpoint_every": 2, "num_threads": 1}})
    job = await tuner.start(spec)
    async for event in job.events():
        if event.type == "checkpoint":
            print(job.id, flush=True)
            return  # the script ends while its thread worker trains

anyio.run(main)
"""
    import sys

    import anyio

    done = await anyio.run_process([sys.executable, "-c", script], check=False)
    stdout, stderr = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, stderr
    assert "terminate called" not in stderr
    job_id = stdout.split()[-1]
    tuner = LocalProvider(home=tmp_path).fine_tuner()
    job = await tuner.attach(job_id)  # the worker is gone: a new one resumes from the checkpoint
    events = [e.type async for e in job.events()]
    assert "interrupted" in events and "resumed" in events
    ref = await job.wait(poll_interval=0.05, timeout=300)
    assert job.status == "succeeded" and ref.adapter is not None
