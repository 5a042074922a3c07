"""The progressive ladder: zero-shot -> few-shot -> optimized prompt -> fine-tune -> RAG + fine-tune.

```python
from tunewise.ladder import run_ladder, build_ladder_report

outcome = await run_ladder("ladder.toml")        # resumes from its output folder
print(outcome.recommendation().chosen)
```

Imported on first use (``import tunewise`` does not load it).
"""

from tunewise.ladder._config import RUNG_ORDER, LadderConfig, RungKind, load_ladder_config
from tunewise.ladder._knowledge import read_knowledge_base
from tunewise.ladder._ladder import Estimate, Ladder, LadderOutcome, run_ladder
from tunewise.ladder._optimize import Failure, parse_candidates, writer_prompt
from tunewise.ladder._recommend import Recommendation, RungCost, recommend
from tunewise.ladder._report import LadderReport, build_ladder_report, load_outcome, write_report
from tunewise.ladder._state import Candidate, FineTuneRecord, GroupResult, LadderState, MetricSummary, RungResult

__all__ = [
    "RUNG_ORDER",
    "Candidate",
    "Estimate",
    "Failure",
    "FineTuneRecord",
    "GroupResult",
    "Ladder",
    "LadderConfig",
    "LadderOutcome",
    "LadderReport",
    "LadderState",
    "MetricSummary",
    "Recommendation",
    "RungCost",
    "RungKind",
    "RungResult",
    "build_ladder_report",
    "load_ladder_config",
    "load_outcome",
    "parse_candidates",
    "read_knowledge_base",
    "recommend",
    "run_ladder",
    "write_report",
    "writer_prompt",
]
