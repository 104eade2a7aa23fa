"""``BAAS_ENV=production`` refuses to start without its secrets (``baas/settings.py``).

Each case starts a fresh interpreter, because settings are read once per process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
PROBE = """
import os
import django

django.setup()
from django.conf import settings as s

key_file = os.environ.get("BAAS_SECRET_KEY_FILE")
from_file = key_file is not None and s.SECRET_KEY == open(key_file).read().strip()
print("started", s.DEBUG, s.SESSION_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.ALLOWED_HOSTS,
      s.EMAIL_BACKEND.rsplit(".", 1)[-1], from_file)
"""
GOOD_KEY = "k" * 20 + "0123456789abcdefghij"  # 40 characters


def _start(env_overrides: dict[str, str | None], tmp_path: Path) -> subprocess.CompletedProcess:
    # Nothing from the developer's or CI's environment leaks into the probe's settings.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BAAS_", "DJANGO_", "DEPLOY_"))
           and k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update({"DJANGO_SETTINGS_MODULE": "baas.settings", "BAAS_ENV": "production",
                "BAAS_VAR_DIR": str(tmp_path / "var")})
    for name, value in env_overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run([sys.executable, "-c", PROBE], cwd=BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def complete(tmp_path) -> dict[str, str]:
    key = tmp_path / "secret-key"
    key.write_text(GOOD_KEY + "\n")
    return {"BAAS_SECRET_KEY_FILE": str(key), "BAAS_ALLOWED_HOSTS": "baas.example.com",
            "BAAS_EMAIL_HOST": "smtp.example.com"}


def test_production_starts_with_every_secret(complete, tmp_path):
    result = _start(complete, tmp_path)
    assert result.returncode == 0, result.stderr
    # Production defaults are in force, and the key is the file's (newline stripped).
    assert result.stdout.split(maxsplit=1)[1].strip() == (
        "False True True ['baas.example.com'] EmailBackend True"
    ), result.stdout


@pytest.mark.parametrize("missing", ["BAAS_SECRET_KEY_FILE", "BAAS_ALLOWED_HOSTS",
                                     "BAAS_EMAIL_HOST"])
def test_production_refuses_to_start_without_a_secret(complete, tmp_path, missing):
    result = _start({**complete, missing: None}, tmp_path)
    assert result.returncode != 0
    assert "started" not in result.stdout
    assert "django.core.exceptions.ImproperlyConfigured" in result.stderr, result.stderr
    assert missing in result.stderr.strip().splitlines()[-1]


def test_an_empty_secret_key_file_counts_as_missing(complete, tmp_path):
    Path(complete["BAAS_SECRET_KEY_FILE"]).write_text("  \n")
    result = _start(complete, tmp_path)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last and "BAAS_SECRET_KEY_FILE" in last


def test_an_unreadable_secret_key_file_is_named(complete, tmp_path):
    result = _start({**complete, "BAAS_SECRET_KEY_FILE": str(tmp_path / "nope")}, tmp_path)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last and "BAAS_SECRET_KEY_FILE" in last
    assert "No such file" in last


@pytest.mark.parametrize(("length", "starts"), [(31, False), (32, True)])
def test_production_refuses_a_short_secret_key(complete, tmp_path, length, starts):
    Path(complete["BAAS_SECRET_KEY_FILE"]).write_text("s" * length)
    result = _start(complete, tmp_path)
    assert (result.returncode == 0) is starts, result.stderr
    if not starts:
        last = result.stderr.strip().splitlines()[-1]
        assert "ImproperlyConfigured" in last
        assert "BAAS_SECRET_KEY_FILE" in last and "32 characters" in last


def test_development_needs_none_of_them(tmp_path):
    result = _start({"BAAS_ENV": None}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("started True False False")
