"""Command line for ledger networks: ``python -m ledger <command>``.

    testnet --validators N --out DIR     keys, genesis and homes for a local network
    up --home DIR / down --home DIR      start / stop every node of it in the background
    node --home NODEDIR                  run one validator in the foreground
    status | tx | query | call           talk to a running node over RPC

Errors print one line naming the problem and exit with status 2 (bad input) or 1 (failure).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ledger.network import (
    OPERATOR_KEY_FILE,
    LocalnetError,
    NetworkError,
    create_operator_key,
    generate_network,
    load_network,
    load_node,
    load_operator_key,
    local_nodes,
)

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 1 <= number <= 64:
        raise argparse.ArgumentTypeError("must be between 1 and 64")
    return number


def _json_arg(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc}): {value!r}") from None


def build_app_state(admin_public_key: str) -> bytes:
    """Genesis app_state for a new network: one organisation whose admin is the operator."""
    from ledger.genesis import single_org_app_state

    return single_org_app_state(admin_public_key)


# --- commands ------------------------------------------------------------------------------
def cmd_testnet(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if (out / "network.json").exists():
        raise CliError(f"{out} already holds a network; choose another --out or remove it")
    nodes = local_nodes(args.validators, host=args.host)
    _private, public_hex = create_operator_key(out)
    homes = generate_network(chain_id=args.chain_id, nodes=nodes, out_dir=out,
                             app_state=build_app_state(public_hex))
    print(f"network {args.chain_id}: {len(homes)} validators in {out}")
    for node, home in zip(nodes, homes, strict=True):
        print(f"  {node.moniker}: rpc http://{node.host}:{node.rpc_port}  home {home}")
    print(f"operator key (keep private): {out / OPERATOR_KEY_FILE}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from ledger import node as localnet

    started = localnet.up(Path(args.home), timeout=args.timeout)
    for name, url in started:
        print(f"{name}: {url}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from ledger import node as localnet

    for name, state in localnet.down(Path(args.home)):
        print(f"{name}: {state}")
    return 0


def cmd_node(args: argparse.Namespace) -> int:
    from ledger.node import main as node_main

    load_node(Path(args.home))  # fail early with a clear message
    return node_main(args.home)


def _node_url(args: argparse.Namespace) -> str:
    if args.node:
        return args.node
    home = Path(args.home)
    if (home / "network.json").exists():
        first = load_network(home)["nodes"][0]
        return f"http://{first['host']}:{first['rpc_port']}"
    info = load_node(home)
    return f"http://{info['host']}:{info['rpc_port']}"


def _client(args: argparse.Namespace, *, signed: bool = False):
    from ledger.client import LedgerClient
    from ledger.tx import Signer

    signer = None
    if signed:
        key = Path(args.key) if args.key else Path(args.home) / OPERATOR_KEY_FILE
        signer = Signer.from_private_bytes(load_operator_key(key))
    return LedgerClient(_node_url(args), signer=signer, timeout=args.timeout)


def cmd_status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        st = client.status()
    sync = st["sync_info"]
    print(json.dumps({
        "moniker": st["node_info"]["moniker"], "chain_id": st["node_info"]["network"],
        "height": int(sync["latest_block_height"]), "app_hash": sync["latest_app_hash"],
        "catching_up": sync["catching_up"],
    }, indent=2))
    return 0


def cmd_tx(args: argparse.Namespace) -> int:
    with _client(args, signed=True) as client:
        res = client.submit(args.chaincode, args.function, args.args, wait=args.wait)
    print(json.dumps({"hash": res.hash, "height": res.height, "code": res.code,
                      "result": res.json()}, indent=2))
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    with _client(args) as client:
        res = client.query(args.path, args.data, height=args.height)
    try:
        value: Any = json.loads(res.value) if res.value else None
    except ValueError:
        value = res.value.decode(errors="replace")
    print(json.dumps({"height": res.height, "key": res.key.decode(errors="replace"),
                      "value": value}, indent=2))
    return 0


def cmd_call(args: argparse.Namespace) -> int:
    with _client(args) as client:
        print(json.dumps(client.call(args.chaincode, args.function, args.args,
                                     height=args.height), indent=2))
    return 0


# --- parser --------------------------------------------------------------------------------
def _add_target(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--node", help="RPC URL of a node, e.g. http://127.0.0.1:26657")
    group.add_argument("--home", help="network folder (made by 'testnet') or node home")
    p.add_argument("--timeout", type=float, default=15.0, help="seconds per RPC call")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m ledger", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("testnet", help="generate keys, genesis and homes for N validators")
    p.add_argument("--validators", "-n", type=_positive, required=True)
    p.add_argument("--out", required=True, help="empty folder for the network")
    p.add_argument("--chain-id", default="ledger-local")
    p.add_argument("--host", default="127.0.0.1")
    p.set_defaults(func=cmd_testnet)

    p = sub.add_parser("up", help="start every node of a local network in the background")
    p.add_argument("--home", required=True, help="network folder made by 'testnet'")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for RPC")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("down", help="stop every node of a local network")
    p.add_argument("--home", required=True, help="network folder made by 'testnet'")
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("node", help="run one validator (ABCI server + cometbft)")
    p.add_argument("--home", required=True, help="node home (holds node.json)")
    p.set_defaults(func=cmd_node)

    p = sub.add_parser("status", help="height and app hash of a node")
    _add_target(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("tx", help="sign and submit a chaincode call")
    _add_target(p)
    p.add_argument("--key", help="signer key file (default: the network's operator key)")
    p.add_argument("--chaincode", required=True)
    p.add_argument("--function", required=True)
    p.add_argument("--args", type=_json_arg, default=[], help="JSON array or object")
    p.add_argument("--wait", choices=["sync", "commit"], default="commit")
    p.set_defaults(func=cmd_tx)

    p = sub.add_parser("query", help="ABCI query, e.g. --path /state --data kv/key")
    _add_target(p)
    p.add_argument("--path", required=True)
    p.add_argument("--data", default="")
    p.add_argument("--height", type=int, default=0)
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("call", help="run a read-only chaincode function")
    _add_target(p)
    p.add_argument("--chaincode", required=True)
    p.add_argument("--function", required=True)
    p.add_argument("--args", type=_json_arg, default=[])
    p.add_argument("--height", type=int, default=0)
    p.set_defaults(func=cmd_call)
    return ap


def main(argv: list[str] | None = None) -> int:
    from ledger.client import LedgerClientError
    from ledger.errors import LedgerError

    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except (NetworkError, LedgerError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (LedgerClientError, LocalnetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ModuleNotFoundError as exc:
        if "protocol types" not in str(exc):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
