#!/usr/bin/env bash
# Runs the production web server locally: static files collected for WhiteNoise, then
# gunicorn with uvicorn workers on Django's ASGI application -- the same command the
# control-plane image and the Helm chart run (docs/serving.md). Settings come from the
# environment (BAAS_LISTEN, BAAS_WEB_WORKERS, ...: docs/configuration.md).
#
# Only the web server: background work needs a Celery worker and beat beside it, e.g.
#   .venv/bin/celery -A baas worker --loglevel=INFO   and   .venv/bin/celery -A baas beat
# (`make run` starts the development server and a worker together instead).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
"$VENV/bin/python" manage.py collectstatic --noinput -v 0
# exec: gunicorn gets the signals (Ctrl-C, SIGTERM) itself and stops gracefully.
exec "$VENV/bin/gunicorn" -c python:baas.gunicorn_conf baas.asgi:application
