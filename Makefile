# Commands for a fresh machine:
#   make run   - set up and run the portal, API and a Celery worker on the embedded default
#   make test  - set up and run the whole test suite
#   make serve - the production web server (gunicorn + uvicorn workers) on the same setup
#   (make stop - stop the local ledger nodes that outlive Ctrl-C on make run)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

.PHONY: setup run serve stop test lint cometbft proto clean

$(STAMP): requirements.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements.txt -c constraints.txt
	$(PIP) install -q --no-deps -e .
	touch $(STAMP)

setup: $(STAMP) cometbft proto
	$(PY) manage.py migrate --noinput

cometbft:
	bash scripts/install-cometbft.sh

proto: $(STAMP)
	$(PY) -m ledger.proto.build

run: setup
	$(PY) manage.py demo_setup
	bash scripts/run-embedded.sh

# The production web server, as the image runs it (docs/serving.md); no worker: start
# `celery -A baas worker` and `celery -A baas beat` beside it for background work.
serve: setup
	VENV=$(VENV) bash scripts/serve.sh

# Ctrl-C on `make run` stops the web server and the worker; the local ledger nodes keep
# running (own sessions). This stops them, and a `make run` still running elsewhere.
stop:
	bash scripts/stop-embedded.sh

test: $(STAMP) cometbft proto
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py spectacular --fail-on-warn --file /dev/null

clean:
	rm -rf $(VENV) var

# Portal translations: refresh locale/ko/LC_MESSAGES/django.po from the sources, then compile
# django.mo (both are committed). Needs gettext (apt-get install gettext).
.PHONY: messages
messages: $(STAMP)
	$(PY) manage.py makemessages -l ko -i ".venv/*" -i "ledger/*" -i "var/*" -i "static/*" \
		-i "staticfiles/*" -i "tests/*" -i "*/tests/*" -i "bench/*"
	$(PY) manage.py compilemessages -l ko -i $(VENV)
