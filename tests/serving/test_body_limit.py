"""Bodies above their limit against the real server (gunicorn + uvicorn): refused before
Django reads them (``baas/body_limit.py``), whether the length is declared or not."""

from __future__ import annotations

import json
import select
import socket
import time
from typing import Any

import pytest

from tests.serving.conftest import Server

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LIMIT = 1024 * 1024  # BAAS_MAX_BODY_BYTES's default, which the server runs with


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], Any]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, json.loads(body)


def _request_head(server: Server, extra: str) -> bytes:
    return (f"POST /api/v1/networks/ HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Content-Type: application/json\r\nX-Request-ID: body-limit-1\r\n{extra}\r\n"
            ).encode()


def test_a_huge_declared_body_gets_413_at_once_unread(server: Server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(_request_head(server, f"Content-Length: {10 * 1024**3}\r\n"))
        status, headers, body = _read_response(sock)  # not one byte of the body sent
        elapsed = time.monotonic() - started

    assert status == 413
    assert body["error"]["code"] == "payload_too_large"
    assert body["error"]["request_id"] == "body-limit-1"
    assert headers["x-request-id"] == "body-limit-1"
    assert elapsed < 5


def test_a_chunked_body_is_cut_at_the_limit(server: Server):
    block = b"x" * 65536
    frame = f"{len(block):x}\r\n".encode() + block + b"\r\n"
    sent = 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(_request_head(server, "Transfer-Encoding: chunked\r\n"))
        # Without the limit the server takes all 64 MiB and waits for the last chunk.
        while sent < 64 * LIMIT:
            readable, _, _ = select.select([sock], [], [], 0.01)
            if readable:
                break  # the server answered
            try:
                sock.sendall(frame)
            except OSError:
                break
            sent += len(block)
        status, _, body = _read_response(sock)

    assert status == 413
    assert body["error"]["code"] == "payload_too_large"
    assert sent < 8 * LIMIT  # the server stopped reading soon after the limit
