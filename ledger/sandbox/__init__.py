"""The chaincode sandbox: compile once per code hash, run each call in fresh globals.

``compile_chaincode(source)`` checks and instruments the source (``policy.py``), executes the
module body once under a meter to discover its exported functions, and returns a
``CompiledChaincode``. ``invoke(...)`` runs one exported function: the module body is executed
again in fresh globals for every call, so nothing a call leaves behind in module globals can
influence the next one (a restarted node would not have it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from types import CodeType
from typing import Any

from ledger import canonical
from ledger.errors import Code, LedgerError, SandboxError
from ledger.sandbox.cost import NotFormattable, TooDeep, weigh
from ledger.sandbox.policy import STEPS_PER_NODE, compile_source, source_nodes
from ledger.sandbox.runtime import (
    DEFAULT_STEP_LIMIT,
    MAX_RESULT_BYTES,
    RESULT_BYTES_PER_STEP,
    ContractError,
    Exposed,
    Meter,
    make_globals,
)
from ledger.sandbox.text import text_of

__all__ = [
    "CompiledChaincode",
    "ContractError",
    "Exposed",
    "Meter",
    "code_hash",
    "compile_chaincode",
    "compile_steps",
    "invoke",
]

MAX_SOURCE_BYTES = 128 * 1024
MAX_LOG = 500
MAX_MESSAGE_UNITS = 20_000  # exception args larger than this are not formatted for the log
MODULE_STEP_LIMIT = 20_000  # the module body only defines functions and constants
# Reading the source (parsing it in C to count its nodes) is paid per this many bytes.
COMPILE_BYTES_PER_STEP = 16


@dataclass(frozen=True)
class CompiledChaincode:
    code_hash: str
    code: CodeType
    exports: dict[str, str]  # function name -> "read" | "write"
    # Steps the module body took when the code was loaded: charged (with ``compile_steps``
    # of the source) to every transaction that installs or approves this code, whether or
    # not the node had it cached, so the charge is the same on every node.
    load_steps: int = 0


def compile_steps(source: str) -> int:
    """Steps for checking and instrumenting ``source``, known before doing it: one per
    COMPILE_BYTES_PER_STEP characters (parsing) plus STEPS_PER_NODE per syntax node (the
    Python-level passes; a source with too many nodes is refused after the count)."""
    return 1 + len(source) // COMPILE_BYTES_PER_STEP + STEPS_PER_NODE * source_nodes(source)


def code_hash(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def _load(code: CodeType, meter: Meter) -> dict[str, tuple[str, Callable[..., Any]]]:
    registry: dict[str, tuple[str, Callable[..., Any]]] = {}

    def decorator(mode: str) -> Callable[[Any], Any]:
        def register(fn: Any) -> Any:
            name = getattr(fn, "__name__", "")
            if not callable(fn) or name.startswith("_") or name == "<lambda>":
                raise SandboxError(Code.CODE_REJECTED, f"@{mode} must decorate a named function")
            if name in registry:
                raise SandboxError(Code.CODE_REJECTED, f"function {name!r} is exported twice")
            registry[name] = (mode, fn)
            return fn
        return register

    env = make_globals(meter, read=decorator("read"), write=decorator("write"))
    exec(code, env)  # noqa: S102 - restricted, instrumented code object
    return registry


def compile_chaincode(source: str, *, name: str = "chaincode") -> CompiledChaincode:
    """Check, instrument and load chaincode source; raises SandboxError(CODE_REJECTED)."""
    if not isinstance(source, str):
        raise SandboxError(Code.CODE_REJECTED, "source must be a string")
    if len(source) > MAX_SOURCE_BYTES:
        raise SandboxError(Code.CODE_REJECTED, f"source exceeds {MAX_SOURCE_BYTES} bytes")
    try:
        size = len(source.encode("utf-8"))
    except UnicodeEncodeError:
        raise SandboxError(Code.CODE_REJECTED, "source is not valid UTF-8") from None
    if size > MAX_SOURCE_BYTES:
        raise SandboxError(Code.CODE_REJECTED, f"source exceeds {MAX_SOURCE_BYTES} bytes")
    try:
        code = compile_source(source, f"<chaincode {name}>")
    except SyntaxError as exc:
        problems = exc.args[0] if exc.args and isinstance(exc.args[0], tuple) else (str(exc),)
        raise SandboxError(Code.CODE_REJECTED, _text("; ".join(problems)[:2000])) from None
    except (RecursionError, MemoryError, ValueError):  # "too complex", NUL bytes
        raise SandboxError(Code.CODE_REJECTED, "source is too complex to compile") from None
    meter = Meter(MODULE_STEP_LIMIT)
    try:
        registry = _load(code, meter)
    except Exception as exc:  # module body failed: refuse the code
        err = _as_ledger_error(exc, meter)
        raise SandboxError(Code.CODE_REJECTED, f"module body failed: {err.message}") from None
    if meter.fatal is not None:
        raise SandboxError(Code.CODE_REJECTED, f"module body failed: {meter.fatal.message}")
    if not registry:
        raise SandboxError(Code.CODE_REJECTED, "no function is exported with @read or @write")
    return CompiledChaincode(
        code_hash=code_hash(source),
        code=code,
        exports={fn_name: mode for fn_name, (mode, _) in registry.items()},
        load_steps=meter.steps,
    )


def _text(message: str) -> str:
    """Text that survives the ABCI boundary: lone surrogates escaped (deterministically)."""
    try:
        message.encode("utf-8")
    except UnicodeEncodeError:
        return message.encode("utf-8", "backslashreplace").decode("utf-8")
    return message


def _truncate(message: str) -> str:
    return _text(message if len(message) <= MAX_LOG else message[: MAX_LOG - 3] + "...")


def _bounded(err: LedgerError) -> LedgerError:
    """Host messages may quote chaincode values (names, keys): keep the log short."""
    if len(err.message) <= MAX_LOG and _text(err.message) is err.message:
        return err
    return type(err)(err.code, _truncate(err.message))


def _message(exc: BaseException) -> str:
    """str(exc) of an exception raised by chaincode, without unbounded work.

    The args are chaincode values: formatting a huge (or shared, exponentially large)
    nested value, or one whose text holds a memory address, is refused with a fixed text.
    """
    args = exc.args
    if len(args) == 1 and type(args[0]) is str and not isinstance(exc, KeyError):
        return args[0][:MAX_LOG]
    try:
        units, _ = weigh(args, MAX_MESSAGE_UNITS, fmt=True)
    except (NotFormattable, TooDeep):
        return "(message is not printable)"
    if units > MAX_MESSAGE_UNITS:
        return "(message is too large to show)"
    return text_of(exc)


def _as_ledger_error(exc: BaseException, meter: Meter) -> LedgerError:
    if meter.fatal is not None:
        return _bounded(meter.fatal)
    if isinstance(exc, LedgerError):
        return _bounded(exc)
    if isinstance(exc, ContractError):
        return LedgerError(Code.CHAINCODE_ERROR, _truncate(_message(exc)))
    if isinstance(exc, RecursionError):
        return LedgerError(Code.RESOURCE_LIMIT, "recursion too deep")
    if isinstance(exc, MemoryError):
        return LedgerError(Code.RESOURCE_LIMIT, "out of memory")
    return LedgerError(Code.CHAINCODE_ERROR,
                       _truncate(f"{type(exc).__name__}: {_message(exc)}"))


def invoke(
    compiled: CompiledChaincode,
    function: str,
    args: list[Any] | dict[str, Any],
    ctx: Any,
    *,
    meter: Meter | None = None,
    allow_write: bool = True,
) -> tuple[Any, int]:
    """Run one exported function; returns (result, steps). Raises LedgerError on failure.

    ``ctx`` is bound to the same meter by the caller so host calls are charged too.
    """
    meter = meter or Meter(DEFAULT_STEP_LIMIT)
    mode = compiled.exports.get(function)
    if mode is None:
        raise LedgerError(Code.UNKNOWN_FUNCTION, f"function {function!r} is not exported")
    if mode == "write" and not allow_write:
        raise LedgerError(Code.READ_ONLY, f"function {function!r} writes state; send a tx")
    try:
        registry = _load(compiled.code, meter)
        fn = registry[function][1]
        result = fn(ctx, *args) if isinstance(args, list) else fn(ctx, **args)
        meter.charge_json(result)  # checked and encoded below and by the host
        floor = meter.json_floor(result, MAX_RESULT_BYTES)  # refused before encoding
        if floor > MAX_RESULT_BYTES:
            raise meter.trip(Code.RESOURCE_LIMIT, f"return value of at least {floor} bytes "
                             f"exceeds the limit of {MAX_RESULT_BYTES}")
        meter.step(floor // RESULT_BYTES_PER_STEP)
    except BaseException as exc:
        if not isinstance(exc, Exception) and meter.fatal is None:
            raise  # KeyboardInterrupt / SystemExit of the host process itself
        raise _as_ledger_error(exc, meter) from None
    if meter.fatal is not None:
        raise _bounded(meter.fatal)
    try:
        canonical.check_value(result)
    except canonical.CanonicalError as exc:
        raise LedgerError(Code.CHAINCODE_ERROR, f"return value is not JSON: {exc}") from None
    return result, meter.steps
