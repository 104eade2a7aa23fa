"""Translate ABCI 2.0 protobuf requests into ``LedgerApp`` calls and back.

Pure translation, no sockets, so it can be unit-tested with a fake app.

Failure policy: an exception inside the app while serving a *consensus* request (InitChain,
PrepareProposal, ProcessProposal, FinalizeBlock, Commit, Info) is never turned into an
answer, because another validator may not fail the same way and we would fork silently.
It raises ``FatalAppError`` and the server stops the node. Mempool and query requests do not
change state, so an exception there is logged and answered with an internal error code.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

try:
    from ledger.proto.gen.tendermint.abci import types_pb2 as abci
    from ledger.proto.gen.tendermint.crypto import keys_pb2, proof_pb2
except ModuleNotFoundError as exc:  # generated at setup, not committed
    raise ModuleNotFoundError(
        "CometBFT protocol types are missing: run `make proto` "
        "(python -m ledger.proto.build)"
    ) from exc

if TYPE_CHECKING:
    from ledger.app import LedgerApp

log = logging.getLogger("ledger.abci")

APP_NAME = "ledger"
APP_VERSION = 1
INTERNAL_ERROR_CODE = 1  # for non-consensus requests only; codespace "abci"
CONSENSUS_REQUESTS = frozenset(
    {"info", "init_chain", "prepare_proposal", "process_proposal", "finalize_block", "commit"}
)


class FatalAppError(RuntimeError):
    """The app failed on a consensus request: the node must stop, not answer."""


def _events(events: list[Any]) -> list[abci.Event]:
    return [
        abci.Event(
            type=e.type,
            attributes=[abci.EventAttribute(key=k, value=v, index=True) for k, v in e.attributes],
        )
        for e in events
    ]


def _validator_update_pb(update: Any) -> abci.ValidatorUpdate:
    return abci.ValidatorUpdate(
        pub_key=keys_pb2.PublicKey(ed25519=update.pub_key), power=update.power
    )


def _timestamp_ns(ts: Any) -> int:
    return ts.seconds * 1_000_000_000 + ts.nanos


class Handler:
    def __init__(self, app: LedgerApp, *, version: str = "0.1.0") -> None:
        self.app = app
        self.version = version

    def handle(self, request: abci.Request) -> abci.Response:
        kind = request.WhichOneof("value")
        if kind is None:
            raise FatalAppError("empty ABCI request")
        method = getattr(self, f"_{kind}", None)
        if method is None:
            raise FatalAppError(f"unsupported ABCI request {kind!r}")
        try:
            return abci.Response(**{kind: method(getattr(request, kind))})
        except FatalAppError:
            raise
        except Exception as exc:
            if kind in CONSENSUS_REQUESTS:
                log.exception("app failed on consensus request %s; stopping the node", kind)
                raise FatalAppError(f"{kind}: {exc!r}") from exc
            log.exception("app failed on %s", kind)
            return self._internal_error(kind, exc)

    def _internal_error(self, kind: str, exc: Exception) -> abci.Response:
        message = f"internal error: {type(exc).__name__}"
        if kind == "check_tx":
            return abci.Response(
                check_tx=abci.ResponseCheckTx(
                    code=INTERNAL_ERROR_CODE, log=message, codespace="abci"
                )
            )
        if kind == "query":
            return abci.Response(
                query=abci.ResponseQuery(code=INTERNAL_ERROR_CODE, log=message, codespace="abci")
            )
        return abci.Response(exception=abci.ResponseException(error=message))

    # --- connection plumbing -------------------------------------------------------------
    def _echo(self, req: abci.RequestEcho) -> abci.ResponseEcho:
        return abci.ResponseEcho(message=req.message)

    def _flush(self, req: abci.RequestFlush) -> abci.ResponseFlush:
        return abci.ResponseFlush()

    # --- info / consensus ----------------------------------------------------------------
    def _info(self, req: abci.RequestInfo) -> abci.ResponseInfo:
        height, app_hash = self.app.info()
        return abci.ResponseInfo(
            data=APP_NAME, version=self.version, app_version=APP_VERSION,
            last_block_height=height, last_block_app_hash=app_hash,
        )

    def _init_chain(self, req: abci.RequestInitChain) -> abci.ResponseInitChain:
        from ledger.app import ValidatorUpdate

        validators = []
        for v in req.validators:
            if v.pub_key.WhichOneof("sum") != "ed25519":
                raise ValueError("only ed25519 validator keys are supported")
            validators.append(ValidatorUpdate(pub_key=v.pub_key.ed25519, power=v.power))
        app_hash = self.app.init_chain(
            chain_id=req.chain_id, initial_height=req.initial_height,
            time_ns=_timestamp_ns(req.time), validators=validators,
            app_state=req.app_state_bytes,
        )
        # Returning no validators keeps the genesis set, which is what we want.
        return abci.ResponseInitChain(app_hash=app_hash)

    def _prepare_proposal(self, req: abci.RequestPrepareProposal) -> abci.ResponsePrepareProposal:
        txs = self.app.prepare_proposal(list(req.txs), max_tx_bytes=req.max_tx_bytes)
        return abci.ResponsePrepareProposal(txs=txs)

    def _process_proposal(self, req: abci.RequestProcessProposal) -> abci.ResponseProcessProposal:
        ok = self.app.process_proposal(list(req.txs))
        status = abci.ResponseProcessProposal.ACCEPT if ok else abci.ResponseProcessProposal.REJECT
        return abci.ResponseProcessProposal(status=status)

    def _finalize_block(self, req: abci.RequestFinalizeBlock) -> abci.ResponseFinalizeBlock:
        result = self.app.finalize_block(
            height=req.height, time_ns=_timestamp_ns(req.time),
            proposer=req.proposer_address, txs=list(req.txs),
        )
        if len(result.tx_results) != len(req.txs):
            raise FatalAppError(
                f"app returned {len(result.tx_results)} results for {len(req.txs)} txs"
            )
        return abci.ResponseFinalizeBlock(
            events=_events(result.events),
            tx_results=[
                abci.ExecTxResult(
                    code=r.code, data=r.data, log=r.log, gas_used=r.gas_used,
                    events=_events(r.events), codespace=r.codespace,
                )
                for r in result.tx_results
            ],
            validator_updates=[_validator_update_pb(u) for u in result.validator_updates],
            app_hash=result.app_hash,
        )

    def _commit(self, req: abci.RequestCommit) -> abci.ResponseCommit:
        return abci.ResponseCommit(retain_height=self.app.commit())

    # --- mempool / query -----------------------------------------------------------------
    def _check_tx(self, req: abci.RequestCheckTx) -> abci.ResponseCheckTx:
        r = self.app.check_tx(req.tx, recheck=req.type == abci.RECHECK)
        return abci.ResponseCheckTx(
            code=r.code, data=r.data, log=r.log, gas_used=r.gas_used,
            events=_events(r.events), codespace=r.codespace,
        )

    def _query(self, req: abci.RequestQuery) -> abci.ResponseQuery:
        r = self.app.query(path=req.path, data=req.data, height=req.height, prove=req.prove)
        proof_ops = None
        if r.proof:
            # The app's proof is opaque JSON; carry it as a single proof op.
            proof_ops = proof_pb2.ProofOps(
                ops=[proof_pb2.ProofOp(type="ledger/json", key=r.key, data=r.proof)]
            )
        return abci.ResponseQuery(
            code=r.code, log=r.log, key=r.key, value=r.value, height=r.height,
            proof_ops=proof_ops, codespace="ledger" if r.code else "",
        )

    # --- state sync and vote extensions: not used by this app ------------------------------
    def _list_snapshots(self, req: Any) -> abci.ResponseListSnapshots:
        return abci.ResponseListSnapshots()

    def _offer_snapshot(self, req: Any) -> abci.ResponseOfferSnapshot:
        return abci.ResponseOfferSnapshot(result=abci.ResponseOfferSnapshot.REJECT)

    def _load_snapshot_chunk(self, req: Any) -> abci.ResponseLoadSnapshotChunk:
        return abci.ResponseLoadSnapshotChunk()

    def _apply_snapshot_chunk(self, req: Any) -> abci.ResponseApplySnapshotChunk:
        return abci.ResponseApplySnapshotChunk(result=abci.ResponseApplySnapshotChunk.ABORT)

    def _extend_vote(self, req: Any) -> abci.ResponseExtendVote:
        return abci.ResponseExtendVote()

    def _verify_vote_extension(self, req: Any) -> abci.ResponseVerifyVoteExtension:
        return abci.ResponseVerifyVoteExtension(
            status=abci.ResponseVerifyVoteExtension.ACCEPT
        )
