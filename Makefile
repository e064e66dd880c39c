# The two commands of the README. Both create .venv (pinned by constraints.txt) when it is missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: tour test test-slow lint install

$(BIN)/infwidth: pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e ".[dev,all]"
	touch $(BIN)/infwidth

install: $(BIN)/infwidth

tour: $(BIN)/infwidth
	$(BIN)/infwidth tour --out tour-report

test: $(BIN)/infwidth
	$(BIN)/python -m pytest -q

test-slow: $(BIN)/infwidth
	$(BIN)/python -m pytest -q -m slow

lint: $(BIN)/infwidth
	$(BIN)/ruff check src tests benchmarks scripts
