# The two commands of the README's quick start, and the checks `make test` runs.
# Each target sets up what it needs: a venv in .venv with the pinned dependencies.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-c constraints.txt -e '.[dev]'
	touch $@

demo: $(STAMP)
	$(BIN)/xpagent demo

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

# Every benchmark at its full size (about 15 minutes: the idle run alone takes 10).
# Each script also runs alone; see its docstring, and `--quick` for a smoke run.
bench: $(STAMP)
	$(BIN)/python bench/state_file.py
	$(BIN)/python bench/fanout_latency.py
	$(BIN)/python bench/sse_fanout.py
	$(BIN)/python bench/runtime_load.py
	$(BIN)/python bench/daemon_idle.py --minutes 10

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
