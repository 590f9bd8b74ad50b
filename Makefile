# Two commands do all set-up:  `make lab` opens the course, `make test` checks it.
# Both create .venv and install requirements.txt and the package on first use.

VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# JupyterLab refuses to run as root unless told; only pass the flag when we are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

# A second float path for the lessons: generic (unvectorised) ATen kernels, oneDNN limited to
# SSE4.1 and one thread, so every sum runs in another order than on this machine's native path.
# A checked output that differs between the two depends on the CPU, not on the course.
GENERIC_FLOATS := ATEN_CPU_CAPABILITY=default DNNL_MAX_CPU_ISA=SSE41 OMP_NUM_THREADS=1

.PHONY: install lab test test-browser lint unit notebooks-test notebooks-test-native notebooks-test-generic notebooks student notebook-times clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Students open student/: the lessons with their exercises to fill in (notebooks/ holds the
# instructor's versions, with the solutions; `make student` regenerates student/ from them).
lab: install
	$(BIN)/jupyter lab --notebook-dir=student $(ROOT_FLAG)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The package tests, then every example in lwcnn's docstrings (they are part of what students read).
unit: install
	$(BIN)/pytest tests --ignore=tests/browser
	$(BIN)/pytest -q --doctest-modules lwcnn

# Every lesson under strict nbval twice: as this machine runs it, then on the generic float path.
notebooks-test: notebooks-test-native notebooks-test-generic

notebooks-test-native: install
	$(BIN)/pytest $(NBVAL) notebooks

notebooks-test-generic: install
	$(GENERIC_FLOATS) $(BIN)/pytest $(NBVAL) notebooks

test: lint unit notebooks-test

# Every lesson's widgets in a real JupyterLab and headless Chromium (tests/browser): runs each
# lesson, moves each control with the keyboard, checks the page against lwcnn. Uses Debian's
# Chromium, never a browser Playwright would download; screenshots go to build/browser/.
CHROMIUM ?= /usr/bin/chromium
test-browser: install
	@test -x $(CHROMIUM) || { echo "make test-browser needs Chromium at $(CHROMIUM)."; \
	  echo "Install Debian's package:  sudo apt-get install chromium   (or set CHROMIUM=/path/to/chromium)"; exit 1; }
	CHROMIUM=$(CHROMIUM) $(BIN)/pytest tests/browser -v

# Re-execute every lesson in place in a fresh kernel (after changing lwcnn or a notebook), then
# regenerate the student versions from them.
notebooks: install
	$(BIN)/python benchmarks/notebook_times.py --write
	$(BIN)/python benchmarks/student_notebooks.py

student: install
	$(BIN)/python benchmarks/student_notebooks.py

notebook-times: install
	$(BIN)/python benchmarks/notebook_times.py

clean:
	rm -rf $(VENV) *.egg-info
