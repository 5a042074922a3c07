"""Checks on the support-bot example data in examples/support-bot/ (stdlib only)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "support-bot"
KB = EXAMPLE / "kb"
SIGN_OFF = "— Lumen Support"
GREETING = "Hi there!"
HANDOFF = "I'm handing this to a teammate who can help — you'll hear from us within one business day."
KINDS = {"kb", "style", "handoff", "general"}
ROLES = {"system", "user", "assistant"}


def normalize(text: str) -> str:
    return " ".join(text.lower().split())


def load(name: str) -> list[dict[str, Any]]:
    lines = (EXAMPLE / name).read_text(encoding="utf-8").splitlines()
    rows = []
    for number, line in enumerate(lines, start=1):
        assert line.strip(), f"{name}:{number} is empty"
        row = json.loads(line)
        assert isinstance(row, dict), f"{name}:{number} is not an object"
        rows.append(row)
    return rows


TRAIN = load("train.jsonl")
TEST = load("test.jsonl")
DEV = load("dev.jsonl")
CASES = TEST + DEV
SYSTEM = (EXAMPLE / "system_prompt.txt").read_text(encoding="utf-8").strip()
ARTICLES = sorted(KB.glob("*.md"))


def user_texts(rows: list[dict[str, Any]]) -> list[str]:
    return [m["content"] for row in rows for m in row["messages"] if m["role"] == "user"]


def test_counts() -> None:
    assert len(ARTICLES) >= 30
    assert len(TRAIN) >= 150
    assert len(TEST) >= 60
    assert len(DEV) == 20


@pytest.mark.parametrize("article", ARTICLES, ids=lambda p: p.name)
def test_kb_article_shape(article: Path) -> None:
    text = article.read_text(encoding="utf-8")
    assert text.startswith("# "), "an article starts with its # Title"
    assert re.search(r"^## \S", text, flags=re.MULTILINE), "an article has ## sections"
    assert article.name.split("-")[0] in {
        "billing",
        "accounts",
        "troubleshooting",
        "policies",
        "integrations",
        "security",
    }
    words = len(text.split())
    assert 150 <= words <= 500, f"{words} words"


@pytest.mark.parametrize("name", ["train.jsonl", "test.jsonl", "dev.jsonl"])
def test_messages_are_valid_chat(name: str) -> None:
    for row in load(name):
        messages = row["messages"]
        assert all(set(m) == {"role", "content"} for m in messages)
        assert all(m["role"] in ROLES and isinstance(m["content"], str) and m["content"] for m in messages)
        assert messages[0] == {"role": "system", "content": SYSTEM}
        rest = [m["role"] for m in messages[1:]]
        assert rest, "at least one user turn"
        expected = ["user", "assistant"] * len(rest)
        assert rest == expected[: len(rest)], "user and assistant alternate after the system prompt"


def test_train_rows_end_with_an_assistant_in_house_style() -> None:
    for row in TRAIN:
        assert set(row) == {"messages"}
        assert row["messages"][-1]["role"] == "assistant"
        for message in row["messages"]:
            if message["role"] == "assistant":
                assert message["content"].startswith(GREETING), message["content"]
                assert message["content"].endswith(SIGN_OFF), message["content"]


def test_cases_are_well_formed() -> None:
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids)), "ids are unique across test and dev"
    for case in CASES:
        assert case["messages"][-1]["role"] == "user", case["id"]
        assert case["reference"].startswith(GREETING), case["id"]
        assert case["reference"].endswith(SIGN_OFF), case["id"]
        meta = case["metadata"]
        assert meta["kind"] in KINDS, case["id"]
        assert meta["must_contain"], case["id"]
        if meta["kind"] == "kb":
            assert (EXAMPLE / meta["source"]).is_file(), case["id"]
        if meta["kind"] == "handoff":
            assert HANDOFF in meta["must_contain"], case["id"]


def test_the_mix_of_kinds() -> None:
    for rows in (TEST, DEV):
        kinds = [row["metadata"]["kind"] for row in rows]
        assert set(kinds) == KINDS
        assert kinds.count("kb") / len(kinds) >= 0.35
        assert kinds.count("style") / len(kinds) >= 0.25


def test_must_contain_is_in_the_reference_and_the_cited_article() -> None:
    for case in CASES:
        meta = case["metadata"]
        for fact in meta["must_contain"]:
            assert normalize(fact) in normalize(case["reference"]), (case["id"], fact)
            if meta["kind"] == "kb":
                article = (EXAMPLE / meta["source"]).read_text(encoding="utf-8")
                assert normalize(fact) in normalize(article), (case["id"], fact)


def test_kb_cases_need_the_knowledge_base() -> None:
    train_text = normalize(" ".join(m["content"] for row in TRAIN for m in row["messages"]))
    for case in CASES:
        if case["metadata"]["kind"] == "kb":
            facts = case["metadata"]["must_contain"]
            assert any(normalize(f) not in train_text for f in facts), (case["id"], "key fact also in train")


def test_questions_are_not_reused() -> None:
    train = {normalize(q) for q in user_texts(TRAIN)}
    test = {normalize(q) for q in user_texts(TEST)}
    dev = {normalize(q) for q in user_texts(DEV)}
    assert not (test & train)
    assert not (dev & train)
    assert not (dev & test)


def test_questions_are_not_close_paraphrases_of_training_questions() -> None:
    def words(text: str) -> set[str]:
        return set(re.findall(r"[a-z0-9']+", text.lower()))

    train = [words(q) for q in user_texts(TRAIN)]
    for question in user_texts(CASES):
        mine = words(question)
        closest = max(len(mine & other) / len(mine | other) for other in train)
        assert closest < 0.6, question


def test_generator_reproduces_the_committed_data() -> None:
    spec = importlib.util.spec_from_file_location("support_bot_generate", EXAMPLE / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    train, test, dev = (
        module.build_train(),
        module.build_cases(module.TEST_CASES, "t"),
        module.build_cases(module.DEV_CASES, "d"),
    )
    module.check(train, test, dev)
    assert (train, test, dev) == (TRAIN, TEST, DEV), "run python examples/support-bot/generate.py"
