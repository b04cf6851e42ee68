# The course's two commands: `make book` (build the book into _build/html) and `make test`
# (lint, import layers, unit tests, notebook regression checks, strict book build). Both need only python3 and
# make: the first run creates the virtual environment.

PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Written after a successful install; pip reinstalls only when pyproject.toml is newer.
STAMP := $(VENV)/.installed-stamp

# One environment for every run: the Keras backend policy (TensorFlow unless the caller chose
# another), headless figures, deterministic hashing, quiet TensorFlow start-up.
export KERAS_BACKEND ?= tensorflow
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0
export TF_CPP_MIN_LOG_LEVEL := 2

# --all: rebuild every page, so a warning in an unchanged page is reported again, not cached away.
JB_BUILD := $(BIN)/jupyter-book build . --all -W -n --keep-going

.PHONY: venv book test bench rerun clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@if [ ! -x $(BIN)/python ]; then \
		echo "creating $(VENV) with $(PY)"; \
		$(PY) -m venv $(VENV) && $(BIN)/python -m pip install --upgrade pip; \
	fi
	$(BIN)/python -m pip install -e '.[book,test]'
	touch $@

# Warnings are errors (-W), cross-references are checked (-n); --keep-going reports them all.
book: venv
	$(JB_BUILD)

# Any failing step fails the target (pytest's exit code 5, "no tests collected", included).
test: venv
	$(BIN)/ruff check drlib tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/pytest
	$(JB_BUILD)

# Rerun every chapter in the book's order with papermill (PROFILE=gpu on a lent GPU machine, with
# KERAS_BACKEND=jax), replacing each notebook only when it ran cleanly, then rebuild the book.
# Prints the time per chapter and writes it to _build/rerun_times.json.
PROFILE ?= cpu
rerun: venv
	$(BIN)/python scripts/rerun_chapters.py --profile $(PROFILE)
	$(JB_BUILD)

# Each benchmark reports ratios against a baseline measured in the same run (benchmarks/README.md).
bench: venv
	@set -e; found=0; \
	for script in benchmarks/bench_*.py; do \
		[ -e "$$script" ] || continue; \
		found=1; echo "== $$script"; $(BIN)/python "$$script"; \
	done; \
	[ "$$found" = 1 ] || echo "no benchmarks/bench_*.py scripts yet"

clean:
	rm -rf _build benchmarks/out
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
