"""The offline support-bot demo (``make demo``, ``tunewise demo support-bot``).

```python
from tunewise.demo import QUICK, run_demo

done = await run_demo(out=".tunewise-demo", size=QUICK)   # resumes from its folder
print(done.recommendation().chosen, done.report_html)
```

Imported on first use (``import tunewise`` does not load it).
"""

from tunewise.demo._model import TinyModelSpec, corpus, documents, ensure_tiny_model, is_built, pretrain
from tunewise.demo._support_bot import (
    DEFAULT_EMBEDDER,
    DEFAULT_MODEL,
    DEFAULT_OUT,
    DEMO_NOTICE,
    FULL,
    QUICK,
    REAL_MODELS,
    TINY_NOTICE,
    DemoOutcome,
    DemoSize,
    find_example,
    real_model_commands,
    run_demo,
)

__all__ = [
    "DEFAULT_EMBEDDER",
    "DEFAULT_MODEL",
    "DEFAULT_OUT",
    "DEMO_NOTICE",
    "FULL",
    "QUICK",
    "REAL_MODELS",
    "TINY_NOTICE",
    "DemoOutcome",
    "DemoSize",
    "TinyModelSpec",
    "corpus",
    "documents",
    "ensure_tiny_model",
    "find_example",
    "is_built",
    "pretrain",
    "real_model_commands",
    "run_demo",
]
