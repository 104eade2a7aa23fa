# ruff: noqa: F821 - read, write and ContractError are sandbox builtins
# A simple key-value chaincode: used by the tests and the throughput benchmark.
# This file is chaincode source (run in the sandbox), not a module the node imports.
# `read` and `write` are provided by the host; `ctx` is ledger.contract.Context.


@write
def put(ctx, key, value):
    ctx.put(key, value)
    ctx.emit("kv_put", key=key)
    return True


@write
def delete(ctx, key):
    if not ctx.has(key):
        raise ContractError(f"no such key: {key}")
    ctx.delete(key)
    ctx.emit("kv_delete", key=key)
    return True


@read
def get(ctx, key):
    return ctx.get(key)


@read
def scan(ctx, start="", end=None, limit=100):
    return ctx.range(start, end, limit)
