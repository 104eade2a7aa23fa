"""``ledger.client`` against a real 1-validator network, plus its error paths."""

from __future__ import annotations

import shutil
import socket
import time

import httpx
import pytest

from conftest import require_service
from ledger.client import (
    ClientTimeout,
    CommitTimeout,
    ConnectionFailed,
    LedgerClient,
    LedgerClientError,
    QueryFailed,
    RpcError,
    TxRejected,
)
from ledger.network import create_operator_key, generate_network, local_nodes
from ledger.node import node_pid, start_background, stop_background, wait_ready
from ledger.tx import Signer, tx_hash


def test_unreachable_node_raises_connection_failed():
    with LedgerClient("http://127.0.0.1:9", timeout=2) as client, \
            pytest.raises(ConnectionFailed, match="cannot reach"):
        client.status()


def test_silent_node_raises_client_timeout():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()  # accepts connections, never answers
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with LedgerClient(url, timeout=0.5) as client, pytest.raises(ClientTimeout):
            client.status()
    finally:
        listener.close()


def test_bad_url_and_wait_mode_are_refused():
    with pytest.raises(ValueError, match="http://"):
        LedgerClient("127.0.0.1:26657")
    with LedgerClient("http://127.0.0.1:9") as client, pytest.raises(ValueError, match="wait"):
        client.broadcast(b"x", wait="later")


def test_submit_without_signer_is_refused():
    with LedgerClient("http://127.0.0.1:9", chain_id="c") as client, \
            pytest.raises(LedgerClientError, match="no signer"):
        client.submit("kv", "put", ["a", "b"])


def _scripted(answers: list[dict]) -> tuple[LedgerClient, list[str]]:
    """A client whose node answers each JSON-RPC call with the next of ``answers`` (the
    last one again once they run out)."""
    methods: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        import json

        methods.append(json.loads(request.content)["method"])
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": 1, **answer})

    client = LedgerClient("http://node.test", chain_id="c")
    client._http = httpx.Client(transport=httpx.MockTransport(handle))
    return client, methods


# What CometBFT 0.38 answers when timeout_broadcast_tx_commit passes and when a tx is unknown.
COMMIT_TIMED_OUT = {"error": {"code": -32603, "message": "Internal error",
                              "data": "timed out waiting for tx to be included in a block"}}
TX_NOT_FOUND = {"error": {"code": -32603, "message": "Internal error",
                          "data": "tx (AB) not found"}}


def test_a_commit_timeout_is_not_a_refusal_and_names_the_tx_to_look_up():
    client, _ = _scripted([COMMIT_TIMED_OUT])
    with pytest.raises(CommitTimeout) as caught:
        client.broadcast(b"raw tx", wait="commit")
    assert caught.value.tx_hash == tx_hash(b"raw tx")
    assert not isinstance(caught.value, (ConnectionFailed, ClientTimeout))  # no failover resend


def test_wait_for_tx_polls_until_the_tx_is_in_a_block():
    committed = {"result": {"height": "7", "tx_result": {"code": 0, "data": "IjEi"}}}
    client, methods = _scripted([TX_NOT_FOUND, TX_NOT_FOUND, committed])
    result = client.wait_for_tx("ab" * 32, timeout=5, poll=0.01)
    assert (result.height, result.code, result.json()) == (7, 0, "1")
    assert methods == ["tx", "tx", "tx"]


def test_wait_for_tx_reports_a_failed_tx_and_gives_up_at_the_deadline():
    failed = {"result": {"height": "7", "tx_result": {"code": 5, "log": "no such key"}}}
    client, _ = _scripted([failed])
    with pytest.raises(TxRejected, match="no such key"):
        client.wait_for_tx("ab" * 32, timeout=5)
    client, _ = _scripted([TX_NOT_FOUND])
    with pytest.raises(CommitTimeout):
        client.wait_for_tx("ab" * 32, timeout=0.02, poll=0.01)
    other = {"error": {"code": -32603, "message": "Internal error", "data": "tx index off"}}
    client, _ = _scripted([other])
    with pytest.raises(RpcError, match="tx index off"):
        client.wait_for_tx("ab" * 32, timeout=5)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    require_service("cometbft", shutil.which("cometbft") is not None,
                    "run scripts/install-cometbft.sh")
    from ledger.cli import build_app_state

    root = tmp_path_factory.mktemp("net1")
    key, public_hex = create_operator_key(root)
    nodes = local_nodes(1)
    (home,) = generate_network(chain_id="client-test", nodes=nodes, out_dir=root,
                               app_state=build_app_state(public_hex))
    start_background(home)
    url = f"http://127.0.0.1:{nodes[0].rpc_port}"
    try:
        wait_ready(url, timeout=60, pid=node_pid(home))
        with LedgerClient(url, signer=Signer.from_private_bytes(key)) as client:
            yield client
    finally:
        stop_background(home)


@pytest.mark.cometbft
@pytest.mark.slow
def test_commit_query_block_and_tx_lookup(node):
    assert node.chain_id() == "client-test"
    res = node.submit("kv", "put", ["fruit", "apple"], wait="commit")
    assert res.code == 0 and res.height > 0
    assert node.call("kv", "get", ["fruit"]) == "apple"

    found = node.tx(res.hash)
    assert int(found["height"]) == res.height
    block = node.block(res.height)
    assert block["block"]["header"]["height"] == str(res.height)
    assert len(block["block"]["data"]["txs"]) >= 1

    state = node.query("/state", b"kv/fruit")
    assert state.value  # raw stored bytes of the key
    assert state.height >= res.height


@pytest.mark.cometbft
@pytest.mark.slow
def test_sync_broadcast_then_commit(node):
    tx = node.build("kv", "put", ["veg", "leek"])
    res = node.broadcast(tx, wait="sync")
    assert res.hash == tx_hash(tx) and res.height == 0
    deadline = time.monotonic() + 60
    found = None
    while found is None and time.monotonic() < deadline:
        try:
            found = node.tx(res.hash)  # the tx index answers once the block is committed
        except RpcError:
            time.sleep(0.2)
    assert found is not None and int(found["height"]) > 0
    assert node.call("kv", "get", ["veg"]) == "leek"


@pytest.mark.cometbft
@pytest.mark.slow
def test_subscribe_receives_committed_tx_events(node):
    events = node.subscribe("tm.event='Tx'", timeout=30, confirm=True)
    assert next(events) == {}  # confirmed: from here on no committed tx is missed
    done = node.submit("kv", "put", ["evt", "x"], wait="commit")
    event = next(events)
    assert event["data"]["type"] == "tendermint/event/Tx"
    assert [h.lower() for h in event["events"]["tx.hash"]] == [done.hash.lower()]


@pytest.mark.cometbft
@pytest.mark.slow
def test_asubscribe_receives_the_same_items_on_an_event_loop(node):
    """The async form (the ASGI gateway stream) yields the confirmation, then the event."""
    import asyncio

    async def first_two() -> list[dict]:
        events = node.asubscribe("tm.event='Tx'", timeout=30, confirm=True)
        items = [await anext(events)]
        done = await asyncio.to_thread(node.submit, "kv", "put", ["aevt", "y"], wait="commit")
        items.append(await anext(events))
        await events.aclose()
        return [items[0], items[1], done.hash]

    confirmed, event, tx = asyncio.run(first_two())
    assert confirmed == {}
    assert event["data"]["type"] == "tendermint/event/Tx"
    assert [h.lower() for h in event["events"]["tx.hash"]] == [tx.lower()]


@pytest.mark.cometbft
@pytest.mark.slow
def test_asubscribe_raises_rpc_error_and_client_timeout(node):
    import asyncio

    async def first(query: str, timeout: float) -> dict:
        events = node.asubscribe(query, timeout=timeout, confirm=True)
        try:
            item = await anext(events)
            if item == {}:  # confirmed; the next wait is the one that times out
                item = await anext(events)
            return item
        finally:
            await events.aclose()

    with pytest.raises(RpcError):
        asyncio.run(first("tm.event = = 'Tx'", 10))
    with pytest.raises(ClientTimeout):
        asyncio.run(first("tm.event='Tx' AND tx.height=0", 0.5))


@pytest.mark.cometbft
@pytest.mark.slow
def test_rejections_raise_with_code_and_log(node):
    with pytest.raises(TxRejected) as err:
        node.submit("nochaincode", "put", ["a", "b"], wait="commit")
    assert err.value.code != 0 and err.value.codespace == "ledger"
    with pytest.raises(TxRejected):
        node.broadcast(b"not a transaction", wait="sync")
    with pytest.raises(QueryFailed):
        node.query("/no-such-path", b"")


@pytest.mark.cometbft
@pytest.mark.slow
def test_queries_at_an_earlier_height_see_the_state_of_that_height(node):
    first = node.submit("kv", "put", ["season", "spring"], wait="commit")
    second = node.submit("kv", "put", ["season", "summer"], wait="commit")
    assert second.height > first.height
    assert node.call("kv", "get", ["season"], height=first.height) == "spring"
    assert node.call("kv", "get", ["season"], height=second.height) == "summer"
    assert node.call("kv", "get", ["season"]) == "summer"


@pytest.mark.cometbft
@pytest.mark.slow
def test_subscribe_with_a_bad_query_raises_rpc_error(node):
    with pytest.raises(RpcError):
        next(node.subscribe("tm.event = = 'Tx'", timeout=10))


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b'{"error": "boom"}',
                                  b'{"error": {"code": "x", "message": "m"}}',
                                  b'{"result": {"sync_info": {}}}',
                                  b'{"result": {"sync_info": {"latest_block_height": "x"}}}',
                                  b'{"result": []}'])
def test_an_answer_cometbft_never_gives_is_a_bad_answer(body):
    """A node answering junk is a node that failed (``BadAnswer`` is a
    ``ConnectionFailed``: the gateway tries the next node), never a TypeError or a
    ValueError that would answer 500."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from ledger.client import BadAnswer

    class Junk(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 -- the http.server name
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Junk)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with LedgerClient(url, timeout=5) as client:
            with pytest.raises(BadAnswer):
                client.height()
            with pytest.raises(ConnectionFailed):  # what with_failover catches
                client.chain_id()
    finally:
        server.shutdown()
        server.server_close()
