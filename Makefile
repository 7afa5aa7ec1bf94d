# One command per job (CONTRIBUTING.md). `make run` and `make test` set everything up themselves.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST := $(VENV)/bin/pytest

.PHONY: run test test-fast lint format bench bench-gate bench-school bench-live services chromium clean

$(STAMP): pyproject.toml package.json package-lock.json
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The HTTP app and the live gateway (docs/live.md#many-processes): one command, and stopping
# one (Ctrl-C, or an exit) stops the other. HOMEROOM_LIVE_PORT=0 runs the HTTP app alone.
run: $(STAMP)
	@live=; trap 'test -z "$$live" || kill $$live 2>/dev/null; wait' EXIT INT TERM; \
	if [ "$${HOMEROOM_LIVE_PORT:-8001}" != 0 ]; then $(VENV)/bin/homeroom live & live=$$!; fi; \
	HOMEROOM_DEMO=1 $(VENV)/bin/homeroom run

test: $(STAMP) services chromium lint
	$(PYTEST) -q

# one worker a core (pytest-xdist): the fast tier touches no shared server, so its tests run apart
test-fast: $(STAMP)
	$(PYTEST) -q -m "not slow" -p no:randomly -n auto

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy src

format: $(STAMP)
	$(VENV)/bin/ruff format src tests bench
	$(VENV)/bin/ruff check --fix src tests bench

services:
	@scripts/ensure-services

chromium:
	@command -v chromium >/dev/null 2>&1 || scripts/apt-install chromium

bench: bench-gate bench-school bench-live

bench-school: $(STAMP) services
	@command -v wrk >/dev/null 2>&1 || scripts/apt-install wrk
	$(PY) bench/school_bench.py

bench-gate: $(STAMP) services
	@command -v nginx >/dev/null 2>&1 || scripts/apt-install nginx-light
	@command -v wrk >/dev/null 2>&1 || scripts/apt-install wrk
	$(PY) bench/gate_bench.py

# The live gateway against plain websockets and python-socketio (the `bench` extras), 50,000
# connections over three gateway processes on core 0 and three client processes on core 1.
bench-live: $(STAMP)
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) bench/live_bench.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis
