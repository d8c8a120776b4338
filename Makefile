# The two commands: `make run` and `make test`. Everything else here serves them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the platform needs at run time and for its tests.
APT_RUN := postgresql-15 postgresql-15-postgis-3 gdal-bin libgdal32 redis-server mosquitto gettext python3-venv
APT_TEST := chromium fonts-noto-cjk docker-compose
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Private services under ./var unless DATABASE_URL / REDIS_URL are given; see scripts/services.sh.
# The Makefile is the development and test entry point, so DEBUG defaults to on here (production runs in compose).
LOAD_ENV := set -a; [ -f var/services.env ] && . var/services.env; DJANGO_DEBUG=$${DJANGO_DEBUG:-true}; set +a;

.PHONY: help deps deps-system deps-test-system services stop migrate seed run test bench lint messages

help:
	@echo "make run    install what is missing, start private services, migrate, seed the demo city, serve on http://127.0.0.1:8000"
	@echo "make test   install what is missing, start private services, run every test"
	@echo "make bench  run the benchmarks under tests/bench (not part of make test)"
	@echo "make stop   stop the private services under ./var"

deps-system:
	@missing=$$(for p in $(APT_RUN); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "installing Debian packages: $$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; fi

deps-test-system:
	@missing=$$(for p in $(APT_TEST); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "installing Debian packages: $$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

messages: $(VENV)/.installed
	@# Without settings, django-admin compiles every locale/ folder below here (needs no database).
	@if ls locale/*/LC_MESSAGES/*.po >/dev/null 2>&1; then \
	  env -u DJANGO_SETTINGS_MODULE $(BIN)/django-admin compilemessages -v 0 --ignore=.venv --ignore=var --ignore=node_modules; fi

# Front-end packages come from the npm registry with a lock file, when the project has any.
node_modules/.installed: $(wildcard package-lock.json)
	@if [ -f package-lock.json ]; then \
	  command -v npm >/dev/null || { $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q nodejs npm; }; \
	  npm ci --no-audit --no-fund && touch $@; fi

deps: deps-system $(VENV)/.installed $(if $(wildcard package-lock.json),node_modules/.installed) messages

services: deps-system
	@scripts/services.sh start

stop:
	@scripts/services.sh stop

migrate: deps services
	@$(LOAD_ENV) $(BIN)/python manage.py migrate --noinput -v 0

seed: migrate
	@$(LOAD_ENV) $(BIN)/python manage.py seed_demo

run: seed
	@$(LOAD_ENV) $(BIN)/python manage.py demo_logins
	@echo "serving on http://127.0.0.1:8000 (Ctrl-C stops web, worker and beat; 'make stop' stops the private services)"
	@$(LOAD_ENV) $(BIN)/honcho start -f Procfile

test: deps deps-test-system services
	@$(LOAD_ENV) $(BIN)/python manage.py makemigrations --check --dry-run -v 0 || { echo "models changed without a migration"; exit 1; }
	@$(LOAD_ENV) $(BIN)/ruff check .
	@$(LOAD_ENV) $(BIN)/pytest $(PYTEST_ARGS)

bench: deps services
	@$(LOAD_ENV) $(BIN)/pytest tests/bench -p no:cacheprovider -s --benchmarks $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
