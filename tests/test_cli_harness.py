"""One harness for the whole command line: every command, every parameter, every kind of bad value.

The typer app is walked (every group, command, option and argument). Each parameter gets the
bad values of its kind, derived from its type: missing, empty, blank, NUL, wrong type, out of
its declared range, non-finite, too large for 64 bits, a path that does not exist, a file where
a folder belongs (and the reverse), a path under a file, a choice that is not one, a value for a
flag. Hypothesis adds generated values (markup, control characters, NaN, huge numbers). Each
case runs through :func:`tunewise.cli._app.run`, the console entry's own error handling, in a
fresh working folder and ``TUNEWISE_HOME``. A bad value must end with:

- exit status 2 (a usage error), never 0, and no traceback;
- exactly one line on stderr, ``error: ...``, naming the parameter or the value;
- nothing created on disk.

Free text (a query, a model name, a profile) may be valid; those cases may succeed, but never
crash, never print a traceback, and leave nothing behind when they fail.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import pytest
import typer.main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.markup import render

from tunewise.cli._app import app
from tunewise.cli._app import run as run_cli
from tunewise.cli._command import INT_LIMIT

ROOT: Any = typer.main.get_command(app)

CHAT = {
    "messages": [{"role": "user", "content": "Where is my order?"}, {"role": "assistant", "content": "On its way."}]
}

BASE: dict[str, dict[str, list[str]]] = {
    # Valid values for each command's required parameters (and a few cheap anchors), by parameter name.
    # Commands whose base would start real work are anchored on something that fails fast *after*
    # parsing (an empty config, a missing run), so only the bad value under test can stop parsing.
    "providers": {},
    "breakeven": {},
    "cost": {"model": ["--model", "openai:gpt-4o-mini"], "prompt_tokens": ["--prompt-tokens", "100"]},
    "prices": {},
    "serve": {"target": ["missing.toml"]},
    "chat": {"target": ["missing.toml"]},
    "eval run": {"config": ["eval.toml"]},
    "eval compare": {"run_a": ["a"], "run_b": ["b"]},
    "eval report": {"run": ["a"]},
    "eval runs": {},
    "eval export": {"run": ["a"]},
    "data validate": {"file": ["chat.jsonl"]},
    "data stats": {"file": ["chat.jsonl"]},
    "data split": {"file": ["chat.jsonl"], "out_dir": ["--out-dir", "splits"]},
    "data dedup": {"file": ["chat.jsonl"]},
    "data leakage": {"files": ["chat.jsonl", "other.jsonl"]},
    "data convert": {"file": ["alpaca.jsonl"], "out": ["--out", "converted.jsonl"]},
    "index add": {"paths": ["docs"], "embedder": ["--embedder", "scripted:hashing-64"]},
    "index query": {"text": ["battery"]},
    "index stats": {},
    "index remove": {"paths": ["docs/a.md"]},
    "index drop": {"yes": ["--yes"]},
    "local tiny": {"directory": ["tiny-model"]},
    "local train": {"base_model": ["folder"], "training_file": ["chat.jsonl"]},
    "local jobs": {},
    "local status": {"job_id": ["job-1"]},
    "local cancel": {"job_id": ["job-1"]},
    "local merge": {"base_model": ["folder"], "adapter": ["folder"], "output": ["merged"]},
    "ladder run": {"config": ["ladder.toml"]},
    "ladder report": {},
    "demo support-bot": {"example": ["--example", "folder"]},
}

HEAVY = {
    "local train",
    "local merge",
    "local status",
    "local cancel",
    "local jobs",
    "demo support-bot",
    "serve",
    "chat",
}
"""Commands that start real work once parsing passes: only values parsing must reject are tried there."""

XFAIL: dict[str, str] = {}
"""Case ids known to fail, with the helper whose part they are (``xfail(strict=True)``)."""


def commands(group: Any = ROOT, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    subs = getattr(group, "commands", None)
    if subs:
        for name, sub in sorted(subs.items()):
            yield from commands(sub, (*path, name))
    else:
        yield path, group


COMMANDS = dict(commands())


def test_every_command_has_a_base() -> None:
    """A new command must say here which valid values its required parameters take."""
    assert sorted(" ".join(p) for p in COMMANDS) == sorted(BASE)


@dataclass(frozen=True)
class Case:
    command: tuple[str, ...]
    param: str
    kind: str
    args: tuple[str, ...]
    names: tuple[str, ...]
    value: str | None
    strict: bool

    @property
    def id(self) -> str:
        shown = repr(self.value)[:30] if self.value is not None else ""
        return f"{' '.join(self.command)}:{self.param}:{self.kind}:{shown}"


def _element(param: Any) -> Any:
    descriptor = param.type_descriptor
    annotation = descriptor.annotation
    if descriptor.is_list:
        (annotation,) = get_args(annotation)
    return annotation


def bad_values(param: Any) -> list[tuple[str, str, bool]]:
    """``(kind, value, strict)`` for one parameter, from its type, range and path rules."""
    descriptor = param.type_descriptor
    info = descriptor.parameter_info
    values: list[tuple[str, str, bool]] = [("empty", "", True), ("blank", "   ", True), ("nul", "a\x00b", True)]
    if getattr(param, "is_flag", False):
        return []  # flags: see flag_cases
    if descriptor.is_choice:
        return [*values, ("not-a-choice", "nosuch", True), ("garbage", "[/bold]x", True)]
    annotation = _element(param)
    if descriptor.is_path:
        if info.exists:
            values.append(("nonexistent", "does/not/exist", True))
            if not info.dir_okay:
                values.append(("folder-for-file", "folder", True))
        if not info.file_okay:
            values.append(("file-for-folder", "chat.jsonl", True))
        if not info.exists:
            values.append(("under-a-file", "chat.jsonl/inside", True))
        return values
    if annotation is int:
        values += [("word", "abc", True), ("fraction", "1.5", True), ("huge", str(10**30), True)]
        values.append(("too-large", str(INT_LIMIT + 1), True))
        if info.min is not None:
            values.append(("below-min", str(int(info.min) - 1), True))
        if info.max is not None:
            values.append(("above-max", str(int(info.max) + 1), True))
        return values
    if annotation is float:
        values += [("word", "abc", True), ("nan", "nan", True), ("inf", "inf", True), ("-inf", "-inf", True)]
        values.append(("overflow", "1e999", True))
        if info.min is not None:
            values.append(("below-min", str(float(info.min) - 0.5), True))
        if info.max is not None:
            values.append(("above-max", str(float(info.max) + 0.5), True))
        return values
    # Free text: may be valid, must never crash.
    return [*values, ("markup", "[/settings] [bold]x", False), ("control", "a\x1b[31mb\x07c\td", False)]


def _base(command: tuple[str, ...], without: str | None = None) -> list[str]:
    return [token for name, tokens in BASE[" ".join(command)].items() if name != without for token in tokens]


def _names(param: Any) -> tuple[str, ...]:
    names = [*param.opts, *getattr(param, "secondary_opts", ())]
    if param.param_type_name == "argument":
        names += [f"'{param.name}'", f"'{param.metavar}'" if param.metavar else f"'{param.name}'"]
    return tuple(names)


def _with(command: tuple[str, ...], param: Any, tokens: list[str]) -> list[str]:
    return [*command, *_base(command, without=param.name), *tokens]


def cases() -> Iterator[Case]:
    for command, cmd in COMMANDS.items():
        heavy = " ".join(command) in HEAVY
        for param in cmd.params:
            names = _names(param)
            if param.required:
                # A missing argument lets the next one take its place: the error may name any of them.
                missing = names if param.param_type_name == "option" else _all_argument_names(cmd)
                args = (*command, *_base(command, param.name))
                yield Case(command, param.name, "missing", args, missing, None, True)
            if getattr(param, "is_flag", False):
                for opt in param.opts:
                    if opt.startswith("--"):
                        args = (*_with(command, param, []), f"{opt}=maybe")
                        yield Case(command, param.name, "value-for-flag", args, names, "maybe", True)
                continue
            is_option = param.param_type_name == "option"
            if is_option:
                args = (*_with(command, param, []), param.opts[0])  # the option last, with no value
                yield Case(command, param.name, "no-value", args, names, None, True)
            for kind, value, strict in bad_values(param):
                if heavy and not strict:
                    continue
                tokens = [param.opts[0], value] if is_option else ["--", value]
                if not is_option and any(p.param_type_name == "argument" for p in cmd.params if p is not param):
                    # Several arguments: keep their order and replace this one's value in place.
                    args = [*command]
                    for p in cmd.params:
                        if p.param_type_name == "argument":
                            args += [value] if p is param else BASE[" ".join(command)].get(p.name, [])
                    args += [t for n, ts in BASE[" ".join(command)].items() if n not in _arguments(cmd) for t in ts]
                    yield Case(command, param.name, kind, tuple(args), names, value, strict)
                    continue
                yield Case(command, param.name, kind, tuple(_with(command, param, tokens)), names, value, strict)


def _all_argument_names(cmd: Any) -> tuple[str, ...]:
    return tuple(n for p in cmd.params if p.param_type_name == "argument" for n in _names(p))


def _arguments(cmd: Any) -> set[str]:
    return {p.name for p in cmd.params if p.param_type_name == "argument"}


CASES = list(cases())


def _fixtures(work: Path) -> None:
    """What the base invocations refer to, in the working folder."""
    work.mkdir(parents=True, exist_ok=True)
    examples = [
        {"messages": [{"role": "user", "content": f"Question {i} about order {i * 7}?"}, CHAT["messages"][1]]}
        for i in range(12)
    ]
    (work / "chat.jsonl").write_text("".join(json.dumps(e) + "\n" for e in examples))
    (work / "other.jsonl").write_text(json.dumps(CHAT) + "\n")
    (work / "alpaca.jsonl").write_text(json.dumps({"instruction": "Hi?", "output": "Hello."}) + "\n")
    (work / "eval.toml").write_text("")
    (work / "ladder.toml").write_text("")
    (work / "folder").mkdir()
    (work / "docs").mkdir()
    (work / "docs" / "a.md").write_text("# Battery\n\nThe battery lasts [/settings] two years.\n")


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@dataclass
class Outcome:
    status: int
    out: str
    err: str


def invoke(args: list[str] | tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> Outcome:
    capsys.readouterr()
    status = run_cli(list(args))
    captured = capsys.readouterr()
    return Outcome(status, captured.out, captured.err)


def check(case: Case, outcome: Outcome, created: set[str]) -> None:
    text = outcome.out + outcome.err
    assert "Traceback" not in text, text
    assert "a bug in tunewise" not in text, text  # an unexpected exception, reported by main's last resort
    if outcome.status == 0:
        assert not case.strict, f"exit 0 on a bad value: {case.args!r}\n{text}"
        return
    assert outcome.status in (1, 2), outcome.status
    errors = [line for line in outcome.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, f"expected one error line, got:\n{outcome.err}"
    assert not created, f"created {sorted(created)} although the command failed"
    if case.strict:
        assert outcome.status == 2, (outcome.status, outcome.err)
        line = errors[0]
        named = any(name in line for name in case.names)
        shown = case.value is not None and case.value.strip() and case.value in line
        assert named or shown, f"the error names neither {case.names} nor the value {case.value!r}: {line}"


def _params() -> list[Any]:
    marks = []
    for case in CASES:
        reason = XFAIL.get(case.id)
        marks.append(
            pytest.param(case, id=case.id, marks=pytest.mark.xfail(strict=True, reason=reason) if reason else ())
        )
    return marks


@pytest.mark.parametrize("case", _params())
def test_bad_value_is_one_line_and_changes_nothing(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "work"
    _fixtures(work)
    monkeypatch.chdir(work)
    before = _tree(tmp_path)
    outcome = invoke(case.args, capsys)
    check(case, outcome, _tree(tmp_path) - before)


def test_the_harness_is_large() -> None:
    """The harness covers every command with many cases (a guard against a walk that finds nothing)."""
    assert len(COMMANDS) >= 30
    assert len(CASES) >= 500
    assert {" ".join(c.command) for c in CASES} == set(BASE)


# --- hypothesis: generated values for every parameter -----------------------------------------------------

NUMERIC = [
    (command, param)
    for command, cmd in COMMANDS.items()
    for param in cmd.params
    if not getattr(param, "is_flag", False) and _element(param) in (int, float)
]
TEXTUAL = [
    (command, param)
    for command, cmd in COMMANDS.items()
    if " ".join(command) not in HEAVY
    for param in cmd.params
    if param.param_type_name == "option" and _element(param) is str and not param.type_descriptor.is_choice
]


def _valid(param: Any, number: float) -> bool:
    """Whether the option would take ``number``: finite, in its declared range, a whole number for an int."""
    info = param.type_descriptor.parameter_info
    if not math.isfinite(number):
        return False
    if _element(param) is int and (abs(number) > INT_LIMIT or not float(number).is_integer()):
        return False
    return (info.min is None or number >= info.min) and (info.max is None or number <= info.max)


def _run_fresh(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[Outcome, set[str]]:
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        root = Path(folder)
        _fixtures(root / "work")
        patch.chdir(root / "work")
        patch.setenv("TUNEWISE_HOME", str(root / "home"))
        before = _tree(root)
        outcome = invoke(args, capsys)
        return outcome, _tree(root) - before


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([0, -1, 1, 65536, 2**63, -(2**63) - 1, 1e-320]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(NUMERIC), number=numbers)
def test_generated_numbers(target: tuple[tuple[str, ...], Any], number: float, capsys: Any) -> None:
    command, param = target
    value = repr(number) if isinstance(number, float) else str(number)
    if _valid(param, number):
        return  # a good value may start real work: the harness is about bad ones
    tokens = [param.opts[0], value] if param.param_type_name == "option" else ["--", value]
    case = Case(command, param.name, "generated", tuple(_with(command, param, tokens)), _names(param), value, True)
    outcome, created = _run_fresh(list(case.args), capsys)
    check(case, outcome, created)


texts = st.one_of(
    st.text(min_size=1, max_size=40),
    st.sampled_from(["[/bold]", "[red]x[/red]", "[/settings]", "\\[x]", "a]]b[[c", "\x1b[2J", "\ud800", "\u202e"]),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(TEXTUAL), text=texts)
def test_generated_text(target: tuple[tuple[str, ...], Any], text: str, capsys: Any) -> None:
    command, param = target
    strict = not text.strip() or "\x00" in text
    case = Case(command, param.name, "generated", tuple(_with(command, param, [param.opts[0], text])), (), text, False)
    outcome, created = _run_fresh(list(case.args), capsys)
    check(case, outcome, created)
    if strict:
        assert outcome.status == 2


# --- --json is strict JSON --------------------------------------------------------------------------------


def _no_constant(name: str) -> Any:
    raise AssertionError(f"{name} is not JSON")


BREAKEVEN_PRICES = ["--price-per-1k", "0.002", "--finetune-cost", "50", "--json"]  # never pays back
BREAKEVEN_FREE = ["--price-per-1k", "0", "--finetune-cost", "0", "--json"]  # nothing to save, nothing spent
JSON_RUNS = [
    ["providers", "--json"],
    ["prices", "--json"],
    ["prices", "openai:gpt-4o-mini", "--json"],
    ["cost", "--model", "openai:gpt-4o-mini", "--prompt-tokens", "1000", "--json"],
    ["breakeven", *("--tokens-saved", "500", "--requests-per-month", "0"), *BREAKEVEN_PRICES],
    ["breakeven", *("--tokens-saved", "0", "--requests-per-month", "1000"), *BREAKEVEN_FREE],
    ["data", "validate", "chat.jsonl", "--json"],
    ["data", "stats", "chat.jsonl", "--json", "--price-per-1m-training-tokens", "0"],
    ["data", "split", "chat.jsonl", "--out-dir", "splits", "--json"],
    ["data", "dedup", "chat.jsonl", "--json"],
    ["data", "leakage", "chat.jsonl", "other.jsonl", "--json"],
    ["data", "convert", "alpaca.jsonl", "--out", "converted.jsonl", "--json"],
    ["index", "add", "docs", "--embedder", "scripted:hashing-64", "--json"],
]


@pytest.mark.parametrize("args", JSON_RUNS, ids=[" ".join(a[:2]) for a in JSON_RUNS])
def test_json_output_is_strict(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fixtures(tmp_path / "work")
    monkeypatch.chdir(tmp_path / "work")
    outcome = invoke(args, capsys)
    assert outcome.status in (0, 1), outcome.err  # 1: data with problems (leakage) still prints its report
    json.loads(outcome.out, parse_constant=_no_constant)


# --- help renders as written ------------------------------------------------------------------------------

ALL_PATHS = [(), *sorted({command[:i] for command in COMMANDS for i in range(1, len(command) + 1)})]
TYPE_LABEL = r"<(bool|int|float|str|path|file|dir|list|dict|tuple|Path)\b"


def _find(path: tuple[str, ...]) -> Any:
    found = ROOT
    for name in path:
        found = found.commands[name]
    return found


@pytest.mark.parametrize("path", ALL_PATHS, ids=[" ".join(p) or "tunewise" for p in ALL_PATHS])
def test_help_renders_as_written(
    path: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import re

    monkeypatch.setenv("COLUMNS", "400")  # one line per row, so texts can be compared whole
    monkeypatch.setenv("NO_COLOR", "1")
    outcome = invoke([*path, "--help"], capsys)
    assert outcome.status == 0, outcome.err
    shown = outcome.out
    flat = " ".join(shown.split())
    assert "[]" not in shown
    assert not re.search(r"\w \.(\s|$)", shown), "a sentence lost its bracketed end"
    assert not re.search(TYPE_LABEL, shown), "a Python type shown as a placeholder"
    command = _find(path)
    for param in command.params:
        help_text = " ".join((param.help or "").split())
        written = render(help_text).plain  # the help as the author wrote it (before escaping)
        assert written in flat, f"{param.name}: help not shown as written: {written!r}"
        if getattr(param, "is_flag", False):
            for opt in param.opts:
                assert not re.search(re.escape(opt) + r"\s+(TEXT|BOOLEAN|INTEGER|FLOAT|<)", shown), opt
        elif param.param_type_name == "option":  # a value placeholder: TEXT, INTEGER..., the choices, a metavar
            labels = "|".join(
                ["TEXT", "INTEGER", "FLOAT", "FILE", "DIR", "PATH", r"\[\w", re.escape(param.metavar or "TEXT")]
            )
            assert re.search(re.escape(param.opts[0]) + rf"\b[^\n]*?\s({labels})", shown), param.opts[0]
    if command.help:
        first = " ".join(render(command.help).plain.split("\n\n")[0].split())
        assert first in flat, f"command help not shown as written: {first!r}"


def test_env_is_untouched_by_the_harness() -> None:
    assert "TUNEWISE_TRACEBACK" not in os.environ


# --- the reported inputs, each one of a kind the harness covers in general ----------------------------------


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _fixtures(tmp_path / "work")
    monkeypatch.chdir(tmp_path / "work")
    return tmp_path / "work"


INDEX = ["--path", "kb", "--embedder", "scripted:hashing-64"]


def test_hit_text_is_never_markup(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (work / "docs" / "b.pdf").write_bytes(b"%PDF-1.4")
    (work / "docs" / "c.pdf").write_bytes(b"%PDF-1.4")
    added = invoke(["index", "add", "docs", *INDEX, "--json"], capsys)
    assert added.status == 0, added.err
    assert json.loads(added.out)["skipped"] == {".pdf": 2}
    assert added.err.splitlines()[-1].startswith("warning: skipped 2 files no loader reads (2 .pdf)")
    found = invoke(["index", "query", "battery settings", *INDEX], capsys)
    assert found.status == 0, found.err
    assert "[/settings]" in found.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["index", "query", "x", *INDEX, "--where", '{"kind": {"$regex": "x"}}'], "unknown operator '$regex'"),
        (["index", "query", "x", *INDEX, "--where", '{"kind": {"$in": []}}'], "$in needs a non-empty list"),
        (["index", "query", "x", *INDEX, "-k", "-5"], "'--k' / '-k'"),
        (["index", "stats", "--path", "typo"], "no index at"),
        (["eval", "runs", "--store", "chat.jsonl"], "chat.jsonl is not a run store"),
        (["eval", "run", "eval.toml", "-c", "0"], "'--concurrency' / '-c'"),
        (["local", "tiny", "tiny-model", "--layers", "0"], "'--layers'"),
        (["local", "tiny", "tiny-model", "--hidden-size", "6", "--heads", "4"], "even size"),
        (["data", "convert", "chat.jsonl", "--out", "converted.jsonl"], "already in chat format"),
        (["data", "convert", "alpaca.jsonl", "--out", "alpaca.jsonl"], "is the input file"),
    ],
)
def test_reported_inputs(args: list[str], message: str, work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if args[:3] == ["index", "query", "x"]:
        assert invoke(["index", "add", "docs", *INDEX], capsys).status == 0
    before = _tree(work)
    outcome = invoke(args, capsys)
    assert outcome.status == 2 and outcome.out == ""
    assert outcome.err.count("\n") == 1 and outcome.err.startswith("error: ") and message in outcome.err
    assert _tree(work) == before


def test_a_file_of_blank_lines_has_no_examples(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (work / "blank.jsonl").write_text("\n  \n\n")
    outcome = invoke(["data", "validate", "blank.jsonl"], capsys)
    assert outcome.status == 1
    assert "blank.jsonl: file holds only blank lines: no examples [empty_file]" in outcome.out
    assert outcome.out.splitlines()[-1].startswith("FAILED: 0 examples")


def test_rewritten_files_keep_their_permissions(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = work / "deduped.jsonl"
    target.write_text("old\n")
    target.chmod(0o640)
    assert invoke(["data", "dedup", "chat.jsonl", "--out", "deduped.jsonl"], capsys).status == 0
    assert target.stat().st_mode & 0o777 == 0o640 and target.read_text() != "old\n"


def test_prices_must_be_finite(work: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (work / "tunewise.toml").write_text('[prices."openai:house"]\ninput = inf\noutput = 1\n')
    monkeypatch.setenv("TUNEWISE_CONFIG", str(work / "tunewise.toml"))
    outcome = invoke(["cost", "--model", "openai:house", "--prompt-tokens", "10"], capsys)
    assert outcome.status == 2
    assert (
        outcome.err.startswith("error: ")
        and "prices.'openai:house': input: Input should be a finite number" in outcome.err
    )


def test_ladder_targets_stay_in_the_metrics_range() -> None:
    from pydantic import ValidationError

    from tunewise.ladder._config import TargetConfig

    with pytest.raises(ValidationError, match="less than or equal to 1"):
        TargetConfig(metric="token_f1", threshold=1.7)
    with pytest.raises(ValidationError, match="finite number"):
        TargetConfig(metric="token_f1", threshold=float("nan"))
