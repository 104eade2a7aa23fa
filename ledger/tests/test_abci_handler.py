"""ABCI request -> LedgerApp call -> ABCI response translation, with a recording fake app.

The real app is exercised by the CometBFT network tests; here we pin the translation rules:
field mapping, status enums, and the failure policy (consensus errors stop the node,
mempool/query errors become an error code).
"""

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from ledger.abci.handler import INTERNAL_ERROR_CODE, FatalAppError, Handler
from ledger.app import BlockResult, Event, QueryResult, TxResult, ValidatorUpdate
from ledger.proto.gen.tendermint.abci import types_pb2 as abci
from ledger.proto.gen.tendermint.crypto import keys_pb2


class FakeApp:
    def __init__(self, fail: str = ""):
        self.calls: list[tuple[str, dict]] = []
        self.fail = fail

    def _record(self, name, **kwargs):
        self.calls.append((name, kwargs))
        if name == self.fail:
            raise RuntimeError(f"boom in {name}")

    def info(self):
        self._record("info")
        return 7, b"\x01" * 32

    def init_chain(self, **kwargs):
        self._record("init_chain", **kwargs)
        return b"\x02" * 32

    def check_tx(self, tx, *, recheck=False):
        self._record("check_tx", tx=tx, recheck=recheck)
        return TxResult(code=3, log="bad signature", codespace="ledger", gas_used=5)

    def prepare_proposal(self, txs, *, max_tx_bytes):
        self._record("prepare_proposal", txs=txs, max_tx_bytes=max_tx_bytes)
        return txs[:1]

    def process_proposal(self, txs):
        self._record("process_proposal", txs=txs)
        return b"evil" not in txs

    def finalize_block(self, **kwargs):
        self._record("finalize_block", **kwargs)
        results = [TxResult(data=b'{"ok":true}', gas_used=11,
                            events=[Event("kv.put", [("key", "a"), ("chaincode", "kv")])])
                   for _ in kwargs["txs"]]
        return BlockResult(tx_results=results, app_hash=b"\x03" * 32,
                           validator_updates=[ValidatorUpdate(pub_key=b"\x04" * 32, power=0)],
                           events=[Event("block", [("height", str(kwargs["height"]))])])

    def commit(self):
        self._record("commit")
        return 0

    def query(self, **kwargs):
        self._record("query", **kwargs)
        return QueryResult(code=17, log="not found", key=kwargs["data"], height=9,
                           proof=b'{"p":1}')

    def close(self):
        pass


def ask(handler, **request):
    return handler.handle(abci.Request(**request))


def test_info_reports_last_height_and_hash():
    resp = ask(Handler(FakeApp()), info=abci.RequestInfo(version="0.38.26"))
    assert resp.info.last_block_height == 7
    assert resp.info.last_block_app_hash == b"\x01" * 32
    assert resp.info.data == "ledger"


def test_init_chain_passes_validators_app_state_and_time():
    app = FakeApp()
    req = abci.RequestInitChain(
        time=Timestamp(seconds=5, nanos=6), chain_id="c1", initial_height=1,
        app_state_bytes=b'{"organisations":[]}',
        validators=[abci.ValidatorUpdate(pub_key=keys_pb2.PublicKey(ed25519=b"\x09" * 32),
                                         power=10)],
    )
    resp = ask(Handler(app), init_chain=req)
    assert resp.init_chain.app_hash == b"\x02" * 32
    assert len(resp.init_chain.validators) == 0  # keep the genesis validator set
    name, kwargs = app.calls[0]
    assert kwargs == {"chain_id": "c1", "initial_height": 1, "time_ns": 5_000_000_006,
                      "validators": [ValidatorUpdate(pub_key=b"\x09" * 32, power=10)],
                      "app_state": b'{"organisations":[]}'}


def test_check_tx_maps_result_and_recheck_flag():
    app = FakeApp()
    resp = ask(Handler(app), check_tx=abci.RequestCheckTx(tx=b"t", type=abci.RECHECK))
    assert (resp.check_tx.code, resp.check_tx.log, resp.check_tx.codespace) == (
        3, "bad signature", "ledger")
    assert app.calls == [("check_tx", {"tx": b"t", "recheck": True})]


def test_prepare_and_process_proposal():
    handler = Handler(FakeApp())
    prep = ask(handler, prepare_proposal=abci.RequestPrepareProposal(txs=[b"a", b"b"],
                                                                     max_tx_bytes=100))
    assert list(prep.prepare_proposal.txs) == [b"a"]
    ok = ask(handler, process_proposal=abci.RequestProcessProposal(txs=[b"a"]))
    bad = ask(handler, process_proposal=abci.RequestProcessProposal(txs=[b"evil"]))
    assert ok.process_proposal.status == abci.ResponseProcessProposal.ACCEPT
    assert bad.process_proposal.status == abci.ResponseProcessProposal.REJECT


def test_finalize_block_maps_results_events_and_validator_updates():
    app = FakeApp()
    req = abci.RequestFinalizeBlock(height=12, time=Timestamp(seconds=1), txs=[b"x", b"y"],
                                    proposer_address=b"\x05" * 20)
    resp = ask(Handler(app), finalize_block=req).finalize_block
    assert resp.app_hash == b"\x03" * 32
    assert [r.data for r in resp.tx_results] == [b'{"ok":true}'] * 2
    assert resp.tx_results[0].gas_used == 11
    attrs = [(a.key, a.value, a.index) for a in resp.tx_results[0].events[0].attributes]
    assert attrs == [("key", "a", True), ("chaincode", "kv", True)]
    assert resp.events[0].type == "block"
    assert resp.validator_updates[0].pub_key.ed25519 == b"\x04" * 32
    assert resp.validator_updates[0].power == 0
    assert app.calls[0][1] == {"height": 12, "time_ns": 1_000_000_000,
                               "proposer": b"\x05" * 20, "txs": [b"x", b"y"]}


def test_query_maps_fields_and_carries_proof():
    app = FakeApp()
    resp = ask(Handler(app), query=abci.RequestQuery(path="/state", data=b"kv/a", height=3,
                                                     prove=True)).query
    assert (resp.code, resp.log, resp.key, resp.height, resp.codespace) == (
        17, "not found", b"kv/a", 9, "ledger")
    assert resp.proof_ops.ops[0].data == b'{"p":1}'
    assert app.calls[0][1] == {"path": "/state", "data": b"kv/a", "height": 3, "prove": True}


@pytest.mark.parametrize("kind,request_", [
    ("finalize_block", abci.RequestFinalizeBlock(height=1)),
    ("commit", abci.RequestCommit()),
    ("prepare_proposal", abci.RequestPrepareProposal()),
    ("process_proposal", abci.RequestProcessProposal()),
    ("init_chain", abci.RequestInitChain()),
    ("info", abci.RequestInfo()),
])
def test_app_failure_on_consensus_request_is_fatal(kind, request_):
    with pytest.raises(FatalAppError):
        ask(Handler(FakeApp(fail=kind)), **{kind: request_})


def test_app_failure_in_check_tx_and_query_answers_an_error_code():
    check = ask(Handler(FakeApp(fail="check_tx")), check_tx=abci.RequestCheckTx(tx=b"t"))
    assert check.check_tx.code == INTERNAL_ERROR_CODE
    assert check.check_tx.codespace == "abci"
    query = ask(Handler(FakeApp(fail="query")), query=abci.RequestQuery(path="/state"))
    assert query.query.code == INTERNAL_ERROR_CODE


def test_result_count_mismatch_is_fatal():
    class Short(FakeApp):
        def finalize_block(self, **kwargs):
            return BlockResult(tx_results=[], app_hash=b"")

    with pytest.raises(FatalAppError, match="0 results for 1 txs"):
        ask(Handler(Short()), finalize_block=abci.RequestFinalizeBlock(txs=[b"x"]))


def test_echo_flush_and_unused_features():
    handler = Handler(FakeApp())
    assert ask(handler, echo=abci.RequestEcho(message="hi")).echo.message == "hi"
    assert ask(handler, flush=abci.RequestFlush()).HasField("flush")
    assert ask(handler, list_snapshots=abci.RequestListSnapshots()).list_snapshots.snapshots == []
    offer = ask(handler, offer_snapshot=abci.RequestOfferSnapshot()).offer_snapshot
    assert offer.result == abci.ResponseOfferSnapshot.REJECT
    verify = ask(handler, verify_vote_extension=abci.RequestVerifyVoteExtension())
    assert verify.verify_vote_extension.status == abci.ResponseVerifyVoteExtension.ACCEPT
