"""The ladder's planning parts through the public `Ladder`: estimates, the budget check, the training set."""

from pathlib import Path

from tunewise.ladder import Ladder, load_ladder_config

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "support-bot" / "ladder.toml"


def test_each_rung_of_the_support_bot_fits_its_budget_and_a_tenth_of_it_stops_the_fine_tune(tmp_path: Path) -> None:
    config = load_ladder_config(EXAMPLE, out=tmp_path / "out")
    ladder = Ladder(config)
    estimates = {rung: ladder.estimate(rung) for rung in config.rungs}
    assert all(ladder.check_budget(rung, e) is None for rung, e in estimates.items())
    assert config.budget.max_dollars is not None
    tight = Ladder(config.model_copy(update={"budget": config.budget.model_copy(update={"max_dollars": 0.01})}))
    why = tight.check_budget("fine_tune", tight.estimate("fine_tune"))
    assert why is not None and why.startswith("fine_tune is estimated at $") and "$0.01 budget" in why


def test_the_fine_tune_estimate_counts_its_training_tokens_and_the_test_answers(tmp_path: Path) -> None:
    ladder = Ladder(load_ladder_config(EXAMPLE, out=tmp_path / "out"))
    training = ladder.training_tokens() * ladder.epochs()
    assert training > 0
    assert ladder.estimate("fine_tune").tokens > training  # plus the fine-tuned model answering the test split
    assert ladder.estimate("zero_shot").tokens < training
