"""Bodies above their limit are refused under ASGI before Django reads them
(``baas/body_limit.py``), with the 413 the WSGI middleware gives. The production application
(``baas.asgi.application``) is driven directly with a fake server's receive and send."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from baas.asgi import application
from baas.body_limit import BodyLimitMiddleware

LIMIT = 1000
UPLOAD_LIMIT = 50_000
PORTAL_LIMIT = 5_000
CHUNK = 100
RESTORES = "/api/v1/restores/"
ENDLESS = 100 * UPLOAD_LIMIT


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    settings.BAAS_RESTORE_UPLOAD_MAX_BYTES = UPLOAD_LIMIT
    settings.BAAS_PORTAL_MAX_BODY_BYTES = PORTAL_LIMIT


class FakeServer:
    """A client's body in chunks of ``CHUNK`` bytes; "endless" (``total`` None) stops at
    ``ENDLESS`` bytes, so that code without the limit ends too. What the application asks
    for and sends is recorded."""

    def __init__(self, total: int | None) -> None:
        self.total = total
        self.delivered = 0
        self.receive_calls = 0
        self.sent: list[dict[str, Any]] = []
        self.body_done = False

    async def receive(self) -> dict[str, Any]:
        self.receive_calls += 1
        if self.body_done:
            await asyncio.sleep(3600)  # the client waits for the answer
        await asyncio.sleep(0)  # as a server would: the loop runs between messages
        total = ENDLESS if self.total is None else self.total
        size = min(CHUNK, total - self.delivered)
        self.delivered += size
        more = self.delivered < total
        self.body_done = not more
        return {"type": "http.request", "body": b"x" * size, "more_body": more}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        starts = [m for m in self.sent if m["type"] == "http.response.start"]
        assert len(starts) == 1, self.sent
        return starts[0]["status"]

    @property
    def headers(self) -> dict[str, str]:
        start = next(m for m in self.sent if m["type"] == "http.response.start")
        return {k.decode().lower(): v.decode() for k, v in start["headers"]}

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


def _scope(path: str, *, method: str = "POST", content_type: str = "application/json",
           length: int | None = None, request_id: str = "rid-1") -> dict[str, Any]:
    headers = [(b"host", b"testserver"), (b"content-type", content_type.encode()),
               (b"x-request-id", request_id.encode())]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
            "root_path": "", "query_string": b"", "headers": headers,
            "client": ("127.0.0.1", 5000), "server": ("testserver", 80)}


def _run(scope: dict[str, Any], server: FakeServer, app: Any = application) -> None:
    asyncio.run(asyncio.wait_for(app(scope, server.receive, server.send), timeout=30))


def test_a_declared_length_above_the_limit_gets_413_without_the_body_being_read(client):
    server = FakeServer(total=10 * LIMIT)
    _run(_scope("/api/v1/networks/", length=10 * LIMIT), server)

    assert server.status == 413
    assert server.receive_calls == 0  # not one byte of the body was asked for
    body = json.loads(server.body)
    assert body == {"error": {
        "code": "payload_too_large",
        "message": f"Request body is {10 * LIMIT} bytes; the limit is {LIMIT} bytes.",
        "details": {}, "request_id": "rid-1"}}
    assert server.headers["x-request-id"] == "rid-1"
    assert server.headers["content-type"] == "application/json"
    assert int(server.headers["content-length"]) == len(server.body)

    # The WSGI middleware (runserver, the test client) gives the same answer.
    wsgi = client.generic("POST", "/api/v1/networks/", b"x" * (10 * LIMIT),
                          content_type="application/json", HTTP_X_REQUEST_ID="rid-1")
    assert wsgi.status_code == 413
    assert wsgi.json() == body


def test_a_chunked_body_is_cut_at_the_limit_with_413():
    server = FakeServer(total=None)  # endless, no Content-Length
    _run(_scope("/api/v1/networks/"), server)

    assert server.status == 413  # exactly one response: Django's own sends are dropped
    assert json.loads(server.body)["error"]["code"] == "payload_too_large"
    assert server.headers["x-request-id"] == "rid-1"
    # Reading stopped at the limit: Django's spool never held more than that and a chunk.
    assert server.delivered <= LIMIT + CHUNK


@pytest.mark.parametrize("path", ["/some/portal/page/", "/accounts/login/"])
def test_a_chunked_portal_body_is_cut_at_the_portal_limit_not_the_restore_uploads(path):
    """Pages take no backup file, and a body is on disk before anyone signs in."""
    server = FakeServer(total=None)
    _run(_scope(path, content_type="multipart/form-data; boundary=xyz"), server)

    assert server.status == 413
    assert PORTAL_LIMIT < server.delivered <= PORTAL_LIMIT + CHUNK


def test_under_a_root_path_the_api_limit_still_applies():
    server = FakeServer(total=None)
    scope = _scope("/baas/api/v1/auth/login/", content_type="application/json")
    scope["root_path"] = "/baas"
    _run(scope, server)

    assert server.status == 413
    assert LIMIT < server.delivered <= LIMIT + CHUNK


@pytest.mark.parametrize("length", [None, 3 * LIMIT])
def test_a_restore_upload_above_the_ordinary_limit_passes_through(length):
    server = FakeServer(total=3 * LIMIT)
    _run(_scope(RESTORES, content_type="multipart/form-data; boundary=xyz", length=length),
         server)

    assert server.delivered == 3 * LIMIT  # Django read it all
    assert server.status in (401, 403)  # DRF's answer (not signed in), not a 413


def test_a_restore_upload_above_its_own_limit_gets_413():
    server = FakeServer(total=2 * UPLOAD_LIMIT)
    _run(_scope(RESTORES, content_type="multipart/form-data; boundary=xyz",
                length=2 * UPLOAD_LIMIT), server)
    assert server.status == 413
    assert server.receive_calls == 0


def test_a_json_restore_body_keeps_the_ordinary_limit():
    server = FakeServer(total=3 * LIMIT)
    _run(_scope(RESTORES, length=3 * LIMIT), server)
    assert server.status == 413
    assert server.receive_calls == 0


@pytest.mark.parametrize("length", [None, LIMIT])
def test_a_body_within_the_limit_reaches_django(length):
    server = FakeServer(total=LIMIT)
    _run(_scope("/api/v1/networks/", length=length), server)
    assert server.delivered == LIMIT
    assert server.status in (401, 403)


def test_a_get_without_a_body_is_answered():
    server = FakeServer(total=0)
    _run(_scope("/healthz", method="GET"), server)
    assert server.status == 200
    assert json.loads(server.body) == {"status": "ok"}


@pytest.mark.parametrize("scope_type", ["lifespan", "websocket"])
def test_other_scopes_pass_through_untouched(scope_type):
    seen: list[tuple[Any, Any, Any]] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope, receive, send))

    async def receive() -> dict[str, Any]:
        return {"type": f"{scope_type}.startup"}

    async def send(message: Any) -> None:
        pass

    scope = {"type": scope_type, "path": "/api/v1/networks/", "headers": [
        (b"content-length", str(10 * LIMIT).encode())]}
    asyncio.run(BodyLimitMiddleware(inner)(scope, receive, send))
    assert seen == [(scope, receive, send)]


def test_the_served_application_is_wrapped():
    assert isinstance(application, BodyLimitMiddleware)
