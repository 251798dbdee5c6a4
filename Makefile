# The project's own commands. `make demo` runs the main job, `make test` the whole test suite;
# both create the virtual environment in .venv and install what they need on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ORCHESTRATORS := $(VENV)/.orchestrators

.PHONY: demo test lint typecheck unit bench docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The Airflow and Prefect tests need the heavy `orchestrators` extra: only the tests install it.
$(ORCHESTRATORS): $(STAMP)
	$(PY) -m pip install --quiet -e ".[orchestrators]"
	touch $(ORCHESTRATORS)

demo: $(STAMP)
	$(PY) examples/demo_service.py

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks examples docs/snippets scripts
	$(PY) -m ruff format --check src tests benchmarks examples docs/snippets scripts

typecheck: $(STAMP)
	$(PY) -m mypy

unit: $(STAMP) $(ORCHESTRATORS)
	$(PY) -m pytest

test: lint typecheck unit

bench: $(STAMP)
	$(PY) benchmarks/run.py

# The documentation site, into site/ (open site/index.html); --strict: a broken link fails.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis site
