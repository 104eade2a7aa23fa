"""Asyncio ABCI socket server.

CometBFT opens four connections (consensus, mempool, query, snapshot). Every request is
answered in order on its connection. App calls run on the event loop thread, one at a time
across connections, which matches CometBFT's own guarantee that the mempool is locked while
a block is committed, except ``query``: queries run on one worker thread of their own (the
app serves them from committed state through a separate SQLite connection and never takes
the consensus lock), so a slow query cannot hold up FinalizeBlock or Commit; the query
connection simply waits for its own answer, keeping its order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor

from ledger.abci.handler import FatalAppError, Handler, abci
from ledger.abci.wire import FramingError, frame, read_frame

log = logging.getLogger("ledger.abci")


class AbciServer:
    def __init__(self, handler: Handler, *, host: str = "127.0.0.1", port: int = 26658,
                 path: str | None = None) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        # A unix socket path instead of host/port: only who can open its directory connects.
        self.path = path
        self.fatal: BaseException | None = None
        self._server: asyncio.base_events.Server | None = None
        self._stopped = asyncio.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        self._queries = ThreadPoolExecutor(max_workers=1, thread_name_prefix="abci-query")

    async def start(self) -> None:
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)  # a stale socket of an earlier run
            self._server = await asyncio.start_unix_server(self._serve, path=self.path)
            os.chmod(self.path, 0o600)
            log.info("ABCI server listening on unix://%s", self.path)
            return
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        log.info("ABCI server listening on %s:%s", self.host, self.port)

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    def stop(self, fatal: BaseException | None = None) -> None:
        if fatal is not None and self.fatal is None:
            self.fatal = fatal
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        self._queries.shutdown(wait=False, cancel_futures=True)
        self._stopped.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        peer = writer.get_extra_info("peername")
        log.debug("ABCI connection from %s", peer)
        try:
            while not self._stopped.is_set():
                payload = await read_frame(reader)
                if payload is None:
                    break
                request = abci.Request()
                request.ParseFromString(payload)
                if request.WhichOneof("value") == "query":
                    response = await asyncio.get_running_loop().run_in_executor(
                        self._queries, self.handler.handle, request)
                else:
                    response = self.handler.handle(request)
                writer.write(frame(response.SerializeToString()))
                if request.WhichOneof("value") == "flush":
                    await writer.drain()
        except FatalAppError as exc:
            # Never answer: CometBFT sees the connection drop and halts this node.
            self.stop(fatal=exc)
        except (FramingError, ConnectionError) as exc:
            log.warning("ABCI connection %s closed: %s", peer, exc)
        except Exception as exc:  # a protobuf decode error or a bug in the handler
            log.exception("ABCI connection %s failed", peer)
            self.stop(fatal=exc)
        finally:
            self._writers.discard(writer)
            writer.close()
