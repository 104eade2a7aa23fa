"""Service URLs from files: ``DATABASE_URL_FILE``, ``REDIS_URL_FILE``, ``BAAS_CACHE_URL_FILE``.

The URLs carry passwords, so the Helm chart mounts them from Secrets as files instead of
putting them in the pod's environment. Each case starts a fresh interpreter, because
settings are read once per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
PROBE = """
import json
import django

django.setup()
from django.conf import settings as s

db = s.DATABASES["default"]
print(json.dumps({"engine": db["ENGINE"], "host": db["HOST"], "name": db["NAME"],
                  "password": db["PASSWORD"], "broker": s.CELERY_BROKER_URL,
                  "cache": s.CACHES["default"].get("LOCATION")}))
"""
DB_URL = "postgres://baas:s3cr%40t@db.example.internal:5432/baas"
REDIS = "redis://:hunter2@redis.example.internal:6379/0"
CACHE = "redis://:hunter2@redis.example.internal:6379/1"


def _settings(tmp_path: Path, **overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BAAS_", "DJANGO_", "DEPLOY_"))
           and k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update({"DJANGO_SETTINGS_MODULE": "baas.settings", "BAAS_VAR_DIR": str(tmp_path / "var")})
    env.update(overrides)
    return subprocess.run([sys.executable, "-c", PROBE], cwd=BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=120)


def _file(tmp_path: Path, name: str, content: str) -> str:
    path = tmp_path / name
    path.write_text(content + "\n")  # Secrets written by hand often end in a newline
    return str(path)


def test_urls_come_from_files(tmp_path):
    done = _settings(tmp_path,
                     DATABASE_URL_FILE=_file(tmp_path, "db", DB_URL),
                     REDIS_URL_FILE=_file(tmp_path, "redis", REDIS),
                     BAAS_CACHE_URL_FILE=_file(tmp_path, "cache", CACHE))
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got == {"engine": "django.db.backends.postgresql", "host": "db.example.internal",
                   "name": "baas", "password": "s3cr@t", "broker": REDIS, "cache": CACHE}


def test_plain_variables_still_work(tmp_path):
    done = _settings(tmp_path, DATABASE_URL=DB_URL, REDIS_URL=REDIS, BAAS_CACHE_URL=CACHE)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert (got["host"], got["broker"], got["cache"]) == ("db.example.internal", REDIS, CACHE)


def test_neither_means_the_embedded_defaults(tmp_path):
    done = _settings(tmp_path)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["engine"] == "django.db.backends.sqlite3"
    assert got["broker"] == "filesystem://" and got["cache"] is None


@pytest.mark.parametrize("name", ["DATABASE_URL", "REDIS_URL", "BAAS_CACHE_URL"])
def test_both_forms_at_once_are_refused(tmp_path, name):
    value = DB_URL if name == "DATABASE_URL" else REDIS
    done = _settings(tmp_path, **{name: value, f"{name}_FILE": _file(tmp_path, "u", value)})
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last and f"{name}_FILE" in last
    assert "hunter2" not in done.stderr and "s3cr" not in done.stderr  # never the secret


def test_an_unreadable_url_file_is_named(tmp_path):
    done = _settings(tmp_path, DATABASE_URL_FILE=str(tmp_path / "missing"))
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert "DATABASE_URL_FILE" in last and "No such file" in last
