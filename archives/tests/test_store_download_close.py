"""An S3 download's body (its connection) is closed on every path: a client gone before the
first chunk, a close racing a read in a worker thread, an audit that fails after the body
was opened. Local files likewise."""

from __future__ import annotations

import asyncio
import threading
from contextlib import contextmanager

import pytest
from asgiref.sync import async_to_sync

from archives import services, store
from archives.models import Archive
from deploy.tests.factories import MembershipFactory, NetworkFactory


class FakeObject:
    """Stands in for the urllib3 response minio's ``get_object`` returns: ``stream`` yields
    ``parts``; a read waits for ``go`` when ``block`` is set; ``close`` and ``release_conn``
    are recorded, with whether a read was in progress when they came."""

    def __init__(self, parts=(b"aa", b"bb"), *, block=False, fail=False):
        self.parts = list(parts)
        self.block = block
        self.fail = fail
        self.reading = threading.Event()
        self.go = threading.Event()
        self.in_read = False
        self.events: list[str] = []

    def stream(self, amt):
        for part in self.parts:
            self.in_read = True
            try:
                if self.block:
                    self.reading.set()
                    assert self.go.wait(10), "the test never let the read go on"
                if self.fail:
                    raise OSError("connection reset")
            finally:
                self.in_read = False
            yield part

    def close(self):
        self.events.append("close during a read" if self.in_read else "close")

    def release_conn(self):
        self.events.append("release during a read" if self.in_read else "release")


# --- _Body --------------------------------------------------------------------------------


def test_a_body_closed_before_its_first_chunk_releases_the_connection():
    obj = FakeObject()
    body = store._Body(obj)
    body.close()
    assert obj.events == ["close", "release"]
    assert list(body) == []  # nothing is read from a closed body
    body.close()
    assert obj.events == ["close", "release"]  # once


def test_a_body_read_to_its_end_releases_the_connection_once():
    obj = FakeObject()
    body = store._Body(obj)
    assert list(body) == [b"aa", b"bb"]
    body.close()
    assert obj.events == ["close", "release"]


def test_a_failed_read_releases_the_connection():
    obj = FakeObject(fail=True)
    body = store._Body(obj)
    with pytest.raises(OSError):
        next(body)
    assert obj.events == ["close", "release"]
    assert list(body) == []


def test_closing_a_body_during_a_read_in_another_thread_waits_for_that_read():
    """A cancelled download closes the response while ``next`` still runs in a worker
    thread: the connection is closed by that read once it returns, never under it, and
    ``close`` itself does not block on it."""
    obj = FakeObject(block=True)
    body = store._Body(obj)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(next(body)), daemon=True)
    reader.start()
    assert obj.reading.wait(5)
    closer = threading.Thread(target=body.close, daemon=True)
    closer.start()
    closer.join(5)
    assert not closer.is_alive(), "close blocked on a read in progress"
    assert obj.events == []  # not closed under the read
    obj.go.set()
    reader.join(5)
    assert not reader.is_alive()
    assert got == [b"aa"]
    assert obj.events == ["close", "release"]
    assert list(body) == []


# --- ThreadedChunks (the ASGI answer's iterator) -------------------------------------------


def test_threaded_chunks_close_without_iterating_closes_the_iterator():
    from baas.middleware import chunks_in_threads

    obj = FakeObject()
    stream = chunks_in_threads(store._Body(obj))
    stream.close()
    assert obj.events == ["close", "release"]


def test_threaded_chunks_close_during_a_read_leaves_the_closing_to_that_read():
    """The ASGI case of the race: a task cancelled while ``next`` runs in its thread; the
    response's ``close`` comes meanwhile. Any iterator (a plain generator would raise
    "generator already executing") is closed once that read is back."""
    from baas.middleware import chunks_in_threads

    events: list[str] = []
    reading, go = threading.Event(), threading.Event()

    def chunks():
        try:
            reading.set()
            assert go.wait(10)
            yield b"a"
            yield b"b"
        finally:
            events.append("closed")

    async def cancelled_mid_read():
        stream = chunks_in_threads(chunks())
        task = asyncio.ensure_future(stream.__anext__())
        await asyncio.to_thread(reading.wait, 5)
        task.cancel()
        await asyncio.to_thread(stream.close)  # the response's close, in a thread
        assert events == []  # not under the read
        go.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(100):
            if events:
                break
            await asyncio.sleep(0.05)

    async_to_sync(cancelled_mid_read)()
    assert events == ["closed"]


# --- the download views --------------------------------------------------------------------


@pytest.fixture
def owner(settings, tmp_path):
    settings.BAAS_BACKUP_DIR = str(tmp_path / "backups")
    return MembershipFactory(role="owner")


def _archive(owner, **fields) -> Archive:
    network = NetworkFactory(tenant=owner.tenant)
    values = {"tenant": owner.tenant, "network": network, "kind": "backup",
              "status": "ready", "network_name": network.name,
              "chain_id": network.chain_id, "store": "s3", "size": 4, "sha256": "0" * 64}
    return Archive.objects.create(**{**values, **fields})


@contextmanager
def _test_database_kept():
    """As Django's test clients do around a request: the end of one (``request_finished``)
    must not close the test's database connection."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _token(owner) -> str:
    from tenants.services import token_create

    return token_create(tenant=owner.tenant, actor=owner.user, membership=owner, name="dl",
                        scopes=["read", "deploy"])[1]


@pytest.mark.django_db
def test_an_asgi_download_the_client_left_before_the_first_chunk_closes_the_body(
        owner, monkeypatch):
    """Through Django's own ASGI handler: the client disconnects while the answer's start
    is being sent, so no chunk is ever asked for and the async iterator never starts. The
    handler then closes the response, and that must close the S3 body."""
    from django.core.handlers.asgi import ASGIHandler

    archive = _archive(owner)
    obj = FakeObject()
    monkeypatch.setattr(services, "archive_stream",
                        lambda *, archive: (store._Body(obj), 4))
    raw = _token(owner)
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": f"/api/v1/archives/{archive.pk}/download/",
             "raw_path": f"/api/v1/archives/{archive.pk}/download/".encode(),
             "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver"),
                         (b"authorization", f"Bearer {raw}".encode())],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}
    sent: list[dict] = []

    async def run():
        gone = asyncio.Event()
        requested = False

        async def receive():
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)
            if message["type"] == "http.response.start":
                gone.set()  # the client goes away; this send never completes
                await asyncio.sleep(30)

        await asyncio.wait_for(ASGIHandler()(scope, receive, send), 20)

    with _test_database_kept():
        async_to_sync(run)()
    assert [m["type"] for m in sent] == ["http.response.start"]
    assert sent[0]["status"] == 200
    assert obj.events == ["close", "release"]


@pytest.mark.django_db
def test_the_asgi_streaming_answer_closes_the_body_when_closed_unread(owner, monkeypatch):
    from django.test import AsyncClient

    archive = _archive(owner)
    obj = FakeObject()
    monkeypatch.setattr(services, "archive_stream",
                        lambda *, archive: (store._Body(obj), 4))
    raw = _token(owner)

    async def get():
        return await AsyncClient().get(f"/api/v1/archives/{archive.pk}/download/",
                                       authorization=f"Bearer {raw}")

    response = async_to_sync(get)()
    assert response.status_code == 200 and response.is_async
    assert obj.events == []
    with _test_database_kept():
        response.close()  # what the ASGI handler does, however the stream went
    assert obj.events == ["close", "release"]


@pytest.mark.django_db
@pytest.mark.parametrize("asgi", [False, True])
def test_an_audit_that_fails_after_the_body_was_opened_closes_it(owner, monkeypatch, asgi):
    from django.test import AsyncClient, Client

    archive = _archive(owner)
    obj = FakeObject()
    monkeypatch.setattr(services, "archive_stream",
                        lambda *, archive: (store._Body(obj), 4))

    def audit_fails(**kwargs):
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(services, "audit_download", audit_fails)
    raw = _token(owner)
    url = f"/api/v1/archives/{archive.pk}/download/"
    if asgi:
        async def get():
            client = AsyncClient(raise_request_exception=False)
            return await client.get(url, authorization=f"Bearer {raw}")

        response = async_to_sync(get)()
    else:
        response = Client(raise_request_exception=False).get(
            url, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 500
    assert obj.events == ["close", "release"]


@pytest.fixture
def opened(monkeypatch):
    """Every file the download views open, to check each was closed."""
    import builtins

    from archives import views as portal_views
    from archives.api import views as api_views

    files: list = []

    def recording_open(*args, **kwargs):
        file = builtins.open(*args, **kwargs)
        files.append(file)
        return file

    for module in (api_views, portal_views):
        monkeypatch.setattr(module, "open", recording_open, raising=False)
    return files


@pytest.mark.django_db
@pytest.mark.parametrize("fails", ["audit", "response"])
@pytest.mark.parametrize("where", ["api", "portal"])
def test_a_local_download_that_fails_after_opening_its_file_closes_it(owner, monkeypatch,
                                                                     opened, where, fails):
    """The audit, or building the answer, fails once the file may be open: no response
    owns it, so the view must close it. (A download that works: the response closes it.)"""
    from django.test import Client

    from archives import views as portal_views
    from archives.api import views as api_views

    archive = _archive(owner, store="local")
    path = services.archive_path(archive)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"data")
    client = Client(raise_request_exception=False)
    if where == "api":
        url, headers = (f"/api/v1/archives/{archive.pk}/download/",
                        {"HTTP_AUTHORIZATION": f"Bearer {_token(owner)}"})
    else:
        client.force_login(owner.user)
        url, headers = f"/archives/{archive.pk}/download/", {}
    response = client.get(url, **headers)
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"data"
    assert len(opened) == 1 and opened[0].closed

    def broken(*args, **kwargs):
        raise RuntimeError(f"{fails} broke")

    if fails == "audit":
        monkeypatch.setattr(services, "audit_download", broken)
    else:
        monkeypatch.setattr(api_views if where == "api" else portal_views, "FileResponse",
                            broken)
    assert client.get(url, **headers).status_code == 500
    # Opening before the audit (a file that cannot be opened is no download) or after it
    # are both sound; a file left open is not.
    assert all(file.closed for file in opened)
    if fails == "response":
        assert len(opened) == 2
