"""A stateful fake of OpenAI's API for tests: the real HTTP, no network, no key.

It serves chat completions (with SSE streaming and ``include_usage``), embeddings,
files, fine-tuning jobs (with events and cancel), batches and models, shaped like
OpenAI's API reference, with deterministic answers and switchable fault injection
(429 with ``retry-after-ms``, 500/503, connection reset, read timeout, SSE cut off
before ``[DONE]``, malformed JSON). The official ``openai`` client runs against it in
tunewise's own tests, which is what keeps it faithful.

Other test suites reuse it::

    from tunewise_openai.fake import Faults, run_fake_openai

    @pytest.fixture
    def fake_openai():
        with run_fake_openai() as server:
            yield server           # server.base_url, server.faults, server.stats()

Importing this module imports starlette and uvicorn (``pip install
'tunewise-openai[fake]'``; tunewise's dev dependencies have them); the plugin itself
never imports it.
"""

import importlib.util

_missing = [name for name in ("starlette", "uvicorn") if importlib.util.find_spec(name) is None]
if _missing:
    raise ImportError(f"tunewise_openai.fake needs {' and '.join(_missing)}: pip install 'tunewise-openai[fake]'")

from tunewise_openai.fake._app import FakeOpenAI  # noqa: E402 - after the friendly check above
from tunewise_openai.fake._faults import ALL_FAULTS, FaultKind, Faults  # noqa: E402
from tunewise_openai.fake._server import FakeServer, main, run_fake_openai  # noqa: E402

__all__ = ["ALL_FAULTS", "FakeOpenAI", "FakeServer", "FaultKind", "Faults", "main", "run_fake_openai"]
