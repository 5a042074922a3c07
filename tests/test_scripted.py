import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from tunewise import (
    CapabilityError,
    ChatRequest,
    FineTuneError,
    FineTuneSpec,
    Message,
    Model,
    ModelRef,
    NotFoundError,
    StructuredOutputError,
)
from tunewise.testing import ProviderConformance, ScriptedProvider


class TestScriptedConformance(ProviderConformance):
    model = "echo"
    missing_model = "no-such-model"

    def make_provider(self) -> ScriptedProvider:
        return ScriptedProvider(known_models=["echo"])

    def fine_tune_spec(self, workdir: Path) -> FineTuneSpec:
        data = workdir / "train.jsonl"
        data.write_text(
            json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})
        )
        return FineTuneSpec(base_model="echo", training_file=data, suffix="support")


class TestChatOnlyConformance(ProviderConformance):
    """A provider that declares no optional capability must refuse them clearly."""

    model = "echo"

    def make_provider(self) -> ScriptedProvider:
        return ScriptedProvider(capabilities=("chat", "stream"))


class Ticket(BaseModel):
    category: str
    urgent: bool


@pytest.mark.anyio
async def test_structured_output_round_trip() -> None:
    provider = ScriptedProvider(['{"category": "billing", "urgent": true}'])
    model = Model(ModelRef.parse("scripted:any"), provider)
    ticket = await model.parse("I was charged twice!", Ticket)
    assert ticket == Ticket(category="billing", urgent=True)
    sent = provider.requests[0].response_format
    assert sent is not None and sent.type == "json_schema"
    schema = sent.to_openai()["json_schema"]["schema"]
    assert schema["additionalProperties"] is False and schema["required"] == ["category", "urgent"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reply", "says"),
    [("not json", "not valid JSON for Ticket"), ('{"category": "x"}', "does not match Ticket: urgent")],
)
async def test_structured_output_errors_are_clear(reply: str, says: str) -> None:
    model = Model(ModelRef.parse("scripted:any"), ScriptedProvider([reply]))
    with pytest.raises(StructuredOutputError, match=says) as info:
        await model.chat("x", output_type=Ticket)
    assert "\n" not in str(info.value)


@pytest.mark.anyio
async def test_handler_sees_the_model_and_stream_reassembles() -> None:
    def answer(request: ChatRequest) -> str:
        return "tuned answer here" if request.model.startswith("ft:") else "base answer"

    provider = ScriptedProvider(answer)
    request = ChatRequest(model="ft:base:x:1", messages=(Message.user("q"),))
    chunks = [c async for c in provider.stream(request)]
    assert "".join(c.delta for c in chunks) == "tuned answer here"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3


@pytest.mark.anyio
async def test_exhausted_script_and_missing_capabilities() -> None:
    provider = ScriptedProvider(["one"], capabilities=("chat", "stream"))
    request = ChatRequest(model="m", messages=(Message.user("q"),))
    assert (await provider.chat(request)).text == "one"
    with pytest.raises(Exception, match="no more replies"):
        await provider.chat(request)
    with pytest.raises(CapabilityError, match="cannot fine-tune"):
        provider.fine_tuner()


@pytest.mark.anyio
async def test_fine_tune_job_life(tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text("{}\n")
    tuner = ScriptedProvider().fine_tuner()
    job = await tuner.start(FineTuneSpec(base_model="gpt-x", training_file=data, suffix="bot"))
    assert job.status == "validating_files" and job.model is None
    events = [e async for e in job.events()]
    assert job.status == "succeeded"
    assert any("loss" in e.data for e in events)
    ref = await (await tuner.attach(job.id)).wait()
    assert str(ref) == f"scripted:ft:gpt-x:bot:{job.id}"
    with pytest.raises(NotFoundError):
        await tuner.attach("ftjob-9999")
    cancelled = await tuner.start(FineTuneSpec(base_model="gpt-x", training_file=data))
    await cancelled.cancel()
    with pytest.raises(FineTuneError, match="cancelled"):
        await cancelled.wait()
    with pytest.raises(FineTuneError, match="does not exist"):
        await tuner.start(FineTuneSpec(base_model="gpt-x", training_file=tmp_path / "missing.jsonl"))


def test_message_validation() -> None:
    with pytest.raises(ValueError, match="tool_call_id"):
        Message(role="tool", content="x")
    with pytest.raises(ValueError, match="needs content"):
        Message(role="user")
    with pytest.raises(ValueError):
        ChatRequest(model="m", messages=())
    assert Message.user("hi").to_openai() == {"role": "user", "content": "hi"}
