# Two commands for a newcomer: `make run` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP_INSTALL := $(BIN)/python -m pip install -q --disable-pip-version-check
CHECKOV_VENV := .venv-checkov
# The newest Python the code is tested on, and the default the infra deploys (tests/infra checks both).
NEWEST_PYTHON := 3.13
NEWEST_VENV := .venv-$(NEWEST_PYTHON)
# python3.13 on PATH, else pyenv's newest 3.13.x; override with PYTHON313=/path/to/python3.13.
PYTHON313 ?= $(shell bash scripts/find-python.sh $(NEWEST_PYTHON))
HOST ?= 127.0.0.1
PORT ?= 7071
# The local host's data (`make run`, `make demo`): `make reset` deletes this directory and nothing else.
DATA := .data
DB := $(DATA)/cartracker.sqlite3

# Before a venv is made: stop with one line saying what to do when $(PYTHON) (or the venv, once it
# exists) is not a Python CarTracker supports, instead of letting pip fail at length.
check_python = $(eval python_problem := $(shell bash scripts/check-python.sh "$(PYTHON)" "$(MAKECMDGOALS)" $(1)))$(if $(python_problem),$(error $(python_problem)))

.PHONY: run demo reset test ci lint typecheck pytest pytest-newest setup setup-serve setup-test workflow-tools chromium checkov bench screenshots clean

# Everything `make test` needs. It covers what `make run` needs, so it marks that installed too.
$(VENV)/.installed: requirements.txt requirements-serve.txt requirements-test.txt requirements-dev.txt
	$(call check_python,$(VENV))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -r requirements-dev.txt
	touch $@ $(VENV)/.serve-installed

# Only what serving needs (the runtime and h11), so a first `make run` skips every test tool; `make
# test` adds them to the same venv. --no-compile: Python compiles what the server imports when it
# first runs, a fraction of what pip would compile up front.
$(VENV)/.serve-installed: requirements.txt requirements-serve.txt requirements-test.txt
	$(call check_python,$(VENV))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --no-compile -r requirements-serve.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# checkov pins many packages of its own, so it lives in a venv of its own.
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(call check_python,$(CHECKOV_VENV))
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-checkov.txt
	touch $@

# actionlint and shellcheck for tests/infra/test_workflows.py, into the main venv.
$(VENV)/.workflow-tools: $(VENV)/.installed requirements-workflows.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-workflows.txt
	touch $@

# Only the runtime and what tests/unit and tests/integration need, on the newest Python.
$(NEWEST_VENV)/.installed: requirements.txt requirements-test.txt
	@test -n "$(PYTHON313)" || { echo "Python $(NEWEST_PYTHON) not found: put python$(NEWEST_PYTHON) on PATH or pass PYTHON313=/path/to/it" >&2; exit 1; }
	$(PYTHON313) -m venv $(NEWEST_VENV)
	$(NEWEST_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-test.txt
	touch $@

setup: $(VENV)/.installed

setup-serve: $(VENV)/.serve-installed

workflow-tools: $(VENV)/.workflow-tools

chromium:
	@bash scripts/ensure-chromium.sh

checkov: $(CHECKOV_VENV)/.installed

setup-test: setup node_modules/.installed chromium checkov workflow-tools

run: setup-serve
	$(BIN)/python -m cartracker serve --host $(HOST) --port $(PORT) --db $(DB)

# A few dozen cars with histories, through the command service; running it again adds nothing.
demo: setup-serve
	$(BIN)/python -m cartracker demo --db $(DB)

# Deletes the local data only (stop `make run` first); `make clean` also deletes the venvs and tools.
reset:
	rm -rf $(DATA)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

pytest: setup-test
	$(BIN)/python -m pytest

test: lint typecheck pytest

# The unit and integration suites again on the newest Python, so a break there fails CI.
pytest-newest: $(NEWEST_VENV)/.installed node_modules/.installed
	@echo "== tests/unit and tests/integration on $$($(NEWEST_VENV)/bin/python --version) =="
	$(NEWEST_VENV)/bin/python -m pytest tests/unit tests/integration -q -p no:cacheprovider

# What .ci/run runs: the whole suite on the default python3, then the newest-Python run.
ci: test pytest-newest

# Measured figures: prints a table, writes bench/results.json (not part of `make test`).
bench: setup-test
	$(BIN)/python -m bench.run

# Refresh docs/screenshots/*.png from the browser tests.
screenshots: setup chromium
	CARTRACKER_SCREENSHOTS=1 $(BIN)/python -m pytest tests/e2e/test_ui_browser.py -q

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(NEWEST_VENV) node_modules dist $(DATA) .pytest_cache .mypy_cache .ruff_cache
