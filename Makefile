# Set-up is two commands: `make run` serves the app, `make test` passes every test.
# Both create .venv and install what they need first.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP_FLAGS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
HOST ?= 127.0.0.1
PORT ?= 8050

.PHONY: install run test lint bench clean

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

clean:
	rm -rf $(VENV) artifacts cache-dir
