# The course's two commands: `make book` (build the book into _build/html) and `make test`
# (lint, import layers, unit tests, notebook regression checks, strict book build, browser check). Both need
# only python3 and make (the browser check also Chromium, which `make chromium` installs with apt-get
# where missing): the first run creates the virtual environment.

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
# TensorFlow's own CPU kernels on every processor (see drlib/runtime/backend.py: oneDNN, which it
# turns on by itself on some, changes the last digits of pinned outputs); a value set outside wins.
export TF_ENABLE_ONEDNN_OPTS ?= 0

# --all: rebuild every page, so a warning in an unchanged page is reported again, not cached away.
JB_BUILD := $(BIN)/jupyter-book build . --all -W -n --keep-going

.PHONY: venv book test chromium browser-check bench rerun clean

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

# The main pytest run records the time of every test file and chapter notebook in
# _build/test_durations.json (scripts/pytest_durations.py); the book's appendix page "Cost of the
# test command" shows it. The browser check needs the built book, so it comes last.
DURATIONS_JSON := _build/test_durations.json
BROWSER_CHECK := $(BIN)/pytest tests_browser

# Any failing step fails the target (pytest's exit code 5, "no tests collected", included).
# chromium comes first so that a missing browser stops the run at once, not after the tests.
test: venv chromium
	$(BIN)/ruff check drlib tests tests_browser benchmarks scripts
	$(BIN)/lint-imports
	PYTHONPATH=scripts$${PYTHONPATH:+:$$PYTHONPATH} $(BIN)/pytest -p pytest_durations --durations-json $(DURATIONS_JSON)
	$(JB_BUILD)
	$(BROWSER_CHECK)

# Debian's chromium for the browser check, installed with apt-get (through sudo when not root)
# only where no Chromium or Chrome is found; CHROMIUM=/path/to/browser uses another one.
chromium: venv
	@$(BIN)/python scripts/check_book_browser.py --find-browser || \
		{ sh scripts/install_chromium.sh && $(BIN)/python scripts/check_book_browser.py --find-browser; }

# Headless Chromium opens every page of the already built book (make book) and fails on a broken
# image or internal link, raw TeX, a traceback or a missing figure; screenshots go to
# _build/screenshots/.
browser-check: venv chromium
	$(BROWSER_CHECK)

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
