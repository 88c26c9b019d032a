# Set-up needs only Python 3.11+ and make: every target builds its own virtualenv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: audit test lint format recordings bench bench-quick clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Editable installs, so addons/audit.py and the package stay the same code.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

## audit: audit the bundled recordings with the default policy and print the summary
audit: $(VENV)/.installed
	$(BIN)/statuslint audit recordings/demo.flows recordings/demo.har --policy policies/default.yaml --fail-on none --quiet

## test: the whole test suite
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

## lint: ruff, as CI runs it
lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## recordings: re-record recordings/demo.flows and demo.har through a real mitmdump
recordings: $(VENV)/.installed
	$(BIN)/python recordings/record.py

## bench: every performance figure as a ratio in one run, written to benchmarks/RESULTS.md; flat memory
bench: $(VENV)/.installed-test
	@# Every benchmark runs, whichever misses its target first; the status says if one did.
	status=0; \
	$(BIN)/python benchmarks/harness.py --workdir benchmarks/.work || status=1; \
	$(BIN)/python benchmarks/bench_state.py || status=1; \
	$(BIN)/python benchmarks/bench_syntax.py || status=1; \
	$(BIN)/python benchmarks/bench_proxy_parts.py || status=1; \
	exit $$status

## bench-quick: the same harness on small inputs (CI runs it so it cannot rot; it never gates)
bench-quick: $(VENV)/.installed-test
	$(BIN)/python benchmarks/harness.py --quick --results - --no-profile
	$(BIN)/python benchmarks/bench_proxy_parts.py --requests 50 --repeat 1

clean:
	rm -rf $(VENV) build dist addons/*.egg-info .pytest_cache .ruff_cache
