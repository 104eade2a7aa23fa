"""Settings for the BaaS control plane, read from the environment.

Development defaults need nothing: SQLite under ``var/`` and a Celery broker on the local
filesystem, so the embedded runtime still runs a real worker process. Set ``DATABASE_URL``
for PostgreSQL and ``REDIS_URL`` for a Redis broker (or ``DATABASE_URL_FILE`` /
``REDIS_URL_FILE``: the URLs carry passwords). With ``BAAS_ENV=production`` the
process refuses to start without its secrets. Every setting is listed in
``docs/configuration.md``.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("BAAS_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

BAAS_ENV = os.environ.get("BAAS_ENV", "development")
PRODUCTION = BAAS_ENV == "production"


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def read_secret(name: str) -> str | None:
    """A secret comes from a file named by ``<NAME>_FILE`` (container secrets), never logged."""
    path = os.environ.get(f"{name}_FILE")
    if not path:
        return None
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"{name}_FILE names {path!r}, which cannot be read: "
                                   f"{exc.strerror}.") from None


def url_setting(name: str) -> str:
    """A service URL from ``<NAME>_FILE`` or the ``<NAME>`` variable, empty when neither.

    The file form exists because the URL carries a password: a container orchestrator mounts
    it from a secret store, where an environment variable would show it to anyone who can
    read the process's or the pod's environment. Both at once is refused rather than one
    silently winning, so an operator is never unsure which database the process uses.
    """
    from_file = read_secret(name)
    from_env = os.environ.get(name, "")
    if from_file is not None and from_env:
        raise ImproperlyConfigured(f"{name} and {name}_FILE are both set; set only one")
    return from_env if from_file is None else from_file


def development_secret_key() -> str:
    """A per-checkout random key kept in var/, so dev sessions survive restarts."""
    key_file = VAR_DIR / "dev-secret-key"
    if not key_file.exists():
        import secrets

        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = read_secret("BAAS_SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "BAAS_SECRET_KEY_FILE must name a file holding the secret key in production"
        )
    SECRET_KEY = development_secret_key()
if PRODUCTION and len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("BAAS_SECRET_KEY_FILE holds a key shorter than 32 characters")

DEBUG = env_bool("BAAS_DEBUG", not PRODUCTION)
ALLOWED_HOSTS = env_list(
    "BAAS_ALLOWED_HOSTS", "" if PRODUCTION else "localhost,127.0.0.1,[::1],testserver"
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("BAAS_ALLOWED_HOSTS is required in production")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "baas",
    "tenants",
    "deploy",
    "sectors",
    "identity",
    "monitor",
    "notify",
    "archives",
    "explorer",
    "elections",
]

MIDDLEWARE = [
    "baas.middleware.RequestContextMiddleware",
    "baas.metrics.MetricsMiddleware",
    "baas.middleware.ApiBodyLimitMiddleware",
    "baas.middleware.ApiQueryStringMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "baas.middleware.AsyncFileResponseMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "baas.urls"
WSGI_APPLICATION = "baas.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        url_setting("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'baas.sqlite3'}",
        conn_max_age=int(os.environ.get("BAAS_DB_CONN_MAX_AGE", "60")),
    )
}
# A bounded pool of PostgreSQL connections (psycopg_pool), on by default under ASGI
# (baas/asgi.py): there every request runs its sync code in a thread of its own, so with
# plain connections N concurrent requests ask for N connections and the server's
# max_connections turns a burst of new event streams into errors. With the pool a request
# waits up to BAAS_DB_POOL_TIMEOUT seconds for one of BAAS_DB_POOL_MAX_SIZE connections.
DB_POOL_MAX_SIZE = int(os.environ.get("BAAS_DB_POOL_MAX_SIZE", "0"))
if DB_POOL_MAX_SIZE > 0 and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": float(os.environ.get("BAAS_DB_POOL_TIMEOUT", "10")),
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django's pool requires it
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web process and the worker share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A file (not :memory:) test database, so a real Celery worker process started by a
    # test can open the same database as the test itself.
    # The pid keeps concurrent test runs on one checkout from sharing a file.
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get(
            "BAAS_TEST_DB_NAME", str(VAR_DIR / f"test-baas-{os.getpid()}.sqlite3")
        )
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts --------------------------------------------------------------------------------
AUTH_USER_MODEL = "tenants.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": int(os.environ.get("BAAS_PASSWORD_MIN_LENGTH", "10"))},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
# Links in emails (verification, password reset, invitations) start with this.
BAAS_PUBLIC_URL = os.environ.get("BAAS_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
# Seconds a verification or password-reset link stays valid.
PASSWORD_RESET_TIMEOUT = int(os.environ.get("BAAS_PASSWORD_RESET_TIMEOUT", str(3 * 24 * 3600)))
BAAS_INVITATION_TTL_HOURS = int(os.environ.get("BAAS_INVITATION_TTL_HOURS", "168"))
BAAS_TRUST_X_FORWARDED_FOR = env_bool("BAAS_TRUST_X_FORWARDED_FOR", False)
# Content-Security-Policy (django-csp) on every response: scripts, styles, images and
# connections only from this site; no inline script, no plugins, no framing. The portal has
# no inline script or handler (tests/test_csp.py keeps it so). The Swagger UI page renders
# its configuration in an inline script, so /api/docs/ is left out until it moves to
# drf-spectacular's SpectacularSwaggerSplitView.
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/api/docs/"],
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# Per-account limits (docs/security.md): after BAAS_LOGIN_MAX_FAILURES wrong passwords the
# account refuses sign-in for BAAS_LOGIN_LOCKOUT_SECONDS (a password reset ends it early);
# at most BAAS_PASSWORD_RESET_PER_HOUR reset emails per account.
BAAS_LOGIN_MAX_FAILURES = int(os.environ.get("BAAS_LOGIN_MAX_FAILURES", "10"))
BAAS_LOGIN_LOCKOUT_SECONDS = int(os.environ.get("BAAS_LOGIN_LOCKOUT_SECONDS", "900"))
BAAS_PASSWORD_RESET_PER_HOUR = int(os.environ.get("BAAS_PASSWORD_RESET_PER_HOUR", "3"))
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("BAAS_SECURE_COOKIES", PRODUCTION)
SECURE_SSL_REDIRECT = env_bool("BAAS_SSL_REDIRECT", PRODUCTION)
# Probes speak plain HTTP from inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = int(os.environ.get("BAAS_HSTS_SECONDS", "0"))
if env_bool("BAAS_TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Email: console in development, SMTP when BAAS_EMAIL_HOST is set ------------------------
DEFAULT_FROM_EMAIL = os.environ.get("BAAS_DEFAULT_FROM_EMAIL", "BaaS <no-reply@localhost>")
EMAIL_HOST = os.environ.get("BAAS_EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = int(os.environ.get("BAAS_EMAIL_PORT", "587"))
    EMAIL_HOST_USER = os.environ.get("BAAS_EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = read_secret("BAAS_EMAIL_HOST_PASSWORD") or ""
    EMAIL_USE_TLS = env_bool("BAAS_EMAIL_USE_TLS", True)
    EMAIL_TIMEOUT = int(os.environ.get("BAAS_EMAIL_TIMEOUT", "10"))
else:
    if PRODUCTION:
        raise ImproperlyConfigured("BAAS_EMAIL_HOST is required in production")
    EMAIL_BACKEND = os.environ.get(
        "BAAS_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"
    )

# --- REST API --------------------------------------------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("BAAS_MAX_BODY_BYTES", str(1024 * 1024)))
# The largest body of a portal page (outside /api/; its largest form is the 2 MiB bundle
# upload). Enforced before the body is read (baas/body_limit.py).
BAAS_PORTAL_MAX_BODY_BYTES = int(os.environ.get("BAAS_PORTAL_MAX_BODY_BYTES",
                                                str(4 * 1024 * 1024)))
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "tenants.permissions.TokenScopePermission",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + ([] if PRODUCTION else ["rest_framework.renderers.BrowsableAPIRenderer"]),
    "DEFAULT_PARSER_CLASSES": ["baas.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "baas.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "baas.errors.exception_handler",
    # Actions named in BAAS_ACTION_THROTTLES are rate-limited per user and object by
    # tenants.throttling.ActionRateThrottle; every other view passes it untouched.
    "DEFAULT_THROTTLE_CLASSES": ["tenants.throttling.ActionRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "auth": os.environ.get("BAAS_AUTH_THROTTLE_RATE", "20/minute"),
        "node_restart": os.environ.get("BAAS_NODE_RESTART_THROTTLE_RATE", "3/minute"),
        # Registering or checking a cluster connects out to an address the tenant chose.
        "cluster_check": os.environ.get("BAAS_CLUSTER_CHECK_THROTTLE_RATE", "10/minute"),
        # Each restore derives a key from a passphrase (scrypt): guessing stays slow.
        "archive_restore": os.environ.get("BAAS_RESTORE_THROTTLE_RATE", "10/hour"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# "<view class>.<action>" -> throttle scope (a rate above): restarting one node is
# limited, whatever the token or session asks.
BAAS_ACTION_THROTTLES = {"NodeViewSet.restart": "node_restart",
                         "ClusterViewSet.create": "cluster_check",
                         "ClusterViewSet.check": "cluster_check",
                         "RestoreView.restore": "archive_restore"}
# The public pages of template deployments (/p/<id>/prepare|submit|query/), per client
# address: anyone may call them, so they are the first thing a flood would hit.
BAAS_PUBLIC_PAGE_THROTTLE_RATE = os.environ.get("BAAS_PUBLIC_PAGE_THROTTLE_RATE", "60/minute")
# --- The public DID resolver (/1.0/identifiers/, docs/identity.md "Resolver") ----------------
# Per client address; anyone may call it. did:baas answers are cached: the latest version for
# BAAS_DID_CACHE_SECONDS, a given versionId (never changes) for BAAS_DID_VERSION_CACHE_SECONDS.
BAAS_DID_RESOLVER_THROTTLE_RATE = os.environ.get("BAAS_DID_RESOLVER_THROTTLE_RATE", "600/minute")
BAAS_DID_WEB_THROTTLE_RATE = os.environ.get("BAAS_DID_WEB_THROTTLE_RATE", "60/minute")
BAAS_DID_CACHE_SECONDS = int(os.environ.get("BAAS_DID_CACHE_SECONDS", "5"))
BAAS_DID_VERSION_CACHE_SECONDS = int(os.environ.get("BAAS_DID_VERSION_CACHE_SECONDS", "3600"))
# did:web: fetched over HTTPS from the address the name resolves to, never a loopback,
# private or link-local one unless BAAS_DID_WEB_ALLOW_PRIVATE; BAAS_DID_WEB_CA_FILE replaces
# the system's trust store (a private PKI, tests).
BAAS_DID_WEB_ENABLED = env_bool("BAAS_DID_WEB_ENABLED", True)
BAAS_DID_WEB_ALLOW_PRIVATE = env_bool("BAAS_DID_WEB_ALLOW_PRIVATE", False)
BAAS_DID_WEB_TIMEOUT_SECONDS = float(os.environ.get("BAAS_DID_WEB_TIMEOUT_SECONDS", "5"))
BAAS_DID_WEB_MAX_BYTES = int(os.environ.get("BAAS_DID_WEB_MAX_BYTES", str(256 * 1024)))
BAAS_DID_WEB_CA_FILE = os.environ.get("BAAS_DID_WEB_CA_FILE") or None
SPECTACULAR_SETTINGS = {
    "TITLE": "BaaS control plane API",
    "DESCRIPTION": "Tenants, members, API tokens, operations, audit and ledger networks.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI assets come from drf-spectacular-sidecar: the docs page works offline, no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Two different "role" choice sets: a member's role and a consortium member's role.
    "ENUM_NAME_OVERRIDES": {
        "MemberRoleEnum": "tenants.choices.Role",
        "ConsortiumRoleEnum": "deploy.choices.ConsortiumRole",
        "NetworkStatusEnum": "deploy.choices.NetworkStatus",
        "DeploymentStatusEnum": "sectors.choices.DeploymentStatus",
        "DidStatusEnum": "identity.choices.DidStatus",
        "DidCustodyEnum": "identity.choices.Custody",
        "WebhookDeliveryStatusEnum": "notify.choices.DeliveryStatus",
    },
}
# Server-sent events of operations: database poll interval and stream length (seconds).
BAAS_SSE_POLL_SECONDS = float(os.environ.get("BAAS_SSE_POLL_SECONDS", "1"))
BAAS_SSE_MAX_SECONDS = float(os.environ.get("BAAS_SSE_MAX_SECONDS", "300"))
# Under ASGI every event stream of a process reads the database through one pool of this
# many threads (baas/sse.py), so streams cost at most this many database connections.
BAAS_SSE_DB_THREADS = int(os.environ.get("BAAS_SSE_DB_THREADS", "4"))
# A shared cache makes throttling count across processes. Kept apart from the broker's Redis
# database on purpose: clearing a cache must never drop queued tasks.
_cache_url = url_setting("BAAS_CACHE_URL")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": _cache_url,
        "KEY_PREFIX": "baas",
    }
    if _cache_url
    # Per process. Django's default of 300 entries would cull the DID resolver's answers
    # (one per DID) and the throttle counters long before their time is up.
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
          "OPTIONS": {"MAX_ENTRIES": 20000}}
}

# --- Kubernetes driver (docs/configuration.md, docs/kubernetes.md) ---------------------------
# The platform's own cluster: a kubeconfig FILE path (never its content, which would end up
# in the environment of every process), else in-cluster config when running in a pod.
BAAS_KUBE_KUBECONFIG = os.environ.get("BAAS_KUBE_KUBECONFIG") or None
BAAS_KUBE_CONTEXT = os.environ.get("BAAS_KUBE_CONTEXT") or None
# Repository of the node image; a network's pods run <repository>:ledger-<its version>.
BAAS_KUBE_NODE_IMAGE = os.environ.get("BAAS_KUBE_NODE_IMAGE", "baas/node")
BAAS_KUBE_STORAGE_CLASS = os.environ.get("BAAS_KUBE_STORAGE_CLASS") or None
BAAS_KUBE_STORAGE_GB = int(os.environ.get("BAAS_KUBE_STORAGE_GB", "5"))
# Namespace the control plane runs in: node RPC accepts traffic from it (NetworkPolicy).
BAAS_KUBE_CONTROL_PLANE_NAMESPACE = os.environ.get("BAAS_KUBE_CONTROL_PLANE_NAMESPACE", "baas")
# Seconds to wait for pods to become ready and for a deleted network's namespace to go.
BAAS_KUBE_READY_TIMEOUT = float(os.environ.get("BAAS_KUBE_READY_TIMEOUT", "300"))

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ko", "한국어")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True
FORMAT_MODULE_PATH = ["baas.formats"]  # Korean dates year-first (baas/formats/ko)

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").exists() else []

# --- Celery -------------------------------------------------------------------------------
REDIS_URL = url_setting("REDIS_URL")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 3600}
else:
    # Serverless broker: kombu's filesystem transport. A real worker process consumes it.
    _broker_dir = Path(os.environ.get("BAAS_BROKER_DIR", VAR_DIR / "broker"))
    for _sub in ("in", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "in"),
        "data_folder_out": str(_broker_dir / "in"),
        "processed_folder": str(_broker_dir / "processed"),
        # Exchange tables (broadcast/pidbox) default to ./control in the working directory.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "operations-reap": {"task": "baas.tasks.operations_reap_task", "schedule": 60.0},
    # deploy: repair drift between networks in the DB and what the drivers run; fail
    # networks whose operation passed its deadline (docs/operations.md).
    "deploy-reconcile": {"task": "deploy.reconcile", "schedule": 15.0},
    "deploy-reap": {"task": "deploy.reap", "schedule": 60.0},
    # monitor: where every live network's chain stands, for the portal's charts.
    "monitor-sample": {"task": "monitor.sample",
                       "schedule": float(os.environ.get("BAAS_MONITOR_SAMPLE_SECONDS", "60"))},
    # explorer: the platform's tx index, filled from committed blocks (docs/explorer.md).
    "explorer-index": {"task": "explorer.index",
                       "schedule": float(os.environ.get("BAAS_EXPLORER_INDEX_SECONDS", "10"))},
    # notify: queue again webhook deliveries whose task message was lost (docs/webhooks.md).
    "notify-sweep": {"task": "notify.deliveries_sweep", "schedule": 60.0},
    # archives: scheduled backups that are due (docs/backup.md)
    "archives-backups-due": {"task": "archives.backups_due", "schedule": 300.0},
}
# Blocks one explorer index pass reads per network at most (explorer/indexer.py).
BAAS_EXPLORER_INDEX_BLOCKS = int(os.environ.get("BAAS_EXPLORER_INDEX_BLOCKS", "2000"))
# Seconds the readiness probe waits for the broker.
BAAS_READY_BROKER_TIMEOUT = float(os.environ.get("BAAS_READY_BROKER_TIMEOUT", "2"))
# /metrics (docs/operations.md#metrics): a bearer token read from BAAS_METRICS_TOKEN_FILE.
# Without it /metrics is open in development and closed in production.
BAAS_METRICS_TOKEN = read_secret("BAAS_METRICS_TOKEN")

# --- Exports and backups (archives/, docs/backup.md) -----------------------------------------
# Where export and backup archives are written (a local directory; mount a network or object
# store file system there to keep them off the control plane's disk).
BAAS_BACKUP_DIR = Path(os.environ.get("BAAS_BACKUP_DIR", VAR_DIR / "backups"))
# The most a restored backup may unpack to (bytes): a crafted archive cannot fill the disk.
BAAS_BACKUP_MAX_BYTES = int(os.environ.get("BAAS_BACKUP_MAX_BYTES", str(20 * 1024**3)))
# The largest backup file a restore may upload (``POST /api/v1/restores/``, multipart; it is
# streamed to disk, never held in memory). Every other API body keeps BAAS_MAX_BODY_BYTES.
BAAS_RESTORE_UPLOAD_MAX_BYTES = int(os.environ.get("BAAS_RESTORE_UPLOAD_MAX_BYTES",
                                                   str(4 * 1024**3)))
# Exports hold every key in clear: their files and rows go this many hours after they are
# written (0 keeps them until deleted).
BAAS_EXPORT_TTL_HOURS = int(os.environ.get("BAAS_EXPORT_TTL_HOURS", "72"))
# Archives (exports and backups, scheduled ones included) an organisation may keep at once.
BAAS_ARCHIVE_MAX_PER_TENANT = int(os.environ.get("BAAS_ARCHIVE_MAX_PER_TENANT", "50"))
# Where new archives are kept: "local" (files under BAAS_BACKUP_DIR) or "s3" (an
# S3-compatible bucket; BAAS_BACKUP_DIR then holds only work files). docs/backup.md#s3.
BAAS_BACKUP_STORE = os.environ.get("BAAS_BACKUP_STORE", "local").strip().lower()
BAAS_BACKUP_S3_ENDPOINT = os.environ.get("BAAS_BACKUP_S3_ENDPOINT", "")
BAAS_BACKUP_S3_BUCKET = os.environ.get("BAAS_BACKUP_S3_BUCKET", "")
BAAS_BACKUP_S3_PREFIX = os.environ.get("BAAS_BACKUP_S3_PREFIX", "")
BAAS_BACKUP_S3_REGION = os.environ.get("BAAS_BACKUP_S3_REGION", "us-east-1")
BAAS_BACKUP_S3_TIMEOUT_S = float(os.environ.get("BAAS_BACKUP_S3_TIMEOUT_S", "30"))
BAAS_BACKUP_S3_PART_MB = int(os.environ.get("BAAS_BACKUP_S3_PART_MB", "16"))
BAAS_BACKUP_S3_CA_FILE = os.environ.get("BAAS_BACKUP_S3_CA_FILE") or None
# The credentials only from files (a mounted secret), never from variable values or AWS_*.
BAAS_BACKUP_S3_ACCESS_KEY = read_secret("BAAS_BACKUP_S3_ACCESS_KEY")
BAAS_BACKUP_S3_SECRET_KEY = read_secret("BAAS_BACKUP_S3_SECRET_KEY")
if BAAS_BACKUP_STORE not in ("local", "s3"):
    raise ImproperlyConfigured("BAAS_BACKUP_STORE is 'local' or 's3'")
if BAAS_BACKUP_STORE == "s3" and not (
        BAAS_BACKUP_S3_ENDPOINT.startswith(("http://", "https://")) and BAAS_BACKUP_S3_BUCKET
        and BAAS_BACKUP_S3_ACCESS_KEY and BAAS_BACKUP_S3_SECRET_KEY):
    raise ImproperlyConfigured(
        "BAAS_BACKUP_STORE=s3 needs BAAS_BACKUP_S3_ENDPOINT (http:// or https://), "
        "BAAS_BACKUP_S3_BUCKET, BAAS_BACKUP_S3_ACCESS_KEY_FILE and "
        "BAAS_BACKUP_S3_SECRET_KEY_FILE")
if not 5 <= BAAS_BACKUP_S3_PART_MB <= 5120:
    raise ImproperlyConfigured("BAAS_BACKUP_S3_PART_MB is 5 to 5120 (S3's part sizes)")

# --- Registered Kubernetes clusters (deploy/services/clusters.py) -----------------------------
# A tenant's kubeconfig may point at loopback, private or link-local addresses only when this
# is on: off by default, so a tenant cannot aim the control plane at its own network.
BAAS_CLUSTER_ALLOW_PRIVATE = env_bool("BAAS_CLUSTER_ALLOW_PRIVATE", False)
# The same for platform clusters (registered by staff or `manage.py platform_cluster`), so the
# tenants' switch can stay off. On by default: the operator's own clusters usually sit on the
# operator's private network (a VPC, a private API endpoint), and whoever registers one is
# already trusted to decide where the control plane connects (as BAAS_KUBE_KUBECONFIG does for
# the platform's own cluster). Turn it off where staff accounts should not be able to aim the
# control plane at internal addresses.
BAAS_PLATFORM_CLUSTER_ALLOW_PRIVATE = env_bool("BAAS_PLATFORM_CLUSTER_ALLOW_PRIVATE", True)

# --- Webhooks (notify/, docs/webhooks.md) ---------------------------------------------------
# Deliver to loopback, private, link-local or multicast addresses too: off by default, so a
# tenant cannot aim the control plane at the operator's own network.
BAAS_WEBHOOK_ALLOW_PRIVATE = env_bool("BAAS_WEBHOOK_ALLOW_PRIVATE", False)
# One attempt's deadline (connect, send, answer), the attempts a delivery gets, and the
# back-off between them: doubling from BACKOFF_S up to BACKOFF_MAX_S, times a jitter factor.
BAAS_WEBHOOK_TIMEOUT_S = float(os.environ.get("BAAS_WEBHOOK_TIMEOUT_S", "10"))
BAAS_WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("BAAS_WEBHOOK_MAX_ATTEMPTS", "8"))
BAAS_WEBHOOK_BACKOFF_S = float(os.environ.get("BAAS_WEBHOOK_BACKOFF_S", "30"))
BAAS_WEBHOOK_BACKOFF_MAX_S = float(os.environ.get("BAAS_WEBHOOK_BACKOFF_MAX_S", "3600"))
# validator.down fires once a validator has not been seen healthy for this long.
BAAS_WEBHOOK_VALIDATOR_DOWN_MINUTES = int(
    os.environ.get("BAAS_WEBHOOK_VALIDATOR_DOWN_MINUTES", "5"))
# Subscriptions per tenant (every event is sent once per subscription that wants it), and
# replays per tenant per minute.
BAAS_WEBHOOK_MAX_SUBSCRIPTIONS = int(os.environ.get("BAAS_WEBHOOK_MAX_SUBSCRIPTIONS", "20"))
BAAS_WEBHOOK_MAX_REPLAYS_PER_MINUTE = int(
    os.environ.get("BAAS_WEBHOOK_MAX_REPLAYS_PER_MINUTE", "30"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "baas.logging.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "plain",
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("BAAS_LOG_LEVEL", "INFO")},
}
