# The two commands of the README's quick start, and the checks `make test` runs.
# Each target sets up what it needs: a venv in .venv with the pinned Python
# dependencies, web/node_modules from web/package-lock.json (`npm ci`), and
# Debian's chromium for the browser tests.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NPM_STAMP := web/node_modules/.installed
CHROMIUM ?= /usr/bin/chromium
# Nothing may download a browser: the tests drive Debian's chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: demo test test-fast lint typecheck pytest web-lint web-typecheck web-test web-build \
	web-fresh web-size stories screenshots docs chromium bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-c constraints.txt -e '.[dev]'
	touch $@

$(NPM_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: $(STAMP)
	$(BIN)/xpagent demo

test: lint typecheck web-lint web-typecheck web-test web-fresh pytest

# The quick loop while working (under 30 s): lint, types, and the tests not marked
# slow, with fewer Hypothesis examples. `make test` still runs everything.
test-fast: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	XP_HYPOTHESIS_PROFILE=fast $(BIN)/pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Python tests, the browser end-to-end tests (tests/e2e) among them.
pytest: $(STAMP) chromium
	$(BIN)/pytest

web-lint: $(NPM_STAMP)
	cd web && npm run --silent lint

web-typecheck: $(NPM_STAMP)
	cd web && npm run --silent typecheck

web-test: $(NPM_STAMP)
	cd web && npm run --silent test

# Rebuild the UI into xpagent/api/static/ (committed, so that installs need no Node).
web-build: $(NPM_STAMP)
	cd web && npm run --silent build

# The committed assets must be what the committed sources build (Vite builds are
# byte-for-byte reproducible): rebuild, then any difference is an error.
web-fresh: web-build
	@if [ -n "$$(git status --porcelain -- xpagent/api/static)" ]; then \
		git status --short -- xpagent/api/static; \
		echo "the web UI's built assets are stale: commit xpagent/api/static/ as rebuilt above"; \
		exit 1; \
	fi

# Gzip size of what the browser downloads.
web-size: $(NPM_STAMP)
	cd web && npm run --silent size

# Storybook with the mock payloads, on http://127.0.0.1:6006/
stories: $(NPM_STAMP)
	cd web && npm run storybook

# Regenerate what is generated from the settings table: packaging/xpagent.env and
# the tables of docs/configuration.md (tests/test_ops_generated.py fails when stale).
docs: $(STAMP)
	$(BIN)/python -m xpagent.ops.docs

# Rewrite docs/images/ from the browser tests' screenshots.
screenshots: $(STAMP) chromium
	XP_UPDATE_SCREENSHOTS=1 $(BIN)/pytest tests/e2e -q

chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian's chromium for the browser tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				--no-install-recommends chromium fonts-dejavu-core >/dev/null; \
		else \
			echo "$(CHROMIUM) is missing: install Debian's chromium (sudo apt-get install chromium)"; \
			exit 1; \
		fi; \
	fi

# Every benchmark at its full size (about 15 minutes: the idle run alone takes 10).
# Each script also runs alone; see its docstring, and `--quick` for a smoke run.
bench: $(STAMP) chromium
	$(BIN)/python bench/state_file.py
	$(BIN)/python bench/fanout_latency.py
	$(BIN)/python bench/cluster_scale.py
	$(BIN)/python bench/sse_fanout.py
	$(BIN)/python bench/runtime_load.py
	$(BIN)/python bench/web_ui.py
	$(BIN)/python bench/daemon_idle.py --minutes 10

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis web/node_modules
