# epigrid: the README's commands. Needs Python >= 3.12 (Django 6.1); make finds one.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATABASE_URL_PG ?= postgres://postgres@127.0.0.1:5432/test
HOST ?= 127.0.0.1
PORT ?= 8000

# The first interpreter >= 3.12 among the usual names and pyenv's installs.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.14 python3 $$HOME/.pyenv/versions/3.1[234]*/bin/python3 /usr/local/bin/python3.1[234] /usr/bin/python3.1[234]; do \
	  if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then command -v $$p; break; fi; done)

.PHONY: venv demo test test-sqlite test-postgres test-browser lint bench bench-small fuzz fuzz-small screenshots messages clean lock

# Installs exactly requirements.lock (every transitive package pinned, each file's hash checked),
# then epigrid itself without resolving anything again.
$(STAMP): pyproject.toml requirements.lock
	@if [ -z "$(PYTHON)" ]; then echo "epigrid needs Python 3.12 or newer (Django 6.1). Install python3.12 or python3.13, or run: make PYTHON=/path/to/python3.12 ..." >&2; exit 1; fi
	@echo "Using $(PYTHON) ($$($(PYTHON) --version))"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Refresh requirements.lock from pyproject.toml's pins (on purpose only: then run make test).
lock:
	@if [ -z "$(PYTHON)" ]; then echo "epigrid needs Python 3.12 or newer" >&2; exit 1; fi
	test -x var/uv/bin/uv || ($(PYTHON) -m venv var/uv && var/uv/bin/pip install --quiet uv)
	var/uv/bin/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.12 --no-header -o requirements.lock.new
	(sed -n '1,2p' requirements.lock; cat requirements.lock.new) > requirements.lock.tmp && rm requirements.lock.new && mv requirements.lock.tmp requirements.lock

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/epigrid migrate --verbosity 0
	$(BIN)/epigrid demo --if-empty
	@echo ""
	@echo "  epigrid is running at http://$(HOST):$(PORT)/   (Ctrl-C to stop)"
	@echo "  API docs: http://$(HOST):$(PORT)/api/v1/docs"
	@echo ""
	$(BIN)/epigrid demoserver $(HOST):$(PORT)

# The whole suite on SQLite, then on PostgreSQL when one answers, then the browser tests
# when Debian's Chromium is installed, then the bounded schemathesis pass against a live server.
test: $(STAMP) lint test-sqlite test-postgres test-browser fuzz-small

lint: $(STAMP)
	$(BIN)/ruff check .
	cd src && ../$(BIN)/lint-imports --config ../pyproject.toml
	$(BIN)/epigrid makemigrations --check --dry-run

test-sqlite: $(STAMP)
	$(BIN)/pytest -q -m "not browser"

test-postgres: $(STAMP)
	@if $(BIN)/python -c "import psycopg,sys; psycopg.connect('$(DATABASE_URL_PG)', connect_timeout=3).close()" 2>/dev/null; then \
	  echo "== PostgreSQL: $(DATABASE_URL_PG)"; DATABASE_URL=$(DATABASE_URL_PG) $(BIN)/pytest -q -m "not browser"; \
	else echo "== PostgreSQL not reachable at $(DATABASE_URL_PG): skipped"; fi

test-browser: $(STAMP)
	@if [ -x /usr/bin/chromium ]; then $(BIN)/pytest -q -m browser || [ $$? -eq 5 ]; \
	else echo "== /usr/bin/chromium not installed (apt-get install chromium): browser tests skipped"; fi

# Benchmarks against PostgreSQL; BENCH_SCALE=small for CI, full for the figures in the issues.
bench: $(STAMP)
	DATABASE_URL=$${DATABASE_URL:-$(DATABASE_URL_PG)} $(BIN)/python -m bench $${BENCH_SCALE:-full}

bench-small: $(STAMP)
	DATABASE_URL=$${DATABASE_URL:-$(DATABASE_URL_PG)} $(BIN)/python -m bench small

# Schemathesis against a live server on loopback (fuzz/__main__.py): fuzz-small is the bounded
# pass (a few minutes), fuzz the long one (>= 10,000 cases).
fuzz-small: $(STAMP)
	$(BIN)/python -m fuzz small

fuzz: $(STAMP)
	$(BIN)/python -m fuzz long

# 360 px screenshots of each role's main pages into docs/screenshots/ (demo data, a throw-away
# SQLite database, gunicorn on loopback, Debian's Chromium). Not part of `make test`.
screenshots: $(STAMP)
	PYTHONPATH=src $(BIN)/python scripts/screenshots.py --out docs/screenshots

messages: $(STAMP)
	cd src/epigrid && ../../$(BIN)/epigrid makemessages -l zh_Hans -l en --no-obsolete && ../../$(BIN)/epigrid compilemessages

clean:
	rm -rf $(VENV) var .hypothesis
