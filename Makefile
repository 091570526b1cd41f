# Cimar Share: `make run` serves the demo, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
STAMP := $(VENV)/.installed
# Every package pinned, with its hashes: `make setup` installs exactly these. The ranges stay in
# pyproject.toml; `make lock` writes this file from them (LOCK_ARGS=--upgrade: newest allowed).
LOCK := requirements.lock
LOCK_ARGS ?=

.PHONY: run test lint audit bench bench-scale setup lock migrate seed static worker beat clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)

# The lock first (every package checked against its hash), then the project itself, editable and
# without dependencies: they all came from the lock. `pip check` fails when pyproject.toml's ranges
# were changed without `make lock`.
$(STAMP): pyproject.toml $(LOCK) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	@touch $(STAMP)

setup: $(STAMP)

# Not after setup: a lock that no longer fits pyproject.toml would stop setup before it is fixed.
# --universal: one file for every platform and Python >= 3.11 (markers where they differ).
lock: | $(BIN)/python
	@test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet "uv>=0.5"
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--generate-hashes --quiet $(LOCK_ARGS) -o $(LOCK)

# Known vulnerabilities in the locked packages (PyPI's advisory data, through its JSON API).
# --strict: a package that cannot be looked up fails the audit instead of passing unchecked.
# Not in .ci/run yet: from the CI machines PyPI's JSON API answers 404 for every package, so
# the audit cannot run there (README "Hardened defaults").
audit: | $(BIN)/python
	@test -x $(BIN)/pip-audit || $(BIN)/python -m pip install --quiet "pip-audit>=2.7"
	$(BIN)/pip-audit -r $(LOCK) --require-hashes --disable-pip --strict

migrate: setup
	@mkdir -p var
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo

# Static files collected with the production storage (hashed names and a manifest), so that the
# same tree also serves with DJANGO_DEBUG=0 under gunicorn (e.g. ../shared/bench/orthanc-side-by-side.sh).
# collectstatic reads no secret, but production mode refuses to start without a strong one: it
# gets a random key made for this one command and thrown away (nothing it signs outlives it).
static: setup
	DJANGO_DEBUG=0 ALLOWED_HOSTS=localhost \
		SECRET_KEY=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))') \
		$(BIN)/python manage.py collectstatic --noinput -v 0

# HOST and PORT reach the settings too, so that links in emails and SMS use this address
# (SITE_URL, when set, wins).
run: seed static
	@HOST=$(HOST) PORT=$(PORT) $(BIN)/python manage.py demo_banner --url http://$(HOST):$(PORT)/
	HOST=$(HOST) PORT=$(PORT) $(BIN)/python manage.py runserver $(HOST):$(PORT)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# bench.scale and bench.load need DATABASE_URL=postgres://... (each makes its own database
# beside that one); bench.load also REDIS_URL (gunicorn, a Celery worker and locust for 60 s).
# SCALE_ARGS=--million adds the 1,000,000-study step; LOAD_ARGS="--seconds 120 --users 20".
bench: migrate
	@mkdir -p bench/results
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.scale $(SCALE_ARGS)
	$(BIN)/python -m bench.load $(LOAD_ARGS)

bench-scale: setup
	$(BIN)/python -m bench.scale $(SCALE_ARGS)

worker: migrate
	$(BIN)/celery -A cimar_share worker --loglevel=INFO

beat: migrate
	$(BIN)/celery -A cimar_share beat --loglevel=INFO

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
