# One command per job (CONTRIBUTING.md). `make run` and `make test` set everything up themselves.
# Python packages: exactly the set in uv.lock, installed by uv (docs/install.md); uv itself is
# pinned with hashes in scripts/uv-requirements.txt and lives in .tools/.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST := $(VENV)/bin/pytest
TOOLS  := .tools
UV     := $(TOOLS)/bin/uv
LATEST := .venv-latest
# uv uses this machine's python3 (never one it downloads) and installs into $(VENV).
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
UV_PYTHON := --python python3

.PHONY: run test test-fast test-latest lint lock lock-check format words bench bench-gate \
	bench-school bench-live bench-door bench-storm services chromium clean cluster cluster-down \
	bench-fanout cluster-tools bench-drain bench-cluster bench-proxy av-tools bench-av

$(UV): scripts/uv-requirements.txt
	@test -x $(TOOLS)/bin/python || python3 -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install -q --require-hashes -r scripts/uv-requirements.txt
	@touch $@

# Every extra (dev, bench) in one environment: the locked set, nothing more and nothing less.
# Their bytecode compiled once here: where PYTHONDONTWRITEBYTECODE is set, no process would cache
# it, and every `homeroom run`, `live` worker and bench client would compile SQLAlchemy and the
# rest again as it starts (a gateway worker restarted after a crash among them).
$(STAMP): pyproject.toml uv.lock package.json package-lock.json $(UV)
	@$(UV) sync --locked --all-extras --compile-bytecode $(UV_PYTHON) --quiet || { \
	  echo "make: could not install the locked set. If uv said the lock needs updating," \
	    "pyproject.toml and uv.lock disagree: run 'make lock' (or '$(UV) lock' to change only" \
	    "what pyproject.toml changed) and commit uv.lock." >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Fails, naming the fix, when pyproject.toml asks for something uv.lock does not hold.
lock-check: $(UV)
	@$(UV) lock --check $(UV_PYTHON) --quiet || { \
	  echo "make: pyproject.toml and uv.lock disagree: run 'make lock' (upgrade everything)" \
	    "or '$(UV) lock' (only what changed), then commit uv.lock." >&2; exit 1; }

# Upgrade on purpose: every package to the newest its range allows, then install that set.
lock: $(UV)
	$(UV) lock --upgrade $(UV_PYTHON)
	$(UV) sync --locked --all-extras --compile-bytecode $(UV_PYTHON)
	@touch $(STAMP)

# The HTTP app and the live gateway (docs/live.md#many-processes): one command, and stopping
# one (Ctrl-C, or an exit) stops the other. HOMEROOM_LIVE_PORT=0 runs the HTTP app alone.
# The gateway is stopped with SIGTERM when `homeroom run` exits: no balancer to wait for here,
# so its drain is instant unless HOMEROOM_DRAIN_* say otherwise (docs/operations.md#drain).
# Audio and video (docs/av.md#make-run): one Janus (`homeroom janus`, installed when missing)
# whose settings the gateway reads from .homeroom/janus.env; HOMEROOM_AV=0, or no Janus to be
# had, runs the class without audio and video (the page says so).
run: $(STAMP)
	@live=; janus=; trap 'kill $$live $$janus 2>/dev/null; wait' EXIT INT TERM; \
	if [ "$${HOMEROOM_LIVE_PORT:-8001}" != 0 ]; then \
	  if [ "$${HOMEROOM_AV:-1}" != 0 ] && [ -z "$${HOMEROOM_JANUS_URLS:-}" ] && scripts/need janus; then \
	    rm -f .homeroom/janus.env; $(VENV)/bin/homeroom janus & janus=$$!; \
	    for i in $$(seq 60); do [ -s .homeroom/janus.env ] && break; kill -0 $$janus 2>/dev/null || break; sleep 0.5; done; \
	    if [ -s .homeroom/janus.env ]; then set -a; . ./.homeroom/janus.env; set +a; \
	    else echo "make: Janus did not start: classes run without audio and video" >&2; fi; fi; \
	  HOMEROOM_DRAIN_NOTICE_S=$${HOMEROOM_DRAIN_NOTICE_S:-0} HOMEROOM_DRAIN_WINDOW_S=$${HOMEROOM_DRAIN_WINDOW_S:-0} \
	  HOMEROOM_DRAIN_DEADLINE_S=$${HOMEROOM_DRAIN_DEADLINE_S:-5} $(VENV)/bin/homeroom live & live=$$!; fi; \
	HOMEROOM_DEMO=1 $(VENV)/bin/homeroom run

# The fast tier on every core; then the slow tests that share nothing (each its own database,
# key prefix or Redis: they mostly wait on servers) four at a time; then those that start
# processes, network namespaces or Chromium, some pinned to a core of their own, one at a time.
test: lock-check $(STAMP) services chromium cluster-tools av-tools lint
	$(PYTEST) -q -m "not slow" -p no:randomly -n auto
	$(PYTEST) -q -m "slow and not alone" -p no:randomly -n 4 --durations=10
	$(PYTEST) -q -m "slow and alone" --durations=20

# one worker a core (pytest-xdist): the fast tier touches no shared server, so its tests run apart
test-fast: $(STAMP) cluster-tools
	$(PYTEST) -q -m "not slow" -p no:randomly -n auto

# The tests start hundreds of Python processes (xdist workers, `homeroom run` and `live`, their
# clients, `homeroom migrate`), each importing the same modules: with PYTHONDONTWRITEBYTECODE set
# (as it is on some machines) none is cached and each process compiles them all again, about 2 s
# of CPU for `homeroom run` alone. The tests keep their bytecode (__pycache__/, ignored by git).
test test-fast test-latest: export PYTHONDONTWRITEBYTECODE =

define lint_in
	$(1)/bin/ruff check src tests bench
	$(1)/bin/ruff format --check src tests bench
	$(1)/bin/mypy src
	$(1)/bin/lint-imports --no-logo
endef

lint: $(STAMP)
	$(call lint_in,$(VENV))

# Not in CI: the newest versions the ranges in pyproject.toml allow, in a venv of their own
# ($(LATEST), ignoring uv.lock), through lint and the fast tier: a coming break shows here first.
test-latest: $(UV)
	rm -rf $(LATEST)
	$(UV) venv --quiet $(UV_PYTHON) $(LATEST)
	VIRTUAL_ENV=$(abspath $(LATEST)) $(UV) pip install --quiet --refresh --resolution highest \
	  -e '.[dev,bench]'
	@VIRTUAL_ENV=$(abspath $(LATEST)) $(UV) pip freeze | grep -v '^-e' > $(LATEST)/versions.txt
	@echo "newest allowed versions that differ from uv.lock:"; \
	  $(LATEST)/bin/python scripts/lock-diff.py uv.lock $(LATEST)/versions.txt
	$(call lint_in,$(LATEST))
	$(LATEST)/bin/pytest -q -m "not slow" -p no:randomly -n auto

format: $(STAMP)
	$(VENV)/bin/ruff format src tests bench
	$(VENV)/bin/ruff check --fix src tests bench

# The words (docs/translating.md): extract the messages the code, templates and scripts use,
# write src/homeroom/locale/messages.pot and bring every .po up to date; commit what changes.
# Nothing to compile: each process compiles the .po files when it starts.
words: $(STAMP)
	$(PY) -m homeroom.web.extract

# A whole deployment on this machine (docs/operations.md#the-deployment): HAProxy in front of three
# nodes (network namespaces, or 127.0.0.x), a Redis Cluster of 3 primaries + 3 replicas, PgBouncer
# before PostgreSQL, and a Janus a node (the pool for audio and video; HOMEROOM_AV=0: none). It
# prints the URL and the demo accounts; `make cluster-down` removes it all.
cluster: $(STAMP) services cluster-tools
	@[ "$${HOMEROOM_AV:-1}" = 0 ] || scripts/need janus || echo "make: no Janus: classes run without audio and video" >&2
	$(VENV)/bin/homeroom cluster up

# What the deployment runs (Debian packages), installed once before tests run in parallel.
cluster-tools:
	@scripts/need haproxy pgbouncer redis-server ip nft

cluster-down: $(STAMP)
	$(VENV)/bin/homeroom cluster down

services:
	@scripts/ensure-services

chromium:
	@scripts/need chromium

# The SFU for audio and video (docs/av.md#janus): Debian's janus, started by homeroom.av.process
# on a configuration it writes; the slow tier's tests of the Janus client need it.
av-tools:
	@scripts/need janus

bench: bench-gate bench-school bench-live bench-door bench-fanout bench-storm bench-drain bench-cluster \
	bench-proxy bench-av

bench-school: $(STAMP) services
	@scripts/need wrk
	$(PY) bench/school_bench.py

bench-gate: $(STAMP) services
	@scripts/need nginx wrk
	$(PY) bench/gate_bench.py

# The live gateway against plain websockets and python-socketio (the `bench` extras), 50,000
# connections over three gateway processes on core 0 and three client processes on core 1.
bench-live: $(STAMP)
	$(PY) bench/live_bench.py

# Slow clients at the door (docs/server.md): 5,000 sockets trickling heads for 45 s against
# `homeroom run`, `homeroom live` and the app under plain uvicorn, hypercorn and granian.
bench-door: $(STAMP)
	$(PY) bench/door_bench.py

# What reading the PROXY header costs (docs/server.md#the-client-s-real-address): the door's
# work a connection, and POST /gate/national/ticket with and without trusted_proxies.
bench-proxy: $(STAMP)
	$(PY) bench/proxy_bench.py

# HAProxy hashing classes on the room against leastconn: Redis deliveries and bytes per entry,
# each on a fresh deployment (docs/operations.md#does-hashing-on-the-room-cut-redis-fan-out).
bench-fanout: $(STAMP) services cluster-tools
	$(PY) bench/cluster_fanout.py

# A reconnect storm (docs/operations.md#reconnect-storms): 20,000 recorded clients cut at once
# (kill -9 of every gateway worker), with the clients' full jitter and without; servers on core 0,
# clients on core 1. BENCH_STORM_CLIENTS=2000 for a small one.
bench-storm: $(STAMP)
	$(PY) bench/storm_bench.py

# The deployment through HAProxy (docs/operations.md#make-bench-cluster): tickets and redeems,
# classes of 30 chatting (latency, Redis CPU a delivery), a node killed -9 at that size; servers
# on core 0, generators on core 1. BENCH_CLUSTER_CLASSES=100 for fewer classes.
bench-cluster: $(STAMP) services cluster-tools
	$(PY) bench/cluster_bench.py

# The drain (docs/operations.md#drain): 5,000 clients of a gateway given SIGTERM, closed over
# the window and resumed on a second gateway through a real Redis.
bench-drain: $(STAMP)
	$(PY) bench/drain_bench.py

# Audio and video through Janus (docs/av.md#measured-make-bench-av): Janus on core 0, aiortc
# teacher and pupils in a network namespace on core 1, stepped up to the knee for 180p, 360p and
# audio-only classes; first frame, joins, bytes per pupil, and the ladder's times: on the model,
# and as a pupil's page in Chromium shows them behind a real tbf cap (bench/av_page_ladder.py).
# BENCH_AV_QUICK=1 for a short run (3 to 4 minutes); needs root (a network namespace).
bench-av: $(STAMP) av-tools chromium
	$(PY) bench/av_bench.py

clean:
	rm -rf $(VENV) $(LATEST) $(TOOLS) node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis \
	  .import_linter_cache
