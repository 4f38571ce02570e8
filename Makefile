# grader: two commands on a fresh machine
#   make demo   set everything up and grade the bundled example submissions
#   make test   set everything up and run the checks and the test suite
#   make pack   write the public pack (public checks as data) for students' repositories
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# This machine has a CPU build of torch on local disk; a plain `torch` requirement would pull
# a multi-GB CUDA build. Users elsewhere can override: make install TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=
# where `make pack` writes the public pack; set GRADER_SEED (the course secret) so that its
# leak scan checks the very hidden inputs the final grade uses
PACK_DIR ?= grader-pack
# The course's own environment, where the book's `from d2l import torch as d2l` works: the
# slow test tests/test_course_env.py grades in it with --kernel-python (docs/instructors.md).
# torchvision needs the torch it was built with: PyPI's pair for this machine's CPU torch
# (2.13) does not load, so this environment has its own torch (a CUDA build, runs on CPU).
COURSE_VENV := .venv-course
COURSE_TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
D2L_SPEC ?= d2l==1.0.3

.PHONY: install course-env system demo test lint typecheck validate unit bench pack messages clean

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

# d2l 1.0.3 pins numpy 1.23, pandas 2.0, matplotlib 3.7 (no wheels for current Pythons):
# installed with --no-deps, beside what its d2l/torch.py imports (courses/d2l-env.txt).
course-env: $(COURSE_VENV)/.installed

$(COURSE_VENV)/.installed: courses/d2l-env.txt
	$(PYTHON) -m venv $(COURSE_VENV)
	$(COURSE_VENV)/bin/pip install -q $(COURSE_TORCH_SPEC)
	$(COURSE_VENV)/bin/pip install -q -r courses/d2l-env.txt
	$(COURSE_VENV)/bin/pip install -q --no-deps "$(D2L_SPEC)"
	$(COURSE_VENV)/bin/python -c "from d2l import torch as d2l; import matplotlib.font_manager"
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

test: install course-env system lint typecheck validate unit

bench: install
	$(BIN)/python benchmarks/throughput.py

pack: install
	$(BIN)/grade pack -o $(PACK_DIR)

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
	rm -rf $(VENV) $(COURSE_VENV) .mypy_cache .ruff_cache .pytest_cache
