"""The fake server's state and its deterministic "model": what each endpoint answers.

Everything here is plain Python on dicts shaped like OpenAI's API reference, so the
Starlette layer (``_app.py``) only moves JSON in and out. Answers are deterministic:

- chat: ``You said: <last user message>`` (``Fine-tuned <model> says: ...`` for ``ft:``
  models), cut at ``stop`` and at ``max_tokens`` whitespace tokens; a schema-shaped JSON
  instance for ``response_format`` ``json_schema``; a call of each offered tool when the
  last message is the user's (see ``_tool_calls``); a refusal when the last user message
  contains ``REFUSE``; plain text despite ``response_format`` when it contains ``NOJSON``;
  one JSON answer to a stream request when it contains ``NOSTREAM``;
- embeddings: hashed bag-of-words vectors, L2-normalised;
- fine-tuning jobs move one status forward each time they are retrieved;
- batches run their requests through the same chat answer when retrieved; ``hold_batches`` keeps them
  ``in_progress`` and ``fail_batch_requests`` fails the next requests with a 500 (``/_fake/batches`` sets both).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import math
import re
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

CHAT_MODELS = ("gpt-4o-mini", "gpt-4o-mini-2024-07-18", "gpt-4o", "gpt-4.1-mini", "gpt-4.1-nano")
EMBEDDING_MODELS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
MAX_EMBEDDING_INPUTS = 2048
_TOKEN = re.compile(r"\s*\S+")
_JOB_STEPS = ("validating_files", "queued", "running", "running", "running", "succeeded")
_BATCH_STEPS = ("validating", "in_progress", "finalizing", "completed")


class APIError(Exception):
    """An error the fake answers with OpenAI's error body."""

    def __init__(
        self, status: int, message: str, *, type: str = "invalid_request_error", code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": type, "param": None, "code": code}}


@dataclass
class FakeState:
    """Everything the fake server remembers, guarded by one lock."""

    org: str = "fake-org"
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    contents: dict[str, bytes] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    job_steps: dict[str, int] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    batch_steps: dict[str, int] = field(default_factory=dict)
    hold_batches: bool = False
    """While true, a batch stays ``in_progress`` however often it is polled (a test kills its client meanwhile)."""
    fail_batch_requests: int = 0
    """The next this many requests run in batches fail with a 500 in the error file (then pass again)."""
    fine_tuned_models: set[str] = field(default_factory=set)
    completions_served: int = 0
    requests_by_path: dict[str, int] = field(default_factory=dict)
    seen_prompts: set[str] = field(default_factory=set)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1), repr=False)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}{hashlib.sha1(f'{prefix}{time.time_ns()}'.encode()).hexdigest()[:10]}"

    def count(self, path: str) -> None:
        with self.lock:
            self.requests_by_path[path] = self.requests_by_path.get(path, 0) + 1

    def enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    # -- models -------------------------------------------------------------------------

    def known_model(self, model: str) -> bool:
        return model in CHAT_MODELS or model in EMBEDDING_MODELS or model in self.fine_tuned_models

    def model_object(self, model: str) -> dict[str, Any]:
        owner = self.org if model.startswith("ft:") else "system"
        return {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": owner}

    def list_models(self) -> list[dict[str, Any]]:
        names = [*CHAT_MODELS, *EMBEDDING_MODELS, *sorted(self.fine_tuned_models)]
        return [self.model_object(m) for m in names]

    # -- chat -----------------------------------------------------------------------------

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        """A ``chat.completion`` object for a request body (raises APIError on bad input)."""
        model, messages = _check_chat_body(body)
        if not self.known_model(model) or model in EMBEDDING_MODELS:
            raise APIError(
                404, f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found"
            )
        text, refusal, tool_calls, finish = _answer(model, messages, body)
        prompt_tokens = sum(len(str(m.get("content") or "").split()) + 4 for m in messages) + 3
        called = " ".join(f"{c['function']['name']} {c['function']['arguments']}" for c in tool_calls or ())
        completion_tokens = len(_TOKEN.findall(text or refusal or called))
        key = hashlib.sha1(json.dumps(messages, sort_keys=True).encode()).hexdigest()
        with self.lock:
            cached = prompt_tokens if key in self.seen_prompts else 0
            self.seen_prompts.add(key)
            self.completions_served += 1
            number = self.completions_served
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": refusal, "annotations": []}
        if tool_calls:
            message["tool_calls"] = tool_calls
        return {
            "id": f"chatcmpl-{number:08d}{key[:8]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }

    # -- embeddings -------------------------------------------------------------------------

    def embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        model = body.get("model")
        if model not in EMBEDDING_MODELS:
            raise APIError(404, f"The model `{model}` does not exist or you do not have access to it.")
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) for t in inputs):
            raise APIError(400, "'input' must be a non-empty string or array of strings")
        if len(inputs) > MAX_EMBEDDING_INPUTS:
            raise APIError(400, f"'input' has {len(inputs)} items; at most {MAX_EMBEDDING_INPUTS} are allowed")
        if any(not t for t in inputs):
            raise APIError(400, "'input' cannot contain an empty string")
        dimension = body.get("dimensions") or EMBEDDING_MODELS[str(model)]
        encoding = body.get("encoding_format", "float")
        data = []
        for index, text in enumerate(inputs):
            vector = hashed_vector(text, int(dimension))
            value: Any = vector
            if encoding == "base64":
                value = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": value})
        tokens = sum(len(t.split()) for t in inputs)
        return {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    # -- files ------------------------------------------------------------------------------

    def add_file(self, filename: str, purpose: str, content: bytes) -> dict[str, Any]:
        if purpose not in {"fine-tune", "batch", "assistants", "vision", "user_data", "evals", "batch_output"}:
            raise APIError(400, f"'{purpose}' is not a valid purpose")
        with self.lock:
            file_id = self.new_id("file-")
            obj = {
                "id": file_id,
                "object": "file",
                "bytes": len(content),
                "created_at": int(time.time()),
                "expires_at": None,
                "filename": filename,
                "purpose": purpose,
                "status": "processed",
                "status_details": None,
            }
            self.files[file_id] = obj
            self.contents[file_id] = content
        return obj

    def get_file(self, file_id: str) -> dict[str, Any]:
        try:
            return self.files[file_id]
        except KeyError:
            raise APIError(404, f"No such File object: {file_id}") from None

    def delete_file(self, file_id: str) -> dict[str, Any]:
        with self.lock:
            self.get_file(file_id)
            del self.files[file_id]
            self.contents.pop(file_id, None)
        return {"id": file_id, "object": "file", "deleted": True}

    # -- fine-tuning --------------------------------------------------------------------------

    def create_job(self, body: dict[str, Any]) -> dict[str, Any]:
        model = body.get("model")
        if model not in CHAT_MODELS:
            raise APIError(400, f"Model {model} is not available for fine-tuning or does not exist.")
        training = self.get_file(str(body.get("training_file")))
        if training["purpose"] != "fine-tune":
            raise APIError(400, f"File {training['id']} has purpose {training['purpose']}, not fine-tune")
        validation = body.get("validation_file")
        if validation is not None:
            self.get_file(str(validation))
        method = body.get("method") or {"type": "supervised", "supervised": {"hyperparameters": {}}}
        hyper = dict(method.get(method.get("type", "supervised"), {}).get("hyperparameters", {}))
        hyper.update(body.get("hyperparameters") or {})
        resolved = {
            "n_epochs": hyper.get("n_epochs", "auto") if hyper.get("n_epochs", "auto") != "auto" else 3,
            "batch_size": hyper.get("batch_size", "auto") if hyper.get("batch_size", "auto") != "auto" else 1,
            "learning_rate_multiplier": hyper.get("learning_rate_multiplier", "auto")
            if hyper.get("learning_rate_multiplier", "auto") != "auto"
            else 1.8,
        }
        with self.lock:
            job_id = self.new_id("ftjob-")
            job = {
                "object": "fine_tuning.job",
                "id": job_id,
                "model": model,
                "created_at": int(time.time()),
                "finished_at": None,
                "fine_tuned_model": None,
                "organization_id": self.org,
                "result_files": [],
                "status": "validating_files",
                "validation_file": validation,
                "training_file": training["id"],
                "hyperparameters": resolved,
                "method": {"type": method.get("type", "supervised"), "supervised": {"hyperparameters": resolved}},
                "trained_tokens": None,
                "error": None,
                "integrations": [],
                "seed": body.get("seed") if body.get("seed") is not None else 42,
                "estimated_finish": None,
                "metadata": body.get("metadata"),
                "user_provided_suffix": body.get("suffix"),
            }
            self.jobs[job_id] = job
            self.job_steps[job_id] = 0
            self.events[job_id] = []
            self._event(job_id, f"Created fine-tuning job: {job_id}")
            self._event(job_id, f"Validating training file: {training['id']}")
        return job

    def _event(self, job_id: str, message: str, *, level: str = "info", data: dict[str, Any] | None = None) -> None:
        events = self.events[job_id]
        events.append(
            {
                "object": "fine_tuning.job.event",
                "id": f"ftevent-{job_id[6:]}-{len(events):04d}",
                "created_at": int(time.time()),
                "level": level,
                "message": message,
                "type": "metrics" if data else "message",
                "data": data or {},
            }
        )

    def retrieve_job(self, job_id: str, *, advance: bool = True) -> dict[str, Any]:
        with self.lock:
            job = self.get_job(job_id)
            if advance and job["status"] not in {"succeeded", "failed", "cancelled"}:
                self._advance_job(job)
            return job

    def get_job(self, job_id: str) -> dict[str, Any]:
        try:
            return self.jobs[job_id]
        except KeyError:
            raise APIError(404, f"Could not find fine-tuning job {job_id}") from None

    def _advance_job(self, job: dict[str, Any]) -> None:
        job_id = job["id"]
        step = self.job_steps[job_id] = self.job_steps[job_id] + 1
        status = _JOB_STEPS[min(step, len(_JOB_STEPS) - 1)]
        if step == 1:
            problem = _training_problem(self.contents.get(job["training_file"], b""))
            if problem is not None:
                job.update(status="failed", finished_at=int(time.time()))
                job["error"] = {"code": "invalid_training_file", "message": problem, "param": "training_file"}
                self._event(job_id, f"Training file validation failed: {problem}", level="error")
                return
            self._event(job_id, "Files validated, moving job to queued state")
        job["status"] = status
        if status == "running":
            running_step = step - _JOB_STEPS.index("running") + 1
            if running_step == 1:
                self._event(job_id, "Fine-tuning job started")
            loss = round(1.5 / running_step, 4)
            self._event(
                job_id,
                f"Step {running_step}/3: training loss={loss}",
                data={"step": running_step, "train_loss": loss, "total_steps": 3},
            )
        elif status == "succeeded":
            suffix = job.get("user_provided_suffix") or ""
            model = f"ft:{job['model']}:{self.org}:{suffix}:{job_id[-8:]}"
            self.fine_tuned_models.add(model)
            trained = len(self.contents.get(job["training_file"], b"").split()) * job["hyperparameters"]["n_epochs"]
            job.update(fine_tuned_model=model, finished_at=int(time.time()), trained_tokens=trained)
            self._event(job_id, f"New fine-tuned model created: {model}")
            self._event(job_id, "The job has successfully completed")

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            job = self.get_job(job_id)
            if job["status"] in {"succeeded", "failed", "cancelled"}:
                raise APIError(400, f"Job {job_id} has already {job['status']} and cannot be cancelled")
            job.update(status="cancelled", finished_at=int(time.time()))
            self._event(job_id, "Fine-tuning job cancelled")
            return job

    def list_jobs(self, *, after: str | None, limit: int, metadata: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            jobs = sorted(self.jobs.values(), key=lambda j: j["id"], reverse=True)
        if metadata:
            jobs = [j for j in jobs if all((j.get("metadata") or {}).get(k) == v for k, v in metadata.items())]
        return _page(jobs, after, limit)

    def list_events(self, job_id: str, *, after: str | None, limit: int) -> dict[str, Any]:
        with self.lock:
            self.get_job(job_id)
            newest_first = list(reversed(self.events[job_id]))
        return _page(newest_first, after, limit)

    # -- batches ----------------------------------------------------------------------------

    def create_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        endpoint = body.get("endpoint")
        if endpoint not in {"/v1/chat/completions", "/v1/embeddings"}:
            raise APIError(400, f"endpoint {endpoint!r} is not supported by this server")
        if body.get("completion_window") != "24h":
            raise APIError(400, "completion_window must be '24h'")
        source = self.get_file(str(body.get("input_file_id")))
        if source["purpose"] != "batch":
            raise APIError(400, f"File {source['id']} has purpose {source['purpose']}, not batch")
        lines = [line for line in self.contents[source["id"]].splitlines() if line.strip()]
        now = int(time.time())
        with self.lock:
            batch_id = self.new_id("batch_")
            batch = {
                "id": batch_id,
                "object": "batch",
                "endpoint": endpoint,
                "errors": None,
                "input_file_id": source["id"],
                "completion_window": "24h",
                "status": "validating",
                "output_file_id": None,
                "error_file_id": None,
                "created_at": now,
                "in_progress_at": None,
                "expires_at": now + 86400,
                "finalizing_at": None,
                "completed_at": None,
                "failed_at": None,
                "expired_at": None,
                "cancelling_at": None,
                "cancelled_at": None,
                "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                "metadata": body.get("metadata"),
            }
            self.batches[batch_id] = batch
            self.batch_steps[batch_id] = 0
        return batch

    def get_batch(self, batch_id: str) -> dict[str, Any]:
        try:
            return self.batches[batch_id]
        except KeyError:
            raise APIError(404, f"No batch found with id '{batch_id}'.") from None

    def retrieve_batch(self, batch_id: str) -> dict[str, Any]:
        with self.lock:
            batch = self.get_batch(batch_id)
            if batch["status"] in _BATCH_STEPS[:-1] and not (self.hold_batches and batch["status"] == "in_progress"):
                step = self.batch_steps[batch_id] = self.batch_steps[batch_id] + 1
                status = _BATCH_STEPS[min(step, len(_BATCH_STEPS) - 1)]
                batch["status"] = status
                batch[f"{status}_at"] = int(time.time())
                if status == "completed":
                    self._run_batch(batch)
            return batch

    def cancel_batch(self, batch_id: str) -> dict[str, Any]:
        with self.lock:
            batch = self.get_batch(batch_id)
            if batch["status"] in {"completed", "failed", "expired", "cancelled"}:
                raise APIError(409, f"Cannot cancel a batch with status '{batch['status']}'.")
            now = int(time.time())
            batch.update(status="cancelled", cancelling_at=now, cancelled_at=now)
            return batch

    def _run_batch(self, batch: dict[str, Any]) -> None:
        outputs: list[str] = []
        errors: list[str] = []
        counts = batch["request_counts"]
        for number, line in enumerate(self.contents[batch["input_file_id"]].splitlines(), start=1):
            if not line.strip():
                continue
            item = json.loads(line)
            record: dict[str, Any] = {"id": f"batch_req_{batch['id'][6:]}_{number}", "custom_id": item["custom_id"]}
            try:
                if self.fail_batch_requests > 0:
                    self.fail_batch_requests -= 1
                    raise APIError(500, "The server had an error processing your request.", type="server_error")
                answer = self.completion(item["body"]) if "chat" in item["url"] else self.embeddings(item["body"])
            except APIError as exc:
                record["response"] = {"status_code": exc.status, "request_id": f"req_{number}", "body": exc.body}
                record["error"] = None
                errors.append(json.dumps(record))
                counts["failed"] += 1
                continue
            record["response"] = {"status_code": 200, "request_id": f"req_{number}", "body": answer}
            record["error"] = None
            outputs.append(json.dumps(record))
            counts["completed"] += 1
        if outputs:
            batch["output_file_id"] = self.add_file(
                f"{batch['id']}_output.jsonl", "batch_output", "\n".join(outputs).encode() + b"\n"
            )["id"]
        if errors:
            batch["error_file_id"] = self.add_file(
                f"{batch['id']}_error.jsonl", "batch_output", "\n".join(errors).encode() + b"\n"
            )["id"]


def _page(items: list[dict[str, Any]], after: str | None, limit: int) -> dict[str, Any]:
    start = 0
    if after is not None:
        ids = [item["id"] for item in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    page = items[start : start + limit]
    return {"object": "list", "data": page, "has_more": start + limit < len(items)}


def _training_problem(content: bytes) -> str | None:
    """Why a fine-tuning file is unusable (OpenAI's checks, shortened), or None."""
    lines = [line for line in content.splitlines() if line.strip()]
    if not lines:
        return "training file is empty"
    for number, line in enumerate(lines, start=1):
        try:
            example = json.loads(line)
        except json.JSONDecodeError:
            return f"line {number} is not valid JSON"
        messages = example.get("messages") if isinstance(example, dict) else None
        if not isinstance(messages, list) or not any(m.get("role") == "assistant" for m in messages):
            return f"line {number} has no assistant message"
    return None


def _check_chat_body(body: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    model = body.get("model")
    messages = body.get("messages")
    if not isinstance(model, str) or not model:
        raise APIError(400, "you must provide a model parameter")
    if not isinstance(messages, list) or not messages:
        raise APIError(400, "'messages' must be a non-empty array")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in {
            "system",
            "developer",
            "user",
            "assistant",
            "tool",
        }:
            raise APIError(400, f"Invalid value for 'messages[{index}].role'")
    return model, messages


def _answer(
    model: str, messages: list[dict[str, Any]], body: dict[str, Any]
) -> tuple[str | None, str | None, list[dict[str, Any]] | None, str]:
    """(content, refusal, tool_calls, finish_reason) for a chat request."""
    last_user = next((str(m.get("content") or "") for m in reversed(messages) if m["role"] == "user"), "")
    if "REFUSE" in last_user:
        return None, "I'm sorry, I can't help with that request.", None, "stop"
    calls = _tool_calls(body, last_user) if messages[-1]["role"] == "user" else []
    if calls:
        return None, None, calls, "tool_calls"
    if messages[-1]["role"] == "tool":
        text = f"The tool said: {messages[-1].get('content')}"
    elif model.startswith("ft:"):
        text = f"Fine-tuned {model.split(':')[1]} says: {last_user}"
    else:
        text = f"You said: {last_user}"
    response_format = body.get("response_format") or {}
    if "NOJSON" in last_user:  # a model that ignores the requested format
        response_format = {}
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        text = json.dumps(example_instance(schema, root=schema, hint=last_user))
    elif response_format.get("type") == "json_object":
        text = json.dumps({"answer": text})
    finish = "stop"
    stops = body.get("stop")
    for stop in [stops] if isinstance(stops, str) else stops or []:
        if stop and stop in text:
            text = text[: text.index(stop)]
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit is not None:
        pieces = _TOKEN.findall(text)
        if len(pieces) > int(limit):
            text, finish = "".join(pieces[: int(limit)]), "length"
    return text, None, None, finish


def _tool_calls(body: dict[str, Any], last_user: str) -> list[dict[str, Any]]:
    """The tool calls the fake answers with: one call per offered tool.

    All of them in parallel; the first only with ``parallel_tool_calls: false``; the named one
    for a ``tool_choice`` naming a function.
    """
    tools = [t.get("function") or {} for t in body.get("tools") or []]
    choice = body.get("tool_choice")
    if not tools or choice == "none":
        return []
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
        tools = [f for f in tools if f.get("name") == wanted][:1]
        if not tools:
            raise APIError(400, f"Invalid value for 'tool_choice': no tool named '{wanted}' was offered")
    elif body.get("parallel_tool_calls") is False:
        tools = tools[:1]
    calls: list[dict[str, Any]] = []
    for index, function in enumerate(tools):
        arguments = example_instance(function.get("parameters") or {"type": "object", "properties": {}})
        digest = hashlib.sha1(f"{index}:{last_user}".encode()).hexdigest()[:12]
        calls.append(
            {
                "id": f"call_{digest}",
                "type": "function",
                "function": {"name": function.get("name", "tool"), "arguments": json.dumps(arguments)},
            }
        )
    return calls


def example_instance(schema: dict[str, Any], *, root: dict[str, Any] | None = None, hint: str = "") -> Any:
    """A deterministic value that validates against a (strict-mode) JSON schema."""
    root = root or schema
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return example_instance(root.get("$defs", {}).get(name, {}), root=root, hint=hint)
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            options = [s for s in schema[combinator] if s.get("type") != "null"] or schema[combinator]
            return example_instance(options[0], root=root, hint=hint)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {
            name: example_instance(sub, root=root, hint=f"{name}")
            for name, sub in (schema.get("properties") or {}).items()
        }
    if kind == "array":
        return [example_instance(schema.get("items") or {}, root=root, hint=hint)] * max(1, schema.get("minItems", 1))
    if kind == "string":
        return f"example {hint}".strip()
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 0.5))
    if kind == "boolean":
        return True
    return None


def hashed_vector(text: str, dimension: int) -> list[float]:
    """A deterministic bag-of-words vector: texts sharing words are close."""
    vector = [0.0] * dimension
    for word in re.findall(r"\w+", text.lower()) or [text]:
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        vector[int.from_bytes(digest[:4], "little") % dimension] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]
