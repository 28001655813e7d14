# The two commands: `make run` (embedded demo on http://127.0.0.1:8000) and `make test`.
# A fresh machine needs only Python 3.11+, Node/npm and (for browser tests) Debian's chromium.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
HOST ?= 127.0.0.1
PORT ?= 8000
SCALE ?= small
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test lint install install-dev openapi lock clean help

help:
	@echo "make run    - install, migrate, load demo data, serve on http://$(HOST):$(PORT)"
	@echo "make test   - install test tools and run the whole suite (browser tests need /usr/bin/chromium)"
	@echo "make lint   - ruff, mypy, import-linter, makemigrations --check, OpenAPI drift"
	@echo "make lock   - refresh uv.lock and package-lock.json after changing dependencies"

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==0.13.9"

# Python packages exactly as locked; --inexact keeps uv itself in the environment.
$(VENV)/.installed: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --inexact --no-dev $(UV_EXTRAS)
	@touch $@

$(VENV)/.installed-dev: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --inexact $(UV_EXTRAS)
	@touch $@ $(VENV)/.installed

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

install: $(VENV)/.installed node_modules/.package-lock.json

install-dev: $(VENV)/.installed-dev node_modules/.package-lock.json

run: install
	$(BIN)/jingan manage migrate --noinput
	$(BIN)/jingan demo-data --scale $(SCALE)
	$(BIN)/jingan release sign
	$(BIN)/jingan serve --host $(HOST) --port $(PORT)

test: install-dev
	$(BIN)/python -m jingan.testing.run $(ARGS)

lint: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/jingan manage makemigrations --check --dry-run
	$(BIN)/jingan openapi --check

openapi: install-dev
	$(BIN)/jingan openapi --write

lock: $(UV)
	$(UV) lock
	npm install --package-lock-only --no-audit --no-fund

clean:
	rm -rf $(VENV) node_modules var/static
