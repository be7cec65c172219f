# Batch Optimizer: one entry point for people and CI.
#   make demo   - the main job: the whole product on the embedded AWS emulator (dashboard on 127.0.0.1)
#   make test   - the whole test suite (what .ci/run calls); installs what it needs first
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)

.PHONY: demo demo-headless test lint install services clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip -c constraints.txt
	$(PY) -m pip install --quiet -e '.[dev,postgres,demo]' -c constraints.txt
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)
	@# The solver's compiled search loops: built once into the on-disk cache (seconds), loaded after.
	@$(PY) -c "from optimizer.solver.search_kernels import warm_up; warm_up()"

demo: install
	$(VENV)/bin/batchopt demo

demo-headless: install
	$(VENV)/bin/batchopt demo --headless

services:
	@bash scripts/ensure-services.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: install services lint
	bash scripts/run-tests.sh

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache test-artifacts
