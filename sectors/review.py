"""The review report of a bundle (docs/templates.md): samples, role proofs, static warnings.

``review_bundle(bundle, manifest=...)`` runs on an in-process chain (``sectors.harness``):

1. Organisation roles are given to distinct organisations, round-robin over org1..org3 in
   manifest order, so a function of one role called by another role's organisation is a
   real test. The init function is called by org1 with ``roles`` plus ``[init] args``.
2. The ``[[samples]]`` run in order, each as a transaction (reads too, so every call is
   signed and metered); ``"$key:<name>"`` and ``"$org:<role>"`` strings anywhere in the
   args become that test key's public key and the first organisation holding the role. A
   sample ``as`` a key role signs with the test key named after the role (``key:<role>``).
   A sample whose outcome is not its ``expect`` is a ``sample_failed`` problem.
3. Every write function whose roles do not include ``anyone`` is called by a caller that
   holds none of them: an outsider key (``key:__review_outsider``) and, when the function
   allows an organisation role, an organisation holding none of its roles (if one is
   left). The call uses the args of the function's first sample expected to succeed and is
   made just *before* that sample, in the state where the allowed caller succeeds with the
   same args: so a refusal there comes from the caller, not from the state (an id already
   taken). A function with samples but none expected to succeed is checked after all the
   samples, with a note that the refusal may have another cause; one without samples is
   skipped with a note. A call that succeeds is a ``role_not_enforced`` problem.
4. Static warnings from the contract's syntax tree (``static_warnings``).

Warnings never make a bundle invalid. Pure Python, no Django.
"""

from __future__ import annotations

import ast
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ledger.errors import LedgerError
from sectors.bundle import Bundle, Problem
from sectors.harness import ORGS, BundleChain, CallFailed, substitute

OUTSIDER = "key:__review_outsider"


@dataclass
class CallRecord:
    function: str
    as_: str  # who the manifest names ("charity", "key:alice")
    outcome: str  # ok | refused | skipped
    steps: int = 0
    error: str | None = None
    expect: str | None = None  # samples only
    index: int | None = None  # samples: position in [[samples]]
    signer: str | None = None  # who signed: a role, "org:org2" or "key:<name>"
    when: str | None = None  # role checks: "before sample N" | "after the samples"
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data = {"function": data.pop("function"), "as": data.pop("as_"), **data}
        return {k: v for k, v in data.items() if v is not None}


@dataclass
class StaticWarning:
    code: str  # range_unbounded | range_in_loop | write_outside_keys
    function: str  # the exported function the call is reached from
    line: int
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Review:
    roles: dict[str, list[str]] = field(default_factory=dict)  # role -> orgs, as assigned
    init: CallRecord | None = None
    samples: list[CallRecord] = field(default_factory=list)
    role_checks: list[CallRecord] = field(default_factory=list)
    warnings: list[StaticWarning] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # problems found by the review (sample_failed, role_not_enforced, ...): the validation
    # report lists them with the others, so they are not repeated in to_dict()
    problems: list[Problem] = field(default_factory=list)

    @property
    def steps_total(self) -> int:
        """Steps of the init call and of every sample (the role checks are not counted)."""
        return sum(c.steps for c in ([self.init] if self.init else []) + self.samples)

    def to_dict(self) -> dict[str, Any]:
        return {
            "roles": self.roles,
            "init": self.init.to_dict() if self.init else None,
            "samples": [c.to_dict() for c in self.samples],
            "role_checks": [c.to_dict() for c in self.role_checks],
            "warnings": [w.to_dict() for w in self.warnings],
            "steps_total": self.steps_total,
            "notes": self.notes,
        }


# -- helpers shared with validation -----------------------------------------------------------
def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in _list(value) if isinstance(v, dict)]


def assign_roles(manifest: dict[str, Any]) -> dict[str, list[str]]:
    """Organisation roles -> [organisation], round-robin over org1..org3."""
    ids = [r.get("id") for r in _dicts(manifest.get("roles"))
           if r.get("holder") == "organisation" and isinstance(r.get("id"), str)]
    return {rid: [ORGS[i % len(ORGS)]] for i, rid in enumerate(dict.fromkeys(ids))}


def signer_for(who: Any, manifest: dict[str, Any], roles: dict[str, list[str]]) -> str | None:
    """The harness caller for a sample's ``as``: None if it names no usable role."""
    if not isinstance(who, str):
        return None
    if who.startswith("key:") and len(who) > 4:
        return who
    if roles.get(who):
        return who
    key_roles = {r.get("id") for r in _dicts(manifest.get("roles")) if r.get("holder") == "key"}
    return f"key:{who}" if who in key_roles else None


# -- the review -------------------------------------------------------------------------------
def review_bundle(bundle: Bundle, *, manifest: dict[str, Any] | None = None,
                  workdir: str | Path | None = None) -> Review:
    """Run the samples and role checks on an in-process chain and collect static warnings.

    ``manifest`` defaults to ``bundle.manifest``; it should have passed the schema (the
    review skips, with a note, entries it cannot use rather than failing).
    """
    manifest = bundle.manifest if manifest is None else manifest
    if not isinstance(manifest, dict):
        raise ValueError("the review needs a parsed manifest")
    review = Review(roles=assign_roles(manifest))
    review.warnings = static_warnings(bundle.contract, manifest)
    with tempfile.TemporaryDirectory(prefix="baas-review-", dir=workdir) as tmp:
        _run(review, bundle, manifest, Path(tmp))
    return review


def _run(review: Review, bundle: Bundle, manifest: dict[str, Any], tmp: Path) -> None:
    roles = review.roles
    functions = {f.get("name"): f for f in _dicts(manifest.get("functions"))}
    no_init = {k: v for k, v in manifest.items() if k != "init"}
    try:
        chain = BundleChain.start(tmp, tmp, roles=roles, source=bundle.contract,
                                  manifest=no_init)
    except (CallFailed, LedgerError) as exc:
        review.problems.append(Problem("contract_rejected",
                                       f"installing the contract failed: {exc}", "contract.py"))
        review.notes.append("the contract could not be installed: nothing was run")
        return
    try:
        init = manifest.get("init")
        if isinstance(init, dict) and isinstance(init.get("function"), str):
            args = init.get("args") if isinstance(init.get("args"), dict) else {}
            review.init = _call(chain, init["function"], "org:org1", "org:org1",
                                {"roles": roles, **args})
            if review.init.outcome != "ok":
                review.problems.append(Problem(
                    "init_failed", f"the init function failed: {review.init.error}", "$.init"))

        samples = _list(manifest.get("samples"))
        before, after = _plan_role_checks(review, samples, functions, manifest)
        for index, sample in enumerate(samples):
            for fname in before.get(index, []):
                _role_checks(review, chain, functions[fname], sample, manifest,
                             f"before sample {index}")
            review.samples.append(_sample(review, chain, index, sample, manifest))
        for fname, sample in after:
            _role_checks(review, chain, functions[fname], sample, manifest, "after the samples",
                         note="no sample of this function is expected to succeed: the "
                              "refusal may have another cause than the caller")
    finally:
        chain.close()


def _plan_role_checks(review: Review, samples: list[Any], functions: dict[Any, dict[str, Any]],
                      manifest: dict[str, Any]
                      ) -> tuple[dict[int, list[str]], list[tuple[str, dict[str, Any]]]]:
    """Which write function is checked before which sample, and which after all of them."""
    before: dict[int, list[str]] = {}
    after: list[tuple[str, dict[str, Any]]] = []
    for fname, fn in functions.items():
        if not isinstance(fname, str) or fn.get("kind") != "write":
            continue
        if "anyone" in _list(fn.get("roles")):
            continue
        mine = [(i, s) for i, s in enumerate(samples)
                if isinstance(s, dict) and s.get("function") == fname
                and isinstance(s.get("args", {}), dict)]
        ok = [(i, s) for i, s in mine if s.get("expect") == "ok"
              and signer_for(s.get("as"), manifest, review.roles)]
        if ok:
            before.setdefault(ok[0][0], []).append(fname)
        elif mine:
            after.append((fname, mine[0][1]))
        else:
            review.role_checks.append(CallRecord(
                function=fname, as_=OUTSIDER, outcome="skipped",
                note="no sample to take the arguments from: add one to prove the roles"))
    return before, after


def _sample(review: Review, chain: BundleChain, index: int, sample: Any,
            manifest: dict[str, Any]) -> CallRecord:
    if not isinstance(sample, dict):
        return CallRecord(function="?", as_="?", outcome="skipped", index=index,
                          note="not a sample table")
    fname, who, expect = sample.get("function"), sample.get("as"), sample.get("expect")
    signer = signer_for(who, manifest, review.roles)
    args = sample.get("args", {})
    declared = {f.get("name") for f in _dicts(manifest.get("functions"))}
    init = manifest.get("init") if isinstance(manifest.get("init"), dict) else {}
    if (fname not in declared and fname != init.get("function")) or signer is None \
            or not isinstance(args, dict):
        # validation reports the unknown function or role; nothing to compare here
        return CallRecord(function=str(fname), as_=str(who), outcome="skipped", index=index,
                          expect=str(expect), note="the sample names no declared function "
                                                   "or no usable caller")
    record = _call(chain, fname, str(who), signer, substitute(args, review.roles))
    record.index, record.expect = index, str(expect)
    if record.outcome != expect:
        detail = f": {record.error}" if record.error else ""
        review.problems.append(Problem(
            "sample_failed",
            f"{fname} as {who} was expected to be {_word(expect)} but was "
            f"{_word(record.outcome)}{detail}", f"$.samples[{index}]"))
    return record


def _word(outcome: Any) -> str:
    return {"ok": "accepted", "refused": "refused"}.get(outcome, str(outcome))


def _role_checks(review: Review, chain: BundleChain, fn: dict[str, Any], sample: dict[str, Any],
                 manifest: dict[str, Any], when: str, note: str | None = None) -> None:
    fname = fn["name"]
    allowed = [r for r in _list(fn.get("roles")) if isinstance(r, str)]
    args = substitute(sample.get("args", {}), review.roles)
    callers = [OUTSIDER]
    org_roles = [r for r in allowed if r in review.roles]
    if org_roles:
        holding = {org for r in org_roles for org in review.roles[r]}
        others = [org for org in ORGS if org not in holding]
        if others:
            callers.append(f"org:{others[0]}")
        else:
            review.role_checks.append(CallRecord(
                function=fname, as_="org:*", outcome="skipped", when=when,
                note="every organisation of the review chain holds one of its roles"))
    index = next(i for i, f in enumerate(_dicts(manifest.get("functions")))
                 if f.get("name") == fname)
    for caller in callers:
        record = _call(chain, fname, caller, caller, args)
        record.when, record.note = when, note
        review.role_checks.append(record)
        if record.outcome == "ok":
            review.problems.append(Problem(
                "role_not_enforced",
                f"{fname} accepted a call by {caller}, which holds none of its roles "
                f"({', '.join(allowed)})", f"$.functions[{index}].roles"))


def _call(chain: BundleChain, fname: str, who: str, signer: str,
          args: dict[str, Any]) -> CallRecord:
    try:
        outcome = chain.send(signer, fname, **args)
    except CallFailed as exc:
        return CallRecord(fname, who, "refused", exc.gas_used, str(exc), signer=signer)
    except LedgerError as exc:  # refused before it reached the chain (size, depth)
        return CallRecord(fname, who, "refused", 0, str(exc), signer=signer)
    except (KeyError, TypeError, ValueError) as exc:
        return CallRecord(fname, who, "skipped", 0, f"{type(exc).__name__}: {exc}",
                          signer=signer, note="the call could not be made")
    return CallRecord(fname, who, "ok", outcome.gas_used, signer=signer)


# -- static warnings --------------------------------------------------------------------------
def static_warnings(source: str, manifest: dict[str, Any]) -> list[StaticWarning]:
    """Warnings from the contract's syntax tree.

    For each exported function (``@read``/``@write``) the calls made directly in its body
    are analysed, and those in the body of the module-level helper functions it calls; a
    helper's own helpers are not followed (one level). ``ctx.range`` and ``ctx.put``/
    ``ctx.delete`` are recognised on the name ``ctx`` or the function's first parameter;
    a context passed around under another name is not seen.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    keys = {f.get("name"): [k for k in _list(f.get("keys")) if isinstance(k, str)]
            for f in _dicts(manifest.get("functions")) if f.get("kind") == "write"}
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    exported = [d for d in defs if _export_kind(d)]
    helpers = {d.name: d for d in defs if not _export_kind(d)}
    warnings: dict[tuple[str, str, int, int], StaticWarning] = {}
    for fn in exported:
        checker = _Checker(fn.name, keys.get(fn.name) if _export_kind(fn) == "write" else None,
                           helpers, warnings)
        checker.function(fn, loop=False, depth=0)
    return sorted(warnings.values(), key=lambda w: (w.line, w.code, w.function))


def _export_kind(node: ast.FunctionDef) -> str | None:
    for dec in node.decorator_list:
        if isinstance(dec, ast.Name) and dec.id in ("read", "write"):
            return dec.id
    return None


_LOOPS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


class _Checker:
    def __init__(self, exported: str, keys: list[str] | None,
                 helpers: dict[str, ast.FunctionDef],
                 out: dict[tuple[str, str, int, int], StaticWarning]) -> None:
        self.exported = exported
        self.keys = keys  # None: not a declared write function, writes are not checked
        self.helpers = helpers
        self.out = out
        self.ctx_names: set[str] = {"ctx"}
        self.depth = 0

    def warn(self, code: str, node: ast.AST, message: str) -> None:
        line, col = getattr(node, "lineno", 0), getattr(node, "col_offset", 0)
        self.out.setdefault((code, self.exported, line, col),
                            StaticWarning(code, self.exported, line, message))

    def function(self, fn: ast.FunctionDef, *, loop: bool, depth: int) -> None:
        saved = self.ctx_names, self.depth
        params = fn.args.posonlyargs + fn.args.args
        self.ctx_names = {"ctx"} | ({params[0].arg} if params else set())
        self.depth = depth
        for stmt in fn.body:
            self.visit(stmt, loop)
        self.ctx_names, self.depth = saved

    def visit(self, node: ast.AST, loop: bool) -> None:
        if isinstance(node, ast.For | ast.AsyncFor):
            self.visit(node.target, loop)
            self.visit(node.iter, loop)  # evaluated once
            for stmt in node.body:
                self.visit(stmt, True)
            for stmt in node.orelse:
                self.visit(stmt, loop)
        elif isinstance(node, ast.While):
            self.visit(node.test, True)
            for stmt in node.body:
                self.visit(stmt, True)
            for stmt in node.orelse:
                self.visit(stmt, loop)
        elif isinstance(node, _LOOPS):
            first, *rest = node.generators
            self.visit(first.iter, loop)  # evaluated once
            for gen in node.generators:
                self.visit(gen.target, True)
                for cond in gen.ifs:
                    self.visit(cond, True)
            for gen in rest:
                self.visit(gen.iter, True)
            for part in ((node.key, node.value) if isinstance(node, ast.DictComp)
                         else (node.elt,)):
                self.visit(part, True)
        else:
            if isinstance(node, ast.Call):
                self.call(node, loop)
            for child in ast.iter_child_nodes(node):
                self.visit(child, loop)

    def call(self, node: ast.Call, loop: bool) -> None:
        func = node.func
        if (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                and func.value.id in self.ctx_names):
            if func.attr == "range":
                self.range(node, loop)
            elif func.attr in ("put", "delete") and self.keys is not None:
                self.write(node, func.attr)
        elif isinstance(func, ast.Name) and func.id in self.helpers and self.depth == 0:
            self.function(self.helpers[func.id], loop=loop, depth=1)  # one level only

    def range(self, node: ast.Call, loop: bool) -> None:
        limit = next((k.value for k in node.keywords if k.arg == "limit"),
                     node.args[2] if len(node.args) > 2 else None)
        if not (isinstance(limit, ast.Constant) and type(limit.value) is int):
            what = "has no limit (the default is used)" if limit is None else \
                "has a limit that is not a constant"
            self.warn("range_unbounded", node,
                      f"ctx.range on line {node.lineno} {what}: an unbounded scan")
        if loop:
            self.warn("range_in_loop", node,
                      f"ctx.range on line {node.lineno} runs inside a loop")

    def write(self, node: ast.Call, method: str) -> None:
        key = next((k.value for k in node.keywords if k.arg == "key"),
                   node.args[0] if node.args else None)
        keys = self.keys or []
        prefix = _constant_prefix(key) if key is not None else None
        declared = ", ".join(repr(k) for k in keys) or "none"
        if prefix is None:
            self.warn("write_outside_keys", node,
                      f"ctx.{method} on line {node.lineno}: the key has no constant prefix "
                      f"to compare with the declared keys ({declared})")
        elif not any(prefix[0].startswith(k) for k in keys):
            shown = repr(prefix[0]) if prefix[1] else f"starting with {prefix[0]!r}"
            self.warn("write_outside_keys", node,
                      f"ctx.{method} on line {node.lineno}: key {shown} is not under a "
                      f"declared prefix ({declared})")


def _constant_prefix(node: ast.AST) -> tuple[str, bool] | None:
    """(constant leading text of a key expression, whether that is the whole key)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value, True
    if isinstance(node, ast.JoinedStr):
        text = ""
        for part in node.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                text += part.value
            else:
                return (text, False) if text else None
        return text, True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left = _constant_prefix(node.left)
        if left is None:
            return None
        if not left[1]:
            return left
        right = _constant_prefix(node.right)
        if right is None:
            return left[0], False
        return left[0] + right[0], right[1]
    return None
