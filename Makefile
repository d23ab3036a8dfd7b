# Two entry points for a fresh machine: `make demo` and `make test`.
# Each creates .venv (Python 3.11) and installs the pinned dependencies from setup.cfg.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
WORKDIR ?= runs/demo

.PHONY: demo test install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/python -m train.main --config=experiments/configs/gpt_tiny.py --workdir=$(WORKDIR)

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 -q tests

clean:
	rm -rf $(VENV) runs *.egg-info
