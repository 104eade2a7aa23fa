import pytest


@pytest.fixture(autouse=True)
def _clear_throttle_cache():
    """Throttle counters live in the cache; each test starts with none."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 at full strength dominates test time; tests do not measure it."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def eager_celery():
    """Run tasks in-process for unit tests of task bodies (ordering tests use a real worker,
    see tests/test_worker.py). Messages then never reach the developer's broker folder."""
    from baas.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield app
    app.conf.task_always_eager = False
    app.conf.task_eager_propagates = False
