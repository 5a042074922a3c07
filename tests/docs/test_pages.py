"""Every page of the docs and the README runs as written (see conftest.py for how each kind of block runs).

``test_page`` runs every page, found on disk, so a new page is covered the day it is written; the checks
below it add what each page promises beyond "it runs": the files it writes, what it prints, its tables.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT, PageRun, blocks, pages, parse_data

RunPage = Callable[..., PageRun]
FAST = {"docs/configuration.md", "docs/testing.md", "docs/plugins.md", "docs/concepts.md", "docs/strategies.md"}


@pytest.fixture
def fake_openai_env() -> Any:
    """Network blocks that talk to OpenAI run against the fake server, with a made-up key."""
    from tunewise_openai.fake import run_fake_openai

    with run_fake_openai() as server:
        yield {"TUNEWISE_PROFILES__OPENAI__BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-docs-not-a-real-key"}


def options(page: str, tmp_path: Path, fake_env: dict[str, str]) -> dict[str, Any]:
    """What a page needs around it: files a reader already has, shortened benchmarks, the fake OpenAI."""
    if page == "docs/retrieval.md":  # the reader's knowledge base and labelled queries
        shutil.copytree(ROOT / "tests" / "data" / "retrieval" / "docs", tmp_path / "kb")
        shutil.copy(ROOT / "tests" / "data" / "retrieval" / "queries.jsonl", tmp_path / "queries.jsonl")
    if page == "docs/chat.md":  # chat.md continues from serve.md's support bot
        for block in blocks("docs/serve.md"):
            if block.title in ("kb.jsonl", "support.toml"):
                (tmp_path / block.title).write_text(block.body, encoding="utf-8")
    if page == "docs/demo.md":  # "a Hugging Face model directory": a tiny one, built here
        from tunewise_local.tiny import build_tiny_model

        build_tiny_model(tmp_path / "model", max_position_embeddings=4096)  # room for RAG prompts
    return {
        "README.md": {"network_env": fake_env},
        "docs/quickstart.md": {"network_env": fake_env},
        "docs/evaluation.md": {"replace": {"--cases 1000 --latency 0.05 --concurrency 32": "--cases 64 --rounds 1"}},
        "docs/data.md": {"replace": {"bench/data_stats.py": "bench/data_stats.py --examples 2000 --rounds 1"}},
        "docs/demo.md": {"replace": {"/path/to/model --out runs/local": "model --out o --quick --no-progress"}},
        "docs/serve.md": {"compare_output": True},
        "docs/plugins.md": {  # installed into the page's folder, not into the environment running the tests
            "replace": {
                "pip install -e examples/": "pip install -q --no-deps --no-build-isolation --target site examples/"
            },
            "env": {"PYTHONPATH": str(tmp_path / "site")},
        },
        "docs/chat.md": {"compare_output": True},
        "docs/concepts.md": {"compare_output": True},
        "docs/guides/statistics.md": {"compare_output": True},
        "docs/guides/support-bot.md": {"compare_output": True},
        "docs/guides/fine-tuning.md": {
            "network_env": fake_env,
            "compare_output": True,
            "replace": {"poll_interval=30": "poll_interval=0"},  # the fake's jobs move on each poll
        },
    }.get(page, {})


@pytest.mark.parametrize(
    "page", [p if p in FAST else pytest.param(p, marks=pytest.mark.slow) for p in pages()], ids=lambda p: str(p)
)
def test_page(
    page: str,
    run_page: RunPage,
    tmp_path: Path,
    fake_openai_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = run_page(page, **options(page, tmp_path, fake_openai_env))
    check = CHECKS.get(page)
    if check is not None:
        check(run, tmp_path, capsys.readouterr().out)


def test_every_block_either_runs_or_is_marked() -> None:
    """The harness knows every language used; network-only blocks say so on their first line."""
    known = {"python", "bash", "console", "toml", "json", "jsonl", "text", ""}
    for page in pages():
        for block in blocks(page):
            assert block.title is not None or block.lang in known, f"{block.where}: {block.lang}"


# -- what each page promises beyond running ---------------------------------------------------------------------


def check_readme(run: PageRun, tmp_path: Path, out: str) -> None:
    assert "You said: Summarise our refund policy in one line." in out  # the first call, against the fake
    assert [b.where for b in run.checked_only] == [f"README.md:{line}" for line in network_lines("README.md")]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "$(BIN)/tunewise demo support-bot" in makefile  # what tests/demo/ runs, reduced
    assert (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().endswith("make test")


def network_lines(page: str) -> list[int]:
    return [b.line for b in blocks(page) if b.needs_network and b.lang in ("bash", "console")]


def check_quickstart(run: PageRun, tmp_path: Path, out: str) -> None:
    assert "You said:" in out and "category=" in out


def check_configuration(run: PageRun, tmp_path: Path, out: str) -> None:
    from tunewise import load_settings

    (toml,) = [b for b in blocks("docs/configuration.md") if b.lang == "toml"]
    (tmp_path / "tunewise.toml").write_text(toml.body, encoding="utf-8")
    settings = load_settings()
    assert settings.profiles["lab"].base_url == "http://gpu-box:8000/v1"
    (tmp_path / "tunewise.toml").write_text(toml.body.replace("plugin =", "plugn ="), encoding="utf-8")
    with pytest.raises(Exception) as info:
        load_settings()
    page = (ROOT / "docs/configuration.md").read_text(encoding="utf-8").replace("\n", " ")
    assert f"error: {info.value}" in page and "plugn" in str(info.value)


def check_testing(run: PageRun, tmp_path: Path, out: str) -> None:
    import anyio

    import tunewise

    (toml,) = [b for b in blocks("docs/testing.md") if b.lang == "toml"]
    (tmp_path / "tunewise.toml").write_text(toml.body, encoding="utf-8")

    async def ask() -> str:
        async with tunewise.Registry() as registry:
            return (await registry.model("bot:any").chat("Hello?")).text

    assert anyio.run(ask) == "Hi!"


def check_evaluation(run: PageRun, tmp_path: Path, out: str) -> None:
    assert run.executed >= 6
    assert (tmp_path / "reports" / "doubling.html").is_file()
    assert (tmp_path / "reports" / "first.md").is_file()


def check_strategies(run: PageRun, tmp_path: Path, out: str) -> None:
    assert run.executed >= 6


def check_ladder(run: PageRun, tmp_path: Path, out: str) -> None:
    assert "no rung reached the target" in (tmp_path / "ladder-out" / "report.md").read_text(encoding="utf-8")
    assert (tmp_path / "python-out" / "report.html").is_file()


def check_costs(run: PageRun, tmp_path: Path, out: str) -> None:
    from tunewise import Usage, load_settings
    from tunewise.costs import builtin_entries, cost_of, load_catalog, quote

    assert "pays back in" in out
    # the TOML override does what the page says
    (toml,) = [b for b in blocks("docs/costs.md") if b.lang == "toml"]
    (tmp_path / "tunewise.toml").write_text(toml.body, encoding="utf-8")
    catalog = load_catalog(load_settings())
    mini = catalog.quote("openai:gpt-4o-mini")
    assert mini is not None and mini.rates.input == 0.12 and mini.rates.output == 0.60
    assert cost_of("ollama:llama3.2", Usage(prompt_tokens=5, completion_tokens=5), catalog=catalog) == 0.0
    vllm = catalog.quote("vllm:Qwen/Qwen2.5-7B-Instruct")
    assert vllm is not None and vllm.entry.source == "our GPU invoice, October"
    # the price table is the shipped catalog
    text = (ROOT / "docs/costs.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (openai:\S+) \| (.*) \|$", text, flags=re.M)
    documented = {ref: [c.strip() for c in cells.split("|")] for ref, cells in rows if len(cells.split("|")) == 7}
    shipped = {e.ref: e for e in builtin_entries() if not e.by_compute}
    assert set(documented) == set(shipped)
    # the compute-time rates of local models, likewise
    rates = dict(re.findall(r"^\| ([a-z0-9-]+) \| ([0-9.]+) \| .* \|$", text, flags=re.M))
    (local,) = [e for e in builtin_entries() if e.by_compute]
    assert {k: float(v) for k, v in rates.items()} == local.compute_per_hour

    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}" if round(value, 2) == value else f"{value:g}"

    for ref, cells in documented.items():
        e = shipped[ref]
        training = cell(e.finetune_training)
        if e.finetune_training_per_hour is not None:
            training = f"{e.finetune_training_per_hour:.2f}/hour"
        expected = [cell(e.input), cell(e.cached_input), cell(e.output), training]
        expected += [cell(e.finetune_input), cell(e.finetune_cached_input), cell(e.finetune_output)]
        assert cells == expected, ref
        assert e.batch_discount == 0.5
    # the lookup rules the page lists
    fine = quote("openai:ft:gpt-4o-mini-2024-07-18:acme::9xYz")
    assert fine is not None and fine.fine_tuned and fine.entry.ref == "openai:gpt-4o-mini"
    assert quote("openai:gpt-4.1-mini-2031-01-01") is not None
    assert quote("lab:gpt-4o-mini") is None


def check_data(run: PageRun, tmp_path: Path, out: str) -> None:
    from tunewise.data import check_example

    (example,) = [b for b in blocks("docs/data.md") if b.lang == "json"]
    assert check_example(parse_data(example)) == []
    assert [str(p) for p in run.namespace["report"].problems] == [
        "faq.csv:3: answer: missing or empty completion [missing_content]"
    ]
    assert run.namespace["leaks"].ok


def check_retrieval(run: PageRun, tmp_path: Path, out: str) -> None:
    assert "45 45 45" in out  # files, chunks, embedded of the first example
    assert re.search(r"hybrid  nDCG@10=0\.9\d\d recall@10=0\.9\d\d", out)
    assert "error-e47.md" in run.output and '"in_sync": true' in run.output
    assert '"embedder": "sentence-transformers:all-MiniLM-L6-v2"' in run.output


def check_local(run: PageRun, tmp_path: Path, out: str) -> None:
    from tunewise import load_settings
    from tunewise_local import LocalOptions

    assert (tmp_path / "tiny-merged" / "model.safetensors").is_file()
    for block in blocks("docs/local.md"):
        if block.lang == "toml":
            for profile in load_settings(**tomllib.loads(block.body)).profiles.values():
                assert profile.plugin == "local"
                LocalOptions.parse(profile.options)


def check_openai(run: PageRun, tmp_path: Path, out: str) -> None:
    from tunewise import ProfileConfig
    from tunewise_openai import OpenAIOptions

    assert run.executed >= 6
    for block in blocks("docs/openai.md"):
        if block.lang == "toml":
            for name, profile in tomllib.loads(block.body)["profiles"].items():
                OpenAIOptions.parse(ProfileConfig.model_validate(profile).options, profile=name)


def check_serve(run: PageRun, tmp_path: Path, out: str) -> None:
    assert run.url != "http://127.0.0.1:8000"  # the page's own server really ran
    assert any('"object":"chat.completion"' in output for _, output in run.outputs)  # the curl call
    assert "['billing-refund-policy.md'" in out and "hand-off: False" in out
    assert "46 articles" in out
    assert "Can I get a refund on my annual plan? -> ['billing-refund-policy.md'" in out
    assert "What is the capital of Peru? -> hand-off" in out


def check_chat(run: PageRun, tmp_path: Path, out: str) -> None:
    assert "handed off: a person should answer this one" in run.output
    assert "tokens: 0 in, 0 out · cost: $0 (no model call)" in run.output
    assert "billing-refund-policy.md" in run.output and "(cited)" in run.output


def check_plugins(run: PageRun, tmp_path: Path, out: str) -> None:
    assert "echo     │ tunewise-echo" in run.outputs[-2][1]  # tunewise providers, after the install
    assert run.output.splitlines() == ["Hello, parrot!", "['tunewise_echo']"]
    included = {b.included for b in run.checked_only}
    assert "examples/tunewise-echo/src/tunewise_echo/_provider.py" in included
    assert "loud: no API key configured; set ECHO_API_KEY" in out


def check_architecture(run: PageRun, tmp_path: Path, out: str) -> None:
    """The page's layer diagram is the import-linter contract `make lint` holds, layer for layer."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c.get("type") == "layers"]
    diagram = blocks("docs/architecture.md")[0].body.splitlines()
    written = [line.split("  ")[0].strip() for line in diagram if line.strip()]
    assert written == [layer.replace("(", "").replace(")", "") for layer in layers]
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert len(config["contracts"]) == 5 and "The five contracts `make lint` runs" in page


def check_concepts(run: PageRun, tmp_path: Path, out: str) -> None:
    assert run.executed == 1 and "Question: When are refunds paid?" in run.output


def check_demo(run: PageRun, tmp_path: Path, out: str) -> None:
    assert (tmp_path / "o").is_dir() and any((tmp_path / "o").rglob("report.html"))
    assert len(run.checked_only) == 1 and "openai:gpt-4o-mini" in run.checked_only[0].body


def check_statistics(run: PageRun, tmp_path: Path, out: str) -> None:
    import inspect

    from tunewise.evaluation import build_report, compare_runs

    assert run.executed >= 12
    assert "prompted better than zero-shot by 0.12 on exact_match (95% CI 0.05..0.18)" in out
    # 30 small wins, 6 big losses: Wilcoxon (ranks) calls it, the mean's test and interval do not, and no winner
    pitfall = next(line for line in out.splitlines() if "on token_f1 with 36 cases" in line)
    assert pitfall.startswith("no difference detected") and "paired permutation" in pitfall
    assert "the 95% CI -0.09..0.03 bounds it" in pitfall and "B wins 30, loses 6" in out
    wilcoxon = float(re.findall(r"Wilcoxon signed-rank on the same differences: p=([\d.]+)", out)[0])
    assert wilcoxon < 0.05 and "better than" not in pitfall
    # four wins in forty: the exact p is 2/16; the interval excludes 0; the verdict says they disagree
    assert "swings: B - A +0.050, d_z 0.33, 4 wins, p=0.12" in out
    assert "inconclusive on token_f1 with 40 cases: the test and the interval disagree" in out
    assert "were enough to detect" not in out and "had at least 80% power for a difference of 0.05" in out
    flukes = [int(n) for n in re.findall(r"a 'significant' verdict in (\d+) of 200 evaluations", out)]
    assert len(flukes) == 3 and max(flukes[1:]) < 20 < flukes[0]  # Bonferroni and Holm: ~25% down to ~5%
    # "build_report and eval report / eval compare take confidence and a correction"
    for function in (build_report, compare_runs):
        assert {"confidence", "correction"} <= set(inspect.signature(function).parameters)
    assert inspect.signature(build_report).parameters["correction"].default == "auto"
    assert inspect.signature(compare_runs).parameters["correction"].default is None
    reading = (ROOT / "docs/evaluation.md").read_text(encoding="utf-8").split("## Reading the statistics")[1]
    assert "guides/statistics.md" in reading.split("\n## ")[0]


def check_guide_support_bot(run: PageRun, tmp_path: Path, out: str) -> None:
    from tunewise.evaluation import RunStore

    assert "46 files, 271 chunks, 271 embedded" in out and "recall@3=0.96" in out
    assert (tmp_path / "adapters" / "lumen-v1" / "adapter_model.safetensors").is_file()
    with RunStore(tmp_path / "runs.sqlite") as store:
        results = store.results("quick")
    assert len(results) == 24 and all(r.status == "ok" for r in results)
    handed_off = {(r.strategy, r.case["metadata"]["kind"]) for r in results if r.handoff}
    assert handed_off == {("lumen-support", "general")}  # the off-topic requests, nothing else
    assert run.url != "http://127.0.0.1:8000"  # the page's own server answered
    curl = "".join(output for block, output in run.outputs if block.lang == "bash")
    assert '"handoff":true' in curl.replace(" ", "")  # the curl call was handed off
    assert "Write a haiku about autumn leaves. -> hand-off" in out
    assert "billing-gift-cards.md True" in out  # the new article, found without retraining
    assert "served from billing-gift-cards.md" in out  # ... and by the running server, without a restart
    assert 'mode = "hybrid"' in (tmp_path / "bot.toml").read_text(encoding="utf-8")
    assert [b.lang for b in run.checked_only] == ["bash"] and "ladder run" in run.checked_only[0].body


def check_guide_fine_tuning(run: PageRun, tmp_path: Path, out: str) -> None:
    from tunewise.evaluation import RunStore, compare_runs

    assert not run.checked_only  # the OpenAI blocks ran, against the fake
    records = list((tmp_path / "tunewise-home" / "openai" / "fine_tune_jobs").glob("*.json"))
    assert len(records) == 1  # two starts with the same inputs: one job recorded
    assert (tmp_path / "openai-model.txt").read_text().startswith("openai:ft:gpt-4o-mini-2024-07-18:")
    assert "Fine-tuned gpt-4o-mini-2024-07-18 says: I cannot log in. Thanks." in out
    assert "Resumed from checkpoint at step 50" in out  # the killed worker came back from its checkpoint
    assert "+" in str(run.namespace["local_ref"]) and (tmp_path / "router-merged" / "model.safetensors").is_file()
    with RunStore(tmp_path / "runs.sqlite") as store:
        (local,) = compare_runs(store, "local/before", "local/after")
        assert local.verdict in out
        assert local.significant and local.mean_a == 0 and local.mean_b > 0.6, local.verdict
        assert len(store.results("openai", "after", status="ok")) == 58
    assert "pays back in" in out


CHECKS: dict[str, Callable[[PageRun, Path, str], None]] = {
    "README.md": check_readme,
    "docs/quickstart.md": check_quickstart,
    "docs/configuration.md": check_configuration,
    "docs/testing.md": check_testing,
    "docs/evaluation.md": check_evaluation,
    "docs/strategies.md": check_strategies,
    "docs/ladder.md": check_ladder,
    "docs/costs.md": check_costs,
    "docs/data.md": check_data,
    "docs/retrieval.md": check_retrieval,
    "docs/local.md": check_local,
    "docs/openai.md": check_openai,
    "docs/serve.md": check_serve,
    "docs/chat.md": check_chat,
    "docs/demo.md": check_demo,
    "docs/plugins.md": check_plugins,
    "docs/concepts.md": check_concepts,
    "docs/architecture.md": check_architecture,
    "docs/guides/statistics.md": check_statistics,
    "docs/guides/support-bot.md": check_guide_support_bot,
    "docs/guides/fine-tuning.md": check_guide_fine_tuning,
}


def test_every_page_with_code_has_its_checks() -> None:
    assert set(pages()) <= set(CHECKS), "add a check_* for the new page"
