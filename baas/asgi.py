"""ASGI entry point: the production server runs
``gunicorn -c python:baas.gunicorn_conf baas.asgi:application`` (uvicorn workers,
``baas/gunicorn_conf.py``; ``docs/serving.md``). ``baas/wsgi.py`` stays for WSGI servers.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baas.settings")
# Under ASGI Django runs each request's sync code in a thread of its own that ends with the
# request, and database connections belong to a thread, so a persistent connection would
# never be reused, only left open until garbage collection. Django's async docs say to
# disable them; an explicit BAAS_DB_CONN_MAX_AGE still wins. (Event streams keep their
# connections in a shared pool of threads instead: baas/sse.py.)
os.environ.setdefault("BAAS_DB_CONN_MAX_AGE", "0")
# For the same reason, on PostgreSQL the requests of a worker share a bounded pool of
# connections (baas/settings.py): a burst of requests waits for a connection instead of
# exceeding the server's max_connections.
os.environ.setdefault("BAAS_DB_POOL_MAX_SIZE", "20")

from django.core.asgi import get_asgi_application  # noqa: E402 -- after the environment

from baas.body_limit import BodyLimitMiddleware  # noqa: E402 -- after django.setup()

# Django's handler reads a request's whole body before any middleware runs: bodies above
# their limit are refused (413) before they reach it (baas/body_limit.py, docs/serving.md).
application = BodyLimitMiddleware(get_asgi_application())
