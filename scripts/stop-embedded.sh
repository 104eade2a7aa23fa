#!/usr/bin/env bash
# `make stop`: stop what `make run` started and what outlives its Ctrl-C.
#   1. the web server and the Celery worker of a `make run` still running in another
#      terminal (found through var/run/embedded.pids, written by run-embedded.sh);
#   2. every ledger node process the local driver runs for this install (var/nodes, or
#      BAAS_NODES_DIR), through the driver's own stop, which waits for each to exit.
# The database still wants those networks running: the next `make run` starts their nodes
# again (the reconciler). Stop a network in the portal first to keep it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
RUN_DIR="${BAAS_VAR_DIR:-var}/run"
PIDS="$RUN_DIR/embedded.pids"

# Running (a zombie waiting for its parent to reap it counts as gone).
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != "Z" ]]
}

if [[ -f "$PIDS" ]]; then
  script=$(awk '$1=="script"{print $2}' "$PIDS")
  pgid=$(awk '$1=="pgid"{print $2}' "$PIDS")
  worker=$(awk '$1=="worker"{print $2}' "$PIDS")
  mine=$(ps -o pgid= -p $$ | tr -d ' ')
  if [[ -n "$script" ]] && alive "$script" \
      && tr '\0' ' ' < "/proc/$script/cmdline" 2>/dev/null | grep -q run-embedded.sh; then
    echo "Stopping make run (pid $script): web server and worker..."
    # What Ctrl-C in its terminal does (SIGINT to its process group: make, the script, the
    # server and the worker with its pool), then TERM, then KILL for what still runs.
    signal_run() {
      if [[ -n "$pgid" && "$pgid" != "$mine" ]]; then
        kill "-$1" -- "-$pgid" 2>/dev/null || true
      else
        kill "-$1" "$script" "$worker" 2>/dev/null || true
      fi
    }
    gone() { ! alive "$script" && ! alive "${worker:-0}"; }
    for sig in INT TERM KILL; do
      signal_run "$sig"
      for _ in $(seq 1 30); do gone && break; sleep 0.5; done
      gone && break
      echo "Still running 15 s after SIG$sig (a task finishing, or Ctrl-C ignored)." >&2
    done
  fi
  rm -f "$PIDS"
fi

echo "Stopping local ledger nodes..."
DJANGO_SETTINGS_MODULE=baas.settings $PY - <<'PY'
import django

django.setup()

from deploy.drivers.config import install_id  # noqa: E402
from deploy.drivers.local import LocalDriver  # noqa: E402

driver = LocalDriver()
nodes = sorted({(r.network_id, r.node_id) for r in driver.list_owned(install_id=install_id())
                if r.kind == "process" and r.network_id and r.node_id})
for network_id, node_id in nodes:
    driver.stop_node(network_id=network_id, node_id=node_id)
left = [r for r in driver.list_owned(install_id=install_id()) if r.kind == "process"]
print(f"Stopped {len(nodes)} node(s) under {driver.nodes_dir}.")
if left:
    print(f"{len(left)} node process(es) still running: " + ", ".join(r.name for r in left))
    raise SystemExit(1)
PY
