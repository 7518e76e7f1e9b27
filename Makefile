# Two commands for a newcomer: `make run` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHECKOV_VENV := .venv-checkov
HOST ?= 127.0.0.1
PORT ?= 7071

.PHONY: run test lint typecheck pytest setup setup-test chromium checkov bench screenshots clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# checkov pins many packages of its own, so it lives in a venv of its own.
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-checkov.txt
	touch $@

setup: $(VENV)/.installed

chromium:
	@bash scripts/ensure-chromium.sh

checkov: $(CHECKOV_VENV)/.installed

setup-test: setup node_modules/.installed chromium checkov

run: setup
	$(BIN)/python -m cartracker serve --host $(HOST) --port $(PORT) --db .data/cartracker.sqlite3

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

pytest: setup-test
	$(BIN)/python -m pytest

test: lint typecheck pytest

# Measured figures: prints a table, writes bench/results.json (not part of `make test`).
bench: setup-test
	$(BIN)/python -m bench.run

# Refresh docs/screenshots/*.png from the browser tests.
screenshots: setup chromium
	CARTRACKER_SCREENSHOTS=1 $(BIN)/python -m pytest tests/e2e/test_ui_browser.py -q

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules .data .pytest_cache .mypy_cache .ruff_cache
