#!/usr/bin/env bash
# Runs the embedded runtime: a Celery worker (with beat) on the serverless broker and the
# Django development server. Ctrl-C stops both -- but not the ledger nodes: the local driver
# starts every node in its own session so that restarting the worker does not stop running
# networks. `make stop` (scripts/stop-embedded.sh) stops the nodes too, and this script and
# its worker and server when they run in another terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
RUN_DIR="${BAAS_VAR_DIR:-var}/run"
mkdir -p "$RUN_DIR"
$PY -m celery -A baas worker -B --loglevel=INFO --concurrency=2 &
worker=$!
# What `make stop` needs to find us: this script, its process group and the worker.
printf 'script %s\npgid %s\nworker %s\n' "$$" "$(ps -o pgid= -p $$ | tr -d ' ')" "$worker" \
  > "$RUN_DIR/embedded.pids"
cleanup() {
  kill "$worker" 2>/dev/null || true
  wait "$worker" 2>/dev/null || true
  rm -f "$RUN_DIR/embedded.pids"
  echo "Stopped the web server and the worker. Ledger nodes of running networks keep" \
       "running; 'make stop' stops them." >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM
$PY manage.py runserver "${BAAS_LISTEN:-127.0.0.1:8000}"
