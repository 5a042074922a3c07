"""The fake server speaks OpenAI's API: the official ``openai`` client works against it unchanged."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from pydantic import BaseModel

from tunewise_openai.fake import FakeServer

from .conftest import SECRET


@pytest.fixture
def client(fake: FakeServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url, api_key=SECRET, max_retries=0, timeout=5)


def test_chat_completion_shape(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello there"}], max_completion_tokens=50
    )
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "You said: hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == 4
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 0


def test_streaming_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "stream this please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: stream this please"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None


def test_structured_output_parse_helper(client: openai.OpenAI) -> None:
    class Ticket(BaseModel):
        category: str
        urgent: bool
        count: int

    completion = client.chat.completions.parse(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "classify"}], response_format=Ticket
    )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Ticket) and parsed.urgent is True


def test_refusal_field(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "REFUSE this"}]
    )
    assert completion.choices[0].message.content is None
    assert completion.choices[0].message.refusal


def test_embeddings_default_base64(client: openai.OpenAI) -> None:
    result = client.embeddings.create(model="text-embedding-3-small", input=["a cat", "a dog"])
    assert [len(d.embedding) for d in result.data] == [1536, 1536]
    short = client.embeddings.create(
        model="text-embedding-3-small", input="a cat", dimensions=8, encoding_format="float"
    )
    assert len(short.data[0].embedding) == 8


def test_errors_are_openai_errors(client: openai.OpenAI, fake: FakeServer) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert missing.value.request_id
    bad = openai.OpenAI(base_url=fake.base_url, api_key="sk-wrong-key-123456789", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


def test_files_fine_tuning_and_batches(client: openai.OpenAI) -> None:
    line = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    uploaded = client.files.create(file=("train.jsonl", json.dumps(line).encode()), purpose="fine-tune")
    assert uploaded.purpose == "fine-tune" and uploaded.bytes > 0
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini",
        training_file=uploaded.id,
        suffix="demo",
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
        metadata={"k": "v"},
    )
    while job.status not in ("succeeded", "failed", "cancelled"):
        job = client.fine_tuning.jobs.retrieve(job.id)
    assert job.status == "succeeded" and job.fine_tuned_model and job.fine_tuned_model.startswith("ft:gpt-4o-mini")
    events = list(client.fine_tuning.jobs.list_events(job.id, limit=2))  # auto-paginates
    assert len({e.id for e in events}) == len(events) >= 5
    assert [j.id for j in client.fine_tuning.jobs.list(metadata={"k": "v"})] == [job.id]
    answer = client.chat.completions.create(model=job.fine_tuned_model, messages=[{"role": "user", "content": "q"}])
    assert answer.choices[0].message.content == "Fine-tuned gpt-4o-mini says: q"

    request = {"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions"}
    request["body"] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "batch me"}]}  # type: ignore[assignment]
    batch_file = client.files.create(file=("in.jsonl", json.dumps(request).encode()), purpose="batch")
    batch = client.batches.create(input_file_id=batch_file.id, endpoint="/v1/chat/completions", completion_window="24h")
    while batch.status not in ("completed", "failed", "expired", "cancelled"):
        batch = client.batches.retrieve(batch.id)
    assert batch.request_counts is not None and batch.request_counts.completed == 1
    assert batch.output_file_id is not None
    output = json.loads(client.files.content(batch.output_file_id).content)
    assert output["custom_id"] == "r1"
    assert output["response"]["body"]["choices"][0]["message"]["content"] == "You said: batch me"
    assert client.files.delete(batch_file.id).deleted is True
    assert next(m.id for m in client.models.list()) == "gpt-4o-mini"


def test_raw_answers_validate_strictly_against_the_official_types(fake: FakeServer) -> None:
    """The client above builds its objects without validation; here every raw answer must validate."""
    from openai.types import Batch, CreateEmbeddingResponse, FileDeleted, FileObject, Model
    from openai.types.chat import ChatCompletion, ChatCompletionChunk
    from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent

    headers = {"Authorization": f"Bearer {SECRET}"}
    with httpx.Client(base_url=fake.base_url + "/", headers=headers, timeout=5) as http:
        chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "validate me"}]}
        ChatCompletion.model_validate(http.post("chat/completions", json=chat).json(), strict=False)
        with http.stream(
            "POST", "chat/completions", json={**chat, "stream": True, "stream_options": {"include_usage": True}}
        ) as stream:
            events = [line[6:] for line in stream.iter_lines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        for event in events[:-1]:
            ChatCompletionChunk.model_validate_json(event)
        embedded = http.post("embeddings", json={"model": "text-embedding-3-small", "input": ["a"], "dimensions": 4})
        CreateEmbeddingResponse.model_validate(embedded.json())
        line = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
        uploaded = http.post(
            "files", files={"file": ("t.jsonl", json.dumps(line).encode())}, data={"purpose": "fine-tune"}
        ).json()
        FileObject.model_validate(uploaded)
        job = http.post("fine_tuning/jobs", json={"model": "gpt-4o-mini", "training_file": uploaded["id"]}).json()
        while job["status"] not in ("succeeded", "failed", "cancelled"):
            job = http.get(f"fine_tuning/jobs/{job['id']}").json()
            FineTuningJob.model_validate(job)
        for event in http.get(f"fine_tuning/jobs/{job['id']}/events").json()["data"]:
            FineTuningJobEvent.model_validate(event)
        request = {"custom_id": "x", "method": "POST", "url": "/v1/chat/completions", "body": chat}
        source = http.post(
            "files", files={"file": ("b.jsonl", json.dumps(request).encode())}, data={"purpose": "batch"}
        ).json()
        batch = http.post(
            "batches",
            json={"input_file_id": source["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"},
        ).json()
        while batch["status"] != "completed":
            batch = http.get(f"batches/{batch['id']}").json()
            Batch.model_validate(batch)
        FileDeleted.model_validate(http.delete(f"files/{source['id']}").json())
        for model in http.get("models").json()["data"]:
            Model.model_validate(model)
