"""``tunewise serve`` and ``tunewise chat`` as a user runs them: subprocesses, the ``scripted:`` prefix, real ports."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tunewise_openai.fake import FakeServer, run_fake_openai

CLI = shutil.which("tunewise") or str(Path(sys.executable).parent / "tunewise")
TOKEN = "sk-cli-serve-4d5e6f7a8b"

KB = """\
{"id": "refunds", "text": "Refunds are issued within 14 days of the request.", "source": "refunds.md"}
{"id": "sso", "text": "SSO with SAML is available on the Business plan.", "source": "sso.md"}
"""

CONFIG = """\
[serve]
max_body_bytes = 20000

[retrievers.kb]
type = "memory"
documents = "kb.jsonl"
embedder = "hashing-256"

[[strategies]]
name = "support-bot"
type = "rag_fine_tuned"
model = "scripted:ft:support-bot"
retriever = "kb"
threshold = 0.25
on_low_relevance = "handoff"
handoff_message = "A person from our team will answer you shortly."
k = 2

[[strategies]]
name = "plain"
type = "zero_shot"
model = "scripted:echo"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "kb.jsonl").write_text(KB, encoding="utf-8")
    path = tmp_path / "bot.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


class Served:
    """A ``tunewise serve`` subprocess; its log is collected on a thread."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [CLI, "serve", *args, "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.url = ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            found = re.search(r"Uvicorn running on (http://\S+)", line)
            if found:
                self.url = found.group(1)
                self.ready.set()
        self.ready.set()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=30)

    @property
    def log(self) -> str:
        return "".join(self.lines)


@pytest.fixture
def served(config: Path) -> Iterator[Served]:
    server = Served(str(config), "--api-key-env", "SERVE_TOKEN", env={"SERVE_TOKEN": TOKEN})
    try:
        assert server.ready.wait(60) and server.url, server.log
        yield server
    finally:
        server.stop()


def test_serve_a_strategies_config(served: Served) -> None:
    assert served.url.startswith("http://127.0.0.1:")  # loopback unless told otherwise
    client = openai.OpenAI(base_url=served.url + "/v1", api_key=TOKEN, max_retries=0)
    assert sorted(m.id for m in client.models.list()) == ["plain", "support-bot"]
    completion = client.chat.completions.create(
        model="support-bot", messages=[{"role": "user", "content": "How many days do refunds take?"}]
    )
    text = completion.choices[0].message.content or ""
    assert "[1] (refunds.md) Refunds are issued within 14 days" in text  # the scripted model echoes its prompt
    assert (completion.model_extra or {})["tunewise"]["sources"][0]["source"] == "refunds.md"
    stream = client.chat.completions.create(
        model="plain", messages=[{"role": "user", "content": "streamed through the CLI"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "streamed through the CLI"
    with pytest.raises(openai.APIStatusError) as raised:  # [serve] max_body_bytes from the config
        client.chat.completions.create(model="plain", messages=[{"role": "user", "content": "z" * 30_000}])
    assert raised.value.status_code == 413
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=served.url + "/v1", api_key="wrong", max_retries=0).models.list()
    assert served.stop() == 0
    assert TOKEN not in served.log
    assert "auth: bearer token from $SERVE_TOKEN" in served.log


def test_serve_a_bare_model_reference_without_auth() -> None:
    server = Served("scripted:echo")
    try:
        assert server.ready.wait(60) and server.url, server.log
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="anything", max_retries=0)
        completion = client.chat.completions.create(
            model="scripted:echo", messages=[{"role": "user", "content": "zero shot"}]
        )
        assert completion.choices[0].message.content == "zero shot"
    finally:
        assert server.stop() == 0


def run(
    *args: str, stdin: str = "", env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["missing.toml"], {}, "missing.toml: no such file"),
        (["nocolon"], {}, "has no provider prefix"),
        (["scripted:echo", "--api-key-env", "TUNEWISE_TEST_UNSET_VAR"], {}, "TUNEWISE_TEST_UNSET_VAR"),
        (["nosuch:model"], {}, "model nosuch:model: no provider plugin for prefix 'nosuch'"),
        (["openai:gpt-4o-mini"], {"OPENAI_API_KEY": "", "TUNEWISE_OPENAI_API_KEY": ""}, "openai: no API key"),
        (["scripted:echo", "--port", "99999"], {}, "'--port'"),
        (["scripted:echo", "--port", "-1"], {}, "'--port'"),
        (["scripted:echo", "--port", "http"], {}, "'--port'"),
        (["scripted:echo", "--timeout", "0"], {}, "'--timeout': 0 is not a positive number"),
        (["scripted:echo", "--timeout", "-3"], {}, "'--timeout'"),
        (["scripted:echo", "--timeout", "inf"], {}, "'--timeout'"),
        (["scripted:echo", "--max-body-bytes", "0"], {}, "'--max-body-bytes'"),
        (["scripted:echo", "--max-concurrency", "0"], {}, "'--max-concurrency'"),
        (["scripted:echo", "--log-level", "loud"], {}, "'--log-level'"),
        (["scripted:echo", "--host", "no-such-host.invalid"], {}, "--host: cannot resolve host 'no-such-host.invalid'"),
        (["scripted:echo", "--host", "192.0.2.1"], {}, "--host: cannot listen on 192.0.2.1:8000"),
        (["scripted:echo", "--host", ""], {}, "'--host'"),
        ([""], {}, "CONFIG_OR_MODEL"),
    ],
)
def test_serve_errors_are_one_line(args: list[str], env: dict[str, str], message: str, tmp_path: Path) -> None:
    result = run("serve", *args, env={"TUNEWISE_HOME": str(tmp_path / "home"), **env}, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.strip().count("\n") == 0, result.stderr
    assert message in result.stderr
    assert "Uvicorn running" not in result.stderr and "Traceback" not in result.stderr


def test_serve_refuses_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "scripted:echo", "--port", str(port))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: --port: cannot listen on 127.0.0.1:{port}: Address already in use"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("port = 70000", "serve.port: 70000 is not a port"),
        ("port = -1", "serve.port: -1 is not a port"),
        ("max_body_bytes = 0", "serve.max_body_bytes: 0 must be at least 1"),
        ("timeout_s = 0", "serve.timeout_s: 0 must be a positive number"),
        ("timeout_s = inf", "serve.timeout_s: inf must be a positive number"),
        ("timeout_s = nan", "serve.timeout_s: nan must be a positive number"),
        ("max_concurrency = -2", "serve.max_concurrency: -2 must be at least 1"),
        ('host = " "', "serve.host: must not be empty"),
        ('api_key_env = ""', "serve.api_key_env: must not be empty"),
        ('host = "no-such-host.invalid"', "serve.host: cannot resolve host"),
        ("port = true", "serve.port has the wrong type (bool)"),
    ],
)
def test_serve_config_values_are_checked_before_serving(table: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(f'[serve]\n{table}\n\n[[strategies]]\ntype = "zero_shot"\nmodel = "scripted:echo"\n')
    result = run("serve", str(path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: {path}: ") and result.stderr.strip().count("\n") == 0
    assert message in result.stderr


def test_serve_config_naming_a_missing_plugin(tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text('[[strategies]]\nname = "bot"\ntype = "zero_shot"\nmodel = "nosuch:echo"\n')
    result = run("serve", str(path))
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"error: {path}: strategy 'bot' (nosuch:echo): no provider plugin")


def test_serve_help_renders_as_written() -> None:
    result = run("serve", "--help", env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "A TOML file of [[strategies]] tables (each served by its name)" in text
    assert "GET /health/ready" in text
    assert "[]" not in text.replace("[[strategies]]", "") and " ." not in text
    assert re.search(r"--port\s+INTEGER RANGE", result.stdout) or re.search(r"--port\s+INTEGER", result.stdout)
    assert re.search(r"--log-level\s+\[critical\|error\|warning\|info\|debug\|trace\]", result.stdout)
    assert re.search(r"--help\s+Show this message", result.stdout)  # a flag: no value placeholder


def test_serve_config_with_a_bad_serve_table(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[serve]\nportt = 1\n\n[[strategies]]\ntype = "zero_shot"\nmodel = "scripted:echo"\n')
    result = run("serve", str(path))
    assert result.returncode == 2 and "serve has unknown keys ['portt']" in result.stderr


def test_chat_reads_stdin_streams_and_reports_usage_and_cost(tmp_path: Path) -> None:
    settings = tmp_path / "tunewise.toml"
    settings.write_text('[prices."scripted:*"]\ninput = 1.0\noutput = 2.0\n')
    result = run(
        "chat",
        "scripted:echo",
        stdin="one two three\nfour five\n/reset\nsix\n/bogus\n/exit\nnever sent\n",
        env={"TUNEWISE_CONFIG": str(settings)},
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "assistant> one two three\n" in out and "assistant> four five\n" in out
    assert "never sent" not in out
    usage = re.findall(r"tokens: (\d+) in, (\d+) out · cost: \$(\d+\.\d+)", out)
    assert len(usage) == 3
    for prompt, completion, cost in usage:
        assert float(cost) == pytest.approx((int(prompt) * 1.0 + int(completion) * 2.0) / 1e6)
    # the second turn carries the first; after /reset the conversation starts again
    assert int(usage[1][0]) > int(usage[0][0]) > int(usage[2][0])
    assert "(new conversation)" in out and "unknown command '/bogus'" in out


def test_chat_with_a_strategy_shows_sources_and_handoffs(config: Path) -> None:
    result = run(
        "chat",
        f"{config}:support-bot",
        stdin="How many days do refunds take?\ntell me a pirate joke\n",
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Chatting with support-bot" in out
    assert "[1] refunds.md  score 0.272 (cited)" in out
    assert "cost: unknown (no price known for 'scripted:ft:support-bot'" in out
    assert "assistant> A person from our team will answer you shortly.\nhanded off" in out
    assert "tokens: 0 in, 0 out · cost: $0 (no model call)" in out


def test_chat_without_streaming_and_bad_targets(config: Path) -> None:
    result = run("chat", "scripted:echo", "--no-stream", "--max-tokens", "2", stdin="one two three\n")
    assert result.returncode == 0 and "assistant> one two\n" in result.stdout
    result = run("chat", f"{config}:nope", stdin="hi\n")
    assert result.returncode == 2
    assert "no strategy named 'nope' (known: plain, support-bot)" in result.stderr


def test_chat_in_a_terminal_prompts_and_quits_on_ctrl_d() -> None:
    import pty

    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [CLI, "chat", "scripted:echo"], stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    os.close(terminal)
    os.write(controller, b"hello terminal\n\x04")  # a question, then Ctrl-D
    out, err = process.communicate(timeout=60)
    os.close(controller)
    assert process.returncode == 0, err
    assert "you> assistant> hello terminal\n" in out
    assert out.count("you> ") == 2


# --- end to end over real HTTP on both sides: the official openai client -> tunewise serve (a subprocess)
# -> a RAG strategy -> the OpenAI plugin -> the fake OpenAI server (tunewise_openai.fake)

UPSTREAM_KEY = "sk-upstream-right-key-5a6b7c8d9e"
WRONG_KEY = "sk-upstream-wrong-key-0f1e2d3c4b"
E2E_TOKEN = "sk-e2e-serve-token-11223344"

E2E_CONFIG = """\
[retrievers.kb]
type = "memory"
documents = "kb.jsonl"
embedder = "hashing-256"

[[strategies]]
name = "rag"
type = "rag"
model = "fake:gpt-4o-mini"
retriever = "kb"
k = 1

[[strategies]]
name = "wrong-key"
type = "zero_shot"
model = "badfake:gpt-4o-mini"
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeServer]:
    with run_fake_openai(api_key=UPSTREAM_KEY) as server:
        yield server


@pytest.fixture
def e2e_served(upstream: FakeServer, tmp_path: Path) -> Iterator[Served]:
    upstream.reset()
    settings = tmp_path / "tunewise.toml"
    settings.write_text(
        "[profiles.fake]\n"
        'plugin = "openai"\n'
        f'base_url = "{upstream.base_url}"\n'
        'api_key_env = "FAKE_UPSTREAM_KEY"\n'
        "options = {max_retries = 0}\n\n"
        "[profiles.badfake]\n"
        'plugin = "openai"\n'
        f'base_url = "{upstream.base_url}"\n'
        f'api_key = "{WRONG_KEY}"\n'
        "options = {max_retries = 0}\n"
    )
    (tmp_path / "kb.jsonl").write_text(KB, encoding="utf-8")
    (tmp_path / "bot.toml").write_text(E2E_CONFIG, encoding="utf-8")
    env = {"TUNEWISE_CONFIG": str(settings), "FAKE_UPSTREAM_KEY": UPSTREAM_KEY, "SERVE_E2E_TOKEN": E2E_TOKEN}
    server = Served(str(tmp_path / "bot.toml"), "--api-key-env", "SERVE_E2E_TOKEN", env=env)
    try:
        assert server.ready.wait(60) and server.url, server.log
        yield server
    finally:
        server.stop()
        upstream.faults.off()


def test_a_rag_strategy_on_the_openai_plugin_end_to_end(e2e_served: Served, upstream: FakeServer) -> None:
    client = openai.OpenAI(base_url=e2e_served.url + "/v1", api_key=E2E_TOKEN, max_retries=0)
    question = [{"role": "user", "content": "How many days do refunds take?"}]
    whole = client.chat.completions.create(model="rag", messages=question)
    text = whole.choices[0].message.content or ""
    assert text.startswith("You said: Sources:\n[1] (refunds.md) Refunds are issued within 14 days")
    assert (whole.model_extra or {})["tunewise"]["sources"][0]["id"] == "refunds"
    assert whole.usage is not None and whole.usage.completion_tokens > 10

    chunks = list(
        client.chat.completions.create(
            model="rag", messages=question, stream=True, stream_options={"include_usage": True}
        )
    )
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(deltas) > 10  # the fake server's token-sized chunks, passed on as they came
    assert "".join(deltas) == text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens_details is not None
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens == whole.usage.prompt_tokens  # the fake's cache

    upstream.faults.configure(rate=1.0, kinds=("server_error",))
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model="rag", messages=question)
    assert raised.value.status_code == 502

    upstream.faults.configure(rate=1.0, kinds=("truncate",))  # the upstream stream is cut before [DONE]
    seen: list[str] = []

    def read_all() -> None:
        for chunk in client.chat.completions.create(model="rag", messages=question, stream=True):
            seen.append(chunk.choices[0].delta.content or "" if chunk.choices else "")

    with pytest.raises(openai.APIError):
        read_all()
    upstream.faults.off()

    with pytest.raises(openai.InternalServerError) as raised:  # the upstream 401 quotes the key it got
        client.chat.completions.create(model="wrong-key", messages=question)
    body = json.dumps(raised.value.body)
    assert raised.value.status_code == 502 and "401" in body
    assert WRONG_KEY not in body and UPSTREAM_KEY not in body
    assert e2e_served.stop() == 0
    assert WRONG_KEY not in e2e_served.log and UPSTREAM_KEY not in e2e_served.log and E2E_TOKEN not in e2e_served.log
