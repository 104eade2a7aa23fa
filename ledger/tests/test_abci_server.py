"""The asyncio ABCI server over a real TCP socket: ordering, flush, and fail-stop."""

import asyncio

from ledger.abci.handler import Handler
from ledger.abci.server import AbciServer
from ledger.abci.wire import frame, read_frame
from ledger.app import TxResult
from ledger.proto.gen.tendermint.abci import types_pb2 as abci


class App:
    def __init__(self):
        self.height = 0

    def info(self):
        return self.height, b""

    def check_tx(self, tx, *, recheck=False):
        return TxResult(code=0 if tx.startswith(b"ok") else 1, log=tx.decode())

    def commit(self):
        raise RuntimeError("disk full")

    def close(self):
        pass


async def _exchange(port, requests, expect):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for req in requests:
        writer.write(frame(req.SerializeToString()))
    await writer.drain()
    answers = []
    for _ in range(expect):
        payload = await asyncio.wait_for(read_frame(reader), 5)
        if payload is None:
            break
        resp = abci.Response()
        resp.ParseFromString(payload)
        answers.append(resp)
    writer.close()
    return answers


def test_requests_are_answered_in_order_on_one_connection():
    async def scenario():
        server = AbciServer(Handler(App()), port=0)
        await server.start()
        try:
            reqs = [abci.Request(echo=abci.RequestEcho(message="e")),
                    abci.Request(check_tx=abci.RequestCheckTx(tx=b"ok1")),
                    abci.Request(check_tx=abci.RequestCheckTx(tx=b"no2")),
                    abci.Request(info=abci.RequestInfo()),
                    abci.Request(flush=abci.RequestFlush())]
            return await _exchange(server.port, reqs, len(reqs))
        finally:
            server.stop()

    answers = asyncio.run(scenario())
    assert [a.WhichOneof("value") for a in answers] == [
        "echo", "check_tx", "check_tx", "info", "flush"]
    assert [(a.check_tx.code, a.check_tx.log) for a in answers[1:3]] == [(0, "ok1"), (1, "no2")]


def test_consensus_failure_closes_without_answer_and_stops_the_server():
    async def scenario():
        server = AbciServer(Handler(App()), port=0)
        await server.start()
        reqs = [abci.Request(commit=abci.RequestCommit()),
                abci.Request(flush=abci.RequestFlush())]
        answers = await _exchange(server.port, reqs, 2)
        await asyncio.wait_for(server.wait_stopped(), 5)
        return answers, server.fatal

    answers, fatal = asyncio.run(scenario())
    assert answers == []  # no ResponseCommit that could differ from other validators
    assert "disk full" in str(fatal)


def test_undecodable_bytes_stop_the_server():
    async def scenario():
        server = AbciServer(Handler(App()), port=0)
        await server.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(frame(b"\xff\xff\xff"))
        await writer.drain()
        await asyncio.wait_for(server.wait_stopped(), 5)
        writer.close()
        return server.fatal

    assert asyncio.run(scenario()) is not None


def test_a_slow_query_does_not_hold_up_requests_on_other_connections():
    """Issue 9: queries run on their own thread, so consensus is answered meanwhile."""
    import threading

    from ledger.app import QueryResult

    release = threading.Event()

    class SlowQueries(App):
        def query(self, *, path, data, height=0, prove=False):
            release.wait(10)  # a query busy for as long as the test wants
            return QueryResult(value=b"late")

    async def scenario():
        server = AbciServer(Handler(SlowQueries()), port=0)
        await server.start()
        try:
            query = asyncio.ensure_future(_exchange(
                server.port, [abci.Request(query=abci.RequestQuery(path="/x")),
                              abci.Request(flush=abci.RequestFlush())], 2))
            await asyncio.sleep(0.2)
            info = await _exchange(server.port, [abci.Request(info=abci.RequestInfo()),
                                                 abci.Request(flush=abci.RequestFlush())], 2)
            answered_before_release = not query.done()
            release.set()
            return info, answered_before_release, await query
        finally:
            release.set()
            server.stop()

    info, answered_first, query = asyncio.run(scenario())
    assert [a.WhichOneof("value") for a in info] == ["info", "flush"]
    assert answered_first
    assert [a.WhichOneof("value") for a in query] == ["query", "flush"]
    assert query[0].query.value == b"late"
