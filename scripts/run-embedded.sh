#!/usr/bin/env bash
# Runs the embedded runtime: a Celery worker (with beat) on the serverless broker and the
# Django development server. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
$PY -m celery -A baas worker -B --loglevel=INFO --concurrency=2 &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null' EXIT INT TERM
$PY manage.py runserver "${BAAS_LISTEN:-127.0.0.1:8000}"
