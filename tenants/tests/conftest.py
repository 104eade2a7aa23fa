import pytest


@pytest.fixture(autouse=True)
def _clear_throttle_cache():
    """Throttle counters live in the cache; each test starts with none."""
    from django.core.cache import cache

    cache.clear()
    yield
