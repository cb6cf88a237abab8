# One entry point for those who have make: each target is one line over the Python CLI,
# `python tools/book.py COMMAND`, which works the same without make (see README.md).
# The CLI creates .venv with $(PYTHON) on first use and runs itself inside it.
PYTHON ?= python3
BOOK = $(PYTHON) tools/book.py
LAB_PORT ?= 8888
TEACHER ?=
SEEDS ?= 1
QUICK ?=
KERNELS ?=
JOBS ?= 1
HELDOUT ?=
SPEEDUPS ?=
BENCH_ARGS ?=
AGAINST ?=
SAVE ?=
SWEEP ?=
SWEEP_ARGS ?=
REFERENCE ?=
# TORCH=cpu|cuda: which torch build setup installs. Unset: on Linux without an NVIDIA GPU the
# CPU-only build, elsewhere the registry's (CUDA on Linux).
ifdef TORCH
export D2L_TORCH := $(TORCH)
endif

.DEFAULT_GOAL := help
.PHONY: help setup venv lab test nbval quick sync execute lib lint data figures bench student html e2e \
	install-check assignments grade-check sweep clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z0-9-]*:.*## / {printf "  make %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  Options: PYTHON=python3.13 (interpreter for .venv), TORCH=cpu|cuda (torch build; default:"
	@echo "           CPU-only on Linux without an NVIDIA GPU),"
	@echo "           D2L_DATA_DIR=folder (offline data), LAB_PORT=8888, make lab TEACHER=1 (nbgrader's menus)"
	@echo "           make bench SEEDS=5 (seeds 0-4), KERNELS=default,avx2,native JOBS=2 (CPU-kernel"
	@echo "           sweep), HELDOUT=1 (corpus BLEU on unseen pairs), QUICK=1 (3 epochs), BENCH_ARGS=--help,"
	@echo "           AGAINST='CMD {model} {epochs} {seed}' (speed ratio vs another implementation),"
	@echo "           SPEEDUPS=1 (what each speed-up of the training loop saves),"
	@echo "           SAVE=NAME (also write results/NAME.json, which the appendix renders)"
	@echo "           make grade-check REFERENCE=stored (grade the reference's stored outputs, as CI does)"
	@echo "  Without make: $(BOOK) --help"

setup: ## Create or refresh .venv (requirements.txt + the library); every target does this
	$(BOOK) setup

venv: setup

lab: ## Open JupyterLab on notebooks/ (loopback only; it prints the URL with its token)
	$(BOOK) lab --port $(LAB_PORT) $(if $(TEACHER),--teacher)

test: ## Lint, drift checks, data, unit tests (about 4 minutes)
	$(BOOK) test

nbval: ## Re-run every notebook and compare with its stored outputs (about 8 minutes)
	$(BOOK) nbval

quick: ## Only the fast unit tests (no data set, builds, subprocesses or notebooks)
	$(BOOK) test --quick

sync: ## Pair notebooks/py/10.*.py with their .ipynb (the newer file wins)
	$(BOOK) sync

execute: ## Rebuild the library, then execute the notebooks in place (stored outputs are real)
	$(BOOK) execute

lib: ## Regenerate d2l_attention/sections/ from the notebooks' #@save cells
	$(BOOK) lib

lint: ## Lint the library, tests, tooling and the notebooks' .py twins
	$(BOOK) lint

data: ## Download and verify the fra-eng data set into the cache (once, for offline use)
	$(BOOK) data

figures: ## Redraw the chapter's diagrams into notebooks/figures/
	$(BOOK) figures

# bench's subcommand: heldout, sweep (KERNELS), against (AGAINST), speedups, or train.
BENCH_MODE = $(if $(HELDOUT),heldout,$(if $(KERNELS),sweep --kernels $(KERNELS),$(if $(AGAINST),against '$(AGAINST)',$(if $(SPEEDUPS),speedups,train))))
bench: ## Train the translators outside Jupyter: speed, BLEU (SEEDS=5 KERNELS=... JOBS=2 HELDOUT=1 QUICK=1)
	$(BOOK) bench $(BENCH_MODE) --seeds $(SEEDS) $(if $(filter-out 1,$(JOBS)),--jobs $(JOBS)) $(if $(QUICK),--quick) $(if $(SAVE),--save $(SAVE)) $(BENCH_ARGS)

sweep: ## Re-run a sweep behind a notebook's claims (SWEEP=alignment|longer|heads|cloze|positions SWEEP_ARGS=...)
	$(BOOK) sweep $(SWEEP) $(SWEEP_ARGS)

student: ## Write the student edition (solutions -> `# 你的代码`) to build/student/
	$(BOOK) student --out build/student

html: ## Build the offline HTML book with Sphinx (stored outputs, local MathJax, search) in build/html/
	$(BOOK) html --out build/html

assignments: ## Build the nbgrader course (source + release of every section) in build/nbgrader/
	$(BOOK) assignments

grade-check: ## Autograde reference, blank release and one solved exercise in a temporary course
	$(BOOK) grade-check $(if $(REFERENCE),--reference $(REFERENCE))

e2e: ## In Debian's chromium: run 10.1 in JupyterLab, check every page of the HTML book (build/e2e/)
	$(BOOK) e2e

install-check: ## Follow the README's without-make commands in a new venv (slow)
	$(BOOK) install-check

clean: ## Remove .venv, caches and build outputs (keeps the data cache)
	$(BOOK) clean
