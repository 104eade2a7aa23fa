#!/bin/sh
# Control-plane container entrypoint: one image, one role per container (the Helm chart runs
# each role as its own Deployment or Job). The first argument names the role; anything else
# is run as given (e.g. `python manage.py createsuperuser`), so operators never need to know
# the exact commands.
#
#   web      the ASGI application under gunicorn (uvicorn workers; baas/gunicorn_conf.py)
#   worker   a Celery worker           beat     the Celery beat scheduler (run exactly one)
#   migrate  apply database migrations manage    any manage.py command
#
# Extra arguments after a role are passed on (e.g. `worker --concurrency 2`).
set -eu
role="${1:-web}"
[ "$#" -gt 0 ] && shift
case "$role" in
  web) exec gunicorn -c python:baas.gunicorn_conf baas.asgi:application "$@" ;;
  worker) exec celery -A baas worker "$@" ;;
  beat) exec celery -A baas beat "$@" ;;
  migrate) exec python manage.py migrate --noinput "$@" ;;
  manage) exec python manage.py "$@" ;;
  *) exec "$role" "$@" ;;
esac
