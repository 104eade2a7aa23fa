"""Real headless Chromium (Debian's, never a downloaded one) driven by Playwright.

Every browser test runs against pytest-django's ``live_server`` (a real HTTP server thread
on a transactional test database). Celery tasks (verification and invitation emails) are
consumed by a real Celery worker started in a thread of the test process
(``celery.contrib.testing.worker.start_worker``) from the configured broker, so the email it
sends lands in Django's locmem outbox, which the test reads.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import require_service

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT_DIR = Path(os.environ.get("BAAS_SCREENSHOT_DIR", "/tmp/baas-screenshots"))


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    require_service("chromium", os.path.isfile(path) and os.access(path, os.X_OK),
                    f"no Chromium executable at {path} (set CHROMIUM_PATH)")
    return path


@pytest.fixture
def playwright_instance(chromium_path: str, monkeypatch) -> Iterator:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an asyncio loop in the test thread; the ORM calls a test
    # makes between browser steps are ordinary synchronous calls, so Django's async guard is
    # lifted for browser tests only.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as pw:
        yield pw


@pytest.fixture
def new_browser(playwright_instance, chromium_path: str, tmp_path: Path) -> Iterator[Callable]:
    """Opens a fresh Chromium (own user-data dir, so own cookies) per call."""
    contexts = []

    def open_browser(*, width: int = 1280, height: int = 900, locale: str = "en-GB"):
        profile = tmp_path / f"profile-{len(contexts)}"
        context = playwright_instance.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium_path,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height},
            locale=locale,
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.pages[0] if context.pages else context.new_page()

    yield open_browser
    for context in contexts:
        context.close()


@pytest.fixture(autouse=True)
def fresh_celery_producer() -> None:
    """Earlier tests may have reset kombu's global pools (``kombu.pools.reset()``), which
    closes the pool the Celery app still holds; every browser test (sign-up queues an email)
    starts from fresh producer pools."""
    from baas.celery import app

    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def celery_worker(fresh_celery_producer, transactional_db) -> Iterator:
    """A real Celery worker consuming the configured broker in a thread of this process."""
    from celery.contrib.testing.worker import start_worker

    from baas.celery import app

    # Messages left by earlier tests that ran without a worker name rows of other databases.
    app.control.purge()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        yield


@pytest.fixture
def public_url(live_server, settings) -> str:
    """Links in emails point at the live server."""
    settings.BAAS_PUBLIC_URL = live_server.url
    return live_server.url


def wait_for_mail(to: str, subject_contains: str = "", timeout: float = 30.0):
    """The first email to ``to`` in the locmem outbox, waiting for the worker to send it."""
    from django.core import mail

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in mail.outbox:
            if to in message.to and subject_contains in message.subject:
                return message
        time.sleep(0.2)
    sent = [(m.to, m.subject) for m in mail.outbox]
    raise AssertionError(f"no email to {to} ({subject_contains!r}) arrived; outbox: {sent}")


def link_in(message, base_url: str) -> str:
    for word in message.body.split():
        if word.startswith(base_url):
            return word
    raise AssertionError(f"no link to {base_url} in: {message.body}")


def screenshot(page, name: str) -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
