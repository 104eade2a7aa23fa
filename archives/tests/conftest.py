import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_throttles():
    """Restore attempts are throttled per user (a cache entry): user ids repeat between
    tests, so each test starts with no attempts counted."""
    cache.clear()
    yield
    cache.clear()
