# Set-up is two commands: `make run` serves the app, `make test` passes every test.
# Both create .venv and install what they need first.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP_FLAGS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
HOST ?= 127.0.0.1
PORT ?= 8050
WORKERS ?= 2
THREADS ?= 4
CONCURRENCY ?= 2
# glibc keeps freed activation buffers instead of unmapping them (measured: a CNN forward 14 -> 7 ms)
export MALLOC_MMAP_THRESHOLD_ ?= 1073741824
export MALLOC_TRIM_THRESHOLD_ ?= 1073741824
# torch's OpenMP threads sleep when idle instead of spinning: request threads, job processes (and the
# test workers) share the cores, and spinning threads starved the others (measured: a ResNet-20
# training beside two busy processes took 27 s spinning, 4 s passive)
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: install run serve worker test check lint bench bench-landscape bench-load clean

# the venv is up to date when it was installed from these very requirements (by content, not by
# date: a fresh clone beside an existing venv does not reinstall)
REQUIREMENTS := $(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQUIREMENTS)

$(BIN)/python:
	$(PY) -m venv $(VENV)

# uv installs what pip would (the same versions, checked with pip freeze) in 23 s instead of 67 s.
# --compile-bytecode as pip does: where PYTHONDONTWRITEBYTECODE is set, a venv without .pyc files
# compiles torch, dash and plotly again in every process it starts (the suite took twice as long)
$(STAMP): | $(BIN)/python
	$(BIN)/pip install --quiet $(PIP_FLAGS) uv==0.13.9
	$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode $(PIP_FLAGS) -r requirements-dev.txt
	rm -f $(VENV)/.installed*
	touch $@

install: $(STAMP)

run: install
	$(BIN)/python app.py --host $(HOST) --port $(PORT)

# production: gunicorn (no debug mode), WORKERS processes of THREADS threads each; with REDIS_URL
# set, the workers share the Redis cache and send long jobs to `make worker`
serve: install
	HOST=$(HOST) PORT=$(PORT) WORKERS=$(WORKERS) THREADS=$(THREADS) $(BIN)/gunicorn --config python:dashboard.gunicorn_conf app:server

# a Celery worker for the background jobs (sweeps, landscapes); needs REDIS_URL. It is supervised:
# started again if it dies (see dashboard/worker.py). Set JOBS_MAX to the workers' total CONCURRENCY.
worker: install
	@test -n "$$REDIS_URL" || { echo "make worker: set REDIS_URL (e.g. redis://127.0.0.1:6379/0)"; exit 2; }
	$(BIN)/python -m dashboard.worker --loglevel=INFO --concurrency $(CONCURRENCY)

lint: install
	$(BIN)/ruff check .
	$(BIN)/hadolint Dockerfile

# every test, in four processes on two cores (pytest-xdist: a file's tests stay together; processes
# beyond the cores fill the time the others wait on servers, jobs and pages: measured 454 s with three
# against 539 s with two, and 500 s with four against 520 to 598 s with three on the suite that followed);
# the slowest are listed
test: lint
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest -q -n 4 --dist loadscope --durations=25

# the inner loop: lint and the tests without a browser or real servers (under two minutes)
check: lint
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest -q -n 2 --dist loadscope -m "not browser and not hosting and not bench"

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

# the load test's tool (locust) lives in its own venv: dash[testing]-style pins must not meet it
.venv-load/.installed: bench/load-requirements.txt
	$(PY) -m venv .venv-load
	.venv-load/bin/pip install --quiet $(PIP_FLAGS) -r bench/load-requirements.txt
	touch $@

bench-load: install .venv-load/.installed
	$(BIN)/python -m bench load

clean:
	rm -rf $(VENV) .venv-bench .venv-load artifacts cache-dir
