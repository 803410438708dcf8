# Every target creates .venv itself on first use; nothing needs to be installed by hand.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-fast lint format bench screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)  ## the simulator and the watchdog on localhost, zero configuration
	$(BIN)/watchdog demo

# The suite mostly waits (sockets, simulators, Prometheus, Alertmanager, Chromium), so it runs
# on more processes than a small machine has cores, a whole test file to a process (module
# fixtures start once) in the order collected (the longest files come first: browser, e2e).
# Tests marked `serial` run alone afterwards, even when the first part failed.
# TEST_WORKERS=0: the first part in one process too.
TEST_WORKERS ?= 3
PARALLEL := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test: $(STAMP)  ## the whole suite, end-to-end tests included (about 5 minutes)
	status=0; \
	$(BIN)/pytest $(PARALLEL) -m 'not serial' || status=$$?; \
	$(BIN)/pytest -m serial || status=$$?; \
	exit $$status

test-fast: $(STAMP)  ## unit and integration tests only
	status=0; \
	$(BIN)/pytest $(PARALLEL) -m 'not slow and not serial' || status=$$?; \
	$(BIN)/pytest -m 'serial and not slow' || status=$$?; \
	exit $$status

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports  ## the layering of ARCHITECTURE.md (contracts in pyproject.toml)

bench: $(STAMP)  ## every benchmark in benchmarks/ but cpu_profile.py, then one table of every figure (about 20 minutes)
	$(BIN)/python benchmarks/run_all.py

screenshots: $(STAMP)  ## docs/status-*.png: the status page of three simulated deployments in headless Chromium (about five minutes)
	$(BIN)/python docs/screenshots.py

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
