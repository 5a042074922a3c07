"""Training-size arithmetic for OpenAI fine-tuning: default epochs, billed tokens, cost.

Pure functions with OpenAI's published rule (as its cookbook states it): aim for 3
epochs, but keep examples x epochs within [100, 25000] and epochs within [1, 25].
Each example is billed up to the token limit; longer examples are truncated.
"""

from __future__ import annotations

from collections.abc import Iterable

TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25
#: The cookbook's per-example limit (gpt-3.5-turbo's context); pass the target model's own limit where it differs.
DEFAULT_MAX_TOKENS = 16_385
#: Training-example context lengths OpenAI publishes, by model-name prefix (first match wins).
TRAINING_TOKEN_LIMITS: tuple[tuple[str, int], ...] = (
    ("gpt-4o-mini", 65_536),
    ("gpt-4o", 65_536),
    ("gpt-3.5-turbo", 16_385),
)


def training_token_limit(model: str) -> int | None:
    """The per-example token limit for fine-tuning ``model``, where OpenAI publishes one; else ``None``."""
    name = model.split(":", 1)[1] if model.startswith("openai:") else model
    name = name.removeprefix("ft:")
    for prefix, limit in TRAINING_TOKEN_LIMITS:
        if name.startswith(prefix):
            return limit
    return None


def default_epochs(n_examples: int) -> int:
    """The number of epochs OpenAI picks when you do not set one."""
    if n_examples <= 0:
        return TARGET_EPOCHS
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    if n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return TARGET_EPOCHS


def billed_tokens(example_tokens: Iterable[int], max_tokens: int = DEFAULT_MAX_TOKENS) -> int:
    """Tokens billed for one epoch: each example counts up to ``max_tokens``."""
    return sum(min(max_tokens, n) for n in example_tokens)


def training_cost(billed_training_tokens: int, price_per_1m_training_tokens: float) -> float:
    """Cost in the price's currency of training on that many tokens (all epochs included)."""
    return billed_training_tokens * price_per_1m_training_tokens / 1_000_000
