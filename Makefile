# Pricelab. `make run` brings the product up; `make test` runs the suite.
# docker-compose.yml runs the same server commands as the web/realtime/worker/beat targets.

# Django 6.1 needs Python 3.12+. Use the first interpreter that is one (pyenv's shims
# honour .python-version; a plain python3 counts if it is new enough).
PYTHON ?= $(shell for p in python3.12 python3.13 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 && { command -v $$p; break; }; done)
VENV ?= .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
HOST ?= 127.0.0.1
PORT ?= 8000
WEB_WORKERS ?= 2
REALTIME_PORT ?= 8001
BEAT_SCHEDULE ?= $(VENV)/celerybeat-schedule
STAMP := $(VENV)/.installed

.PHONY: help install run serve test lint fmt migrate seed static web realtime worker beat lock vendor screenshots bench bench-smoke restore-drill clean

help:
	@echo "make run     install, migrate, seed the demo and serve http://$(HOST):$(PORT) (DEBUG on)"
	@echo "make test    run the whole test suite (PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set)"
	@echo "make lint    ruff check, ruff format --check, makemigrations --check"
	@echo "make screenshots   retake docs/screenshots/ from the browser tests"
	@echo "make bench   the benchmarks at full size, then docs/BENCHMARKS.md (needs PostgreSQL, Redis, wrk)"
	@echo "make bench-smoke   every benchmark at a tiny size, to check they still run (CI)"
	@echo "make web | realtime | worker | beat   the production processes, one each"
	@echo "make restore-drill   dump DATABASE_URL, restore it into a scratch database, compare, drop it"

$(STAMP): requirements.txt requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "Python 3.12 or newer is needed (python3.12 not found)." >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	@touch $@

install: $(STAMP)

migrate: install
	$(MANAGE) migrate --noinput

seed: install
	$(MANAGE) seed_demo --base-url http://$(HOST):$(PORT)

# The whole product in one ASGI process on the embedded defaults (SQLite, in-process
# cache, channel layer and eager tasks), or on PostgreSQL and Redis when DATABASE_URL and
# REDIS_URL are set, in which case a Celery worker with beat runs beside it (else a small
# in-process scheduler does beat's periodic jobs).
run: export DEBUG ?= true
# Links in emails (invitations) point at this server, whatever PORT it runs on.
run: export SITE_URL ?= http://$(HOST):$(PORT)
run: migrate seed serve

serve: install
	@trap 'kill 0' EXIT; \
	if [ -n "$$REDIS_URL" ]; then \
		$(BIN)/celery -A config worker --beat --concurrency 1 --loglevel INFO & \
	else \
		$(MANAGE) run_scheduler & \
	fi; \
	$(BIN)/uvicorn config.asgi:application --host $(HOST) --port $(PORT) --ws-per-message-deflate false

test: install
	$(BIN)/pytest

# The hot paths against the bare framework (bench/), then docs/BENCHMARKS.md and its plot.
# Needs DATABASE_URL (PostgreSQL), Redis and wrk; works in its own database and Redis db
# (BENCH_DATABASE_URL, BENCH_REDIS_URL). 7 to 11 minutes on 2 cores; bench-smoke, a minute or two.
bench: install
	$(BIN)/python -m bench.run

bench-smoke: install
	$(BIN)/python -m bench.run --smoke

# The README's screenshots, retaken by the browser tests (needs PostgreSQL, Redis, Chromium).
screenshots: install
	PRICELAB_SCREENSHOTS=docs/screenshots $(BIN)/pytest e2e -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MANAGE) makemigrations --check --dry-run

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Production processes (see docker-compose.yml): HTTP through a WSGI server, WebSocket and
# SSE through an ASGI server, and Celery.
# Served by WhiteNoise from STATIC_ROOT when DEBUG is off, so collected first.
static: install
	$(MANAGE) collectstatic --noinput --verbosity 0

web: static
	$(BIN)/granian --interface wsgi --host $(HOST) --port $(PORT) --workers $(WEB_WORKERS) --blocking-threads 1 config.wsgi:application

realtime: static
	$(BIN)/uvicorn config.asgi:application --host $(HOST) --port $(REALTIME_PORT) --ws websockets --ws-per-message-deflate false

worker: install
	$(BIN)/celery -A config worker --loglevel INFO --concurrency 2

beat: install
	$(BIN)/celery -A config beat --loglevel INFO --schedule $(BEAT_SCHEDULE)

# Dump the database named by DATABASE_URL, restore it into a scratch database, check that
# every table's rows came back and that migrations are up to date, drop the copy; exits
# non-zero if anything differs (docs/OPERATIONS.md). Needs pg_dump/pg_restore and CREATEDB.
restore-drill: install
	$(BIN)/python deploy/restore_drill.py $(DRILL_ARGS)

# Re-pin requirements*.txt from requirements*.in.
lock: install
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links -o requirements.txt requirements.in
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links -o requirements-dev.txt requirements-dev.in

# Re-fetch the pinned browser assets (static/vendor/package*.json, and the tests' own in
# e2e/vendor/) and copy their built files beside them. The copies are committed: nothing loads from npm or a CDN at run time.
vendor:
	@tmp=$$(mktemp -d); cp static/vendor/package.json static/vendor/package-lock.json $$tmp/; \
	(cd $$tmp && npm ci --no-audit --no-fund --ignore-scripts --silent) && \
	cp $$tmp/node_modules/chart.js/dist/chart.umd.min.js $$tmp/node_modules/chart.js/dist/chart.umd.min.js.map $$tmp/node_modules/chart.js/LICENSE.md static/vendor/chart.js/; \
	rm -rf $$tmp
	@tmp=$$(mktemp -d); cp e2e/vendor/package.json e2e/vendor/package-lock.json $$tmp/; \
	(cd $$tmp && npm ci --no-audit --no-fund --ignore-scripts --silent) && \
	cp $$tmp/node_modules/axe-core/axe.min.js $$tmp/node_modules/axe-core/LICENSE e2e/vendor/; \
	rm -rf $$tmp

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .ruff_cache
