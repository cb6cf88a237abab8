# One entry point for students, teachers and CI. `make help` lists the targets.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
LAB_PORT ?= 8888
# Jupyter refuses to run as root unless told; containers and CI often are root.
LAB_ROOT_FLAG = $(if $(filter 0,$(shell id -u)),--allow-root)
NOTEBOOKS = $(shell $(PY) .ci/book.py notebooks)
SEEDS ?= 1
QUICK ?=
BENCH_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv lab test sync execute lib lint data bench student html e2e clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z0-9-]*:.*## / {printf "  make %-9s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  Options: PYTHON=python3.13 (interpreter for .venv), D2L_DATA_DIR=folder (offline data)"
	@echo "           make bench SEEDS=5 (mean BLEU over seeds 0-4), QUICK=1 (3 epochs), BENCH_ARGS=--help"

venv: ## Create .venv and install requirements.txt + the library (done by every target)
	@bash .ci/bootstrap.sh "$(PYTHON)" "$(VENV)"

lab: venv ## Open JupyterLab on notebooks/ (token-less, loopback only)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks --ServerApp.ip=127.0.0.1 \
	  --ServerApp.port=$(LAB_PORT) --IdentityProvider.token= --ServerApp.password= $(LAB_ROOT_FLAG)

test: venv ## Run everything CI checks: lint, drift checks, unit tests, nbval
	@echo "==> ruff"
	@$(VENV)/bin/ruff check d2l_attention tests .ci notebooks
	@echo "==> notebook pairs (.ipynb vs .py)"
	@$(PY) .ci/book.py check-pairs
	@echo "==> generated library vs #@save cells"
	@$(PY) .ci/book.py lib --check
	@echo "==> unit tests"
	@$(PY) -m pytest -q tests --ignore=tests/e2e
	@echo "==> nbval: $(NOTEBOOKS)"
	@$(PY) -m pytest -q --nbval --nbval-current-env \
	  --nbval-sanitize-with .ci/nbval_sanitize.cfg --nbval-cell-timeout=900 $(NOTEBOOKS)

sync: venv ## Pair notebooks/10.*.py with their .ipynb (the newer file wins)
	$(VENV)/bin/jupytext --sync notebooks/[0-9]*.py

execute: venv ## Execute the written notebooks in place so stored outputs are real
	$(PY) .ci/book.py execute

lib: venv ## Regenerate d2l_attention/sections/ from the notebooks' #@save cells
	$(PY) .ci/book.py lib

lint: venv ## Lint the library, tests, tooling and the notebooks' .py twins
	$(VENV)/bin/ruff check d2l_attention tests .ci notebooks

data: venv ## Download and verify the fra-eng data set into the cache (once, for offline use)
	$(PY) -m d2l_attention.data

bench: venv ## Train the 10.4 and 10.7 translators outside Jupyter: speed, loss, BLEU (SEEDS=5, QUICK=1)
	$(PY) -m d2l_attention.bench --seeds $(SEEDS) $(if $(QUICK),--quick) $(BENCH_ARGS)

student: venv ## Write the student edition (solutions -> `# 你的代码`) to build/student/
	$(PY) .ci/book.py student --out build/student

html: venv ## Build the static offline HTML book (stored outputs, local MathJax) in build/html/
	$(PY) .ci/book.py html --out build/html

e2e: venv ## In Debian's chromium: run 10.1 in JupyterLab, typeset the HTML book offline (build/e2e/)
	@bash .ci/browser.sh
	$(PY) -m pytest -q -m e2e tests/e2e

clean: ## Remove .venv, caches and build outputs (keeps the data cache)
	rm -rf $(VENV) build .pytest_cache .ruff_cache .hypothesis *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
