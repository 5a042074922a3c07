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
