"""Fine-tune data toolkit: load, validate, count tokens, estimate, split, deduplicate, check leakage, convert.

Imported only when used (``import tunewise`` does not load it). Everything streams a
JSONL file line by line, names file, line and field in every problem, and works
offline: the tiktoken encodings ship inside the package.

```python
from tunewise.data import analyze

report = analyze("train.jsonl", model="gpt-4o-mini", max_tokens=65536)
print(report.ok, report.n_examples, report.billed_training_tokens)
```
"""

from __future__ import annotations

from tunewise.data._analyze import MIN_EXAMPLES, RECOMMENDED_MIN_EXAMPLES, DataReport, analyze
from tunewise.data._checks import check_example
from tunewise.data._convert import ConvertReport, convert, detect_format
from tunewise.data._dedup import DedupReport, Duplicate, dedup
from tunewise.data._distribution import Histogram, Summary
from tunewise.data._encodings import encoding_for_model, load_encoding
from tunewise.data._estimate import (
    DEFAULT_MAX_TOKENS,
    billed_tokens,
    default_epochs,
    training_cost,
    training_token_limit,
)
from tunewise.data._jsonl import Example, load_examples, read_jsonl
from tunewise.data._leakage import Leak, LeakageReport, leakage
from tunewise.data._problems import Problem, Severity
from tunewise.data._similarity import CompareOn, example_text
from tunewise.data._split import DEFAULT_RATIOS, SplitReport, split, split_sizes
from tunewise.data._tokens import HuggingFaceCounter, TiktokenCounter, TokenCounter, count_messages, token_counter

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_RATIOS",
    "MIN_EXAMPLES",
    "RECOMMENDED_MIN_EXAMPLES",
    "CompareOn",
    "ConvertReport",
    "DataReport",
    "DedupReport",
    "Duplicate",
    "Example",
    "Histogram",
    "HuggingFaceCounter",
    "Leak",
    "LeakageReport",
    "Problem",
    "Severity",
    "SplitReport",
    "Summary",
    "TiktokenCounter",
    "TokenCounter",
    "analyze",
    "billed_tokens",
    "check_example",
    "convert",
    "count_messages",
    "dedup",
    "default_epochs",
    "detect_format",
    "encoding_for_model",
    "example_text",
    "leakage",
    "load_encoding",
    "load_examples",
    "read_jsonl",
    "split",
    "split_sizes",
    "token_counter",
    "training_cost",
    "training_token_limit",
]
