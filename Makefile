# The README's two commands: `make run` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run install test lint clean

run: install
	$(BIN)/fleet serve --demo --host $(HOST) --port $(PORT)

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps 'rauc-hawkbit==0.2.0'
	touch $@

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

test: install
	bash scripts/test.sh

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
