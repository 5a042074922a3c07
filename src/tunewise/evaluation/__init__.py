"""Evaluation: cases, metrics, a resumable concurrent runner, a SQLite run store, paired statistics, reports.

```python
from tunewise.evaluation import evaluate, compare_runs, build_report, RunStore
```
"""

from tunewise.evaluation._batch import BatchOptions, batch_pricing
from tunewise.evaluation._cache import CacheHit, ResponseCache, active_cache, use_cache
from tunewise.evaluation._cases import Case, load_cases
from tunewise.evaluation._compare import (
    Comparison,
    PairwiseSummary,
    apply_correction,
    compare_runs,
    compare_scores,
    judge_pairs,
    resolve,
)
from tunewise.evaluation._config import EvalConfig, EvalFile, PriceTable, load_config
from tunewise.evaluation._failures import ErrorCause, error_causes, normalize_error, stops_run
from tunewise.evaluation._groups import SMALL_GROUP, group_of, split_by_group
from tunewise.evaluation._metrics import (
    Contains,
    EmbeddingCosine,
    ExactMatch,
    FunctionMetric,
    JsonSchemaValid,
    LLMJudge,
    Metric,
    MustContain,
    PairwiseJudge,
    PairwiseVerdict,
    RegexMatch,
    Score,
    TokenF1,
    as_metric,
    normalize,
    register_metric,
    token_f1,
)
from tunewise.evaluation._report import GroupSummary, Report, build_report
from tunewise.evaluation._runner import CostFunction, RunSummary, answer_cost, evaluate
from tunewise.evaluation._runstore import CaseResult, RunInfo, RunStore
from tunewise.evaluation._stats import (
    McNemar,
    adjust_p_values,
    bootstrap_mean_ci,
    cohens_dz,
    mcnemar_exact,
    mean_ci,
    paired_permutation_test,
    power_paired,
    sample_size_mcnemar,
    sample_size_paired,
    sign_test,
    wilcoxon_signed_rank,
)

__all__ = [
    "SMALL_GROUP",
    "BatchOptions",
    "CacheHit",
    "Case",
    "CaseResult",
    "Comparison",
    "Contains",
    "CostFunction",
    "EmbeddingCosine",
    "ErrorCause",
    "EvalConfig",
    "EvalFile",
    "ExactMatch",
    "FunctionMetric",
    "GroupSummary",
    "JsonSchemaValid",
    "LLMJudge",
    "McNemar",
    "Metric",
    "MustContain",
    "PairwiseJudge",
    "PairwiseSummary",
    "PairwiseVerdict",
    "PriceTable",
    "RegexMatch",
    "Report",
    "ResponseCache",
    "RunInfo",
    "RunStore",
    "RunSummary",
    "Score",
    "TokenF1",
    "active_cache",
    "adjust_p_values",
    "answer_cost",
    "apply_correction",
    "as_metric",
    "batch_pricing",
    "bootstrap_mean_ci",
    "build_report",
    "cohens_dz",
    "compare_runs",
    "compare_scores",
    "error_causes",
    "group_of",
    "evaluate",
    "judge_pairs",
    "load_cases",
    "load_config",
    "mcnemar_exact",
    "mean_ci",
    "normalize_error",
    "normalize",
    "paired_permutation_test",
    "power_paired",
    "register_metric",
    "resolve",
    "sample_size_mcnemar",
    "sample_size_paired",
    "sign_test",
    "split_by_group",
    "stops_run",
    "token_f1",
    "use_cache",
    "wilcoxon_signed_rank",
]
