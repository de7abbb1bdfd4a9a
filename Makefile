# Set-up is two commands: `make run` serves the app, `make test` passes every test.
# Both create .venv and install what they need first.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP_FLAGS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
HOST ?= 127.0.0.1
PORT ?= 8050

.PHONY: install run test lint bench bench-landscape clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet $(PIP_FLAGS) -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/python app.py --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m bench grid
	$(BIN)/python -m bench latency
	$(BIN)/python -m bench sweep

# the loss-landscapes package is a reference for the benchmark only: it lives in its own venv
.venv-bench/.installed: requirements.txt
	$(PY) -m venv .venv-bench
	.venv-bench/bin/pip install --quiet $(PIP_FLAGS) -r requirements.txt loss-landscapes==3.0.6
	touch $@

bench-landscape: .venv-bench/.installed
	.venv-bench/bin/python -m bench landscape

clean:
	rm -rf $(VENV) .venv-bench artifacts cache-dir
