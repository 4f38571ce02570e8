# grader: two commands on a fresh machine
#   make demo   set everything up and grade the bundled example submissions
#   make test   set everything up and run the checks and the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# This machine has a CPU build of torch on local disk; a plain `torch` requirement would pull
# a multi-GB CUDA build. Users elsewhere can override: make install TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: install system demo test lint typecheck validate unit bench messages clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e '.[dev]'
	# matplotlib's font list, which the warm engine copies into each fresh sandbox
	$(BIN)/python -c "import matplotlib.font_manager"
	# bytecode for the editable install, as pip writes it for a regular one, and for the
	# bundled course's reference module (a run then compiles neither, even where
	# PYTHONDONTWRITEBYTECODE is set)
	$(BIN)/python -m compileall -q grader reference
	touch $@

system:
	bash .ci/system-deps

demo: install system
	$(BIN)/grade examples/ --no-gradebook

LINT_PATHS := grader tests reference $(wildcard benchmarks)

lint: install
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

typecheck: install
	$(BIN)/mypy

validate: install
	$(BIN)/grade validate --engine warm

unit: install
	$(BIN)/pytest $(PYTEST_ARGS)

test: install system lint typecheck validate unit

bench: install
	$(BIN)/python benchmarks/throughput.py

# Translations (docs/rubrics.md, "Feedback in the student's language"): extract the English
# messages into .pot templates and merge them into every language's .po (new messages come in
# untranslated: tests/test_i18n.py fails until they are translated).
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location --sort-output --project grader \
		-o grader/i18n/locale/grader.pot .
	$(BIN)/pybabel update -i grader/i18n/locale/grader.pot -d grader/i18n/locale -D grader \
		--width 100 --ignore-obsolete
	$(BIN)/pybabel extract -F rubrics/locale/babel.cfg --no-location --sort-output \
		--project conv-layer -o rubrics/locale/conv-layer.pot .
	$(BIN)/pybabel update -i rubrics/locale/conv-layer.pot -d rubrics/locale -D conv-layer \
		--width 100 --ignore-obsolete

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
