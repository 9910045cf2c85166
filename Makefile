# Two commands for a fresh machine (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Optional extras the test suite exercises (the core installs without them).
TEST_EXTRAS ?= dev,opensmile,pyaudioanalysis,speaker,wordvectors,serve,browser,onnx,augment

.PHONY: install install-test demo test lint benchmarks clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch is pinned through constraints.txt: a plain `torch` requirement would pull CUDA wheels.
# editable_mode=compat puts the checkout on sys.path, so that `import emofuse` finds the package
# even when run from the parent of a clone named emofuse/ (not the clone as a namespace package).
install: $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt --config-settings editable_mode=compat -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt --config-settings editable_mode=compat -e '.[$(TEST_EXTRAS)]'

demo: install
	$(BIN)/emofuse demo

# one test process per core, up to 4 (pytest-xdist; a test file stays in one process, so its
# module fixtures are built once); `python -m pytest` alone runs everything in one process
test: install-test
	$(BIN)/python -m pytest -n auto --maxprocesses 4 --dist loadfile

lint: install-test
	$(BIN)/ruff check emofuse tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
