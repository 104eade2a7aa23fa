"""Validate a bundle: every problem at once, each with a stable code (docs/templates.md).

``validate(bundle, deployed_version=...)`` checks the manifest (TOML syntax, the JSON Schema
``manifest.schema.json``, the args schemas, names that refer to each other), the contract
(the sandbox compiles it; its exports match the declared functions), the version against
the deployed one, and runs the review (``sectors.review``) when the contract compiles and
the manifest fits the schema. A check is skipped only when what it needs is missing: a
manifest that is not TOML is not schema-checked, a contract that does not compile is not
reviewed. Pure Python, no Django.
"""

from __future__ import annotations

import json
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from ledger.errors import SandboxError
from ledger.sandbox import CompiledChaincode, compile_chaincode
from sectors.bundle import (
    CONTRACT,
    MANIFEST,
    MAX_MANIFEST_DEPTH,
    Bundle,
    Problem,
    nesting_depth,
    parse_version,
)
from sectors.review import Review, assign_roles, review_bundle, static_warnings, substitute
from sectors.schemas import ArgsUnusable, args_errors, schema_problem

SCHEMA_PATH = Path(__file__).with_name("manifest.schema.json")
MAX_MESSAGE = 300


@cache
def manifest_schema() -> dict[str, Any]:
    """The manifest's JSON Schema (also served at ``GET /api/v1/templates/schema/``)."""
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text("utf-8"))
    return schema


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(manifest_schema())


@dataclass
class Report:
    name: str
    version: str
    content_hash: str
    problems: list[Problem] = field(default_factory=list)
    review: Review | None = None

    @property
    def valid(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "name": self.name,
            "version": self.version,
            "content_hash": self.content_hash,
            "problems": [p.to_dict() for p in self.problems],
            "review": self.review.to_dict() if self.review else None,
        }


def validate(bundle: Bundle, *, deployed_version: str | None = None,
             review: bool = True) -> Report:
    """Every problem of ``bundle``; ``deployed_version`` is the version on the network (the
    new one must be newer). ValueError if ``deployed_version`` is not MAJOR.MINOR.PATCH.
    ``review=False`` skips the samples and role checks (the static warnings still run)."""
    deployed = parse_version(deployed_version) if deployed_version is not None else None
    report = Report(bundle.name, bundle.version, bundle.content_hash)
    add = report.problems.append

    manifest = _parse_manifest(bundle, add)
    schema_ok = False
    if manifest is not None:
        errors = sorted(_validator().iter_errors(manifest), key=lambda e: e.json_path)
        for error in errors:
            add(Problem("manifest_schema", _short(error.message), error.json_path))
        schema_ok = not errors
        _check_exact_names(manifest, add)
        _check_args_schemas(manifest, add)
        _check_references(manifest, add)
        _check_sample_args(manifest, add)
        _check_version(manifest, deployed, add)

    compiled = _compile(bundle, add)
    if compiled is not None and manifest is not None:
        _check_exports(manifest, compiled, add)

    if compiled is not None and manifest is not None and schema_ok:
        if review:
            report.review = review_bundle(bundle, manifest=manifest)
            report.problems.extend(report.review.problems)
        else:
            report.review = Review(roles=assign_roles(manifest),
                                   warnings=static_warnings(bundle.contract, manifest),
                                   notes=["samples and role checks were not run"])
    return report


def _short(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _parse_manifest(bundle: Bundle, add: Any) -> dict[str, Any] | None:
    data = bundle.files.get(MANIFEST)
    if data is None:
        add(Problem("manifest_missing", f"the bundle has no {MANIFEST}"))
        return None
    try:
        manifest = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        add(Problem("manifest_syntax", "manifest.toml is not valid UTF-8", MANIFEST))
    except tomllib.TOMLDecodeError as exc:
        add(Problem("manifest_syntax", _short(str(exc)), MANIFEST))
    except RecursionError:
        add(Problem("manifest_syntax", "manifest.toml nests too deeply to read", MANIFEST))
    else:
        if nesting_depth(manifest) <= MAX_MANIFEST_DEPTH:
            return manifest
        add(Problem("manifest_syntax", f"manifest.toml nests deeper than "
                    f"{MAX_MANIFEST_DEPTH} levels", MANIFEST))
    return None


def _functions(manifest: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return [(i, f) for i, f in enumerate(_list(manifest.get("functions")))
            if isinstance(f, dict)]


# as in manifest.schema.json; at most 6 digits a part: sectors.catalogue.version_key
EXACT_NAMES = {"name": r"[a-z][a-z0-9_]{0,63}",
               "version": r"(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})"}


def _check_exact_names(manifest: dict[str, Any], add: Any) -> None:
    """The schema's patterns end in ``$``, which JSON Schema applies with a search that lets
    a trailing newline through ("donations\n" would be another chaincode that looks the
    same): the name and version must match exactly."""
    import re

    for key, pattern in EXACT_NAMES.items():
        value = manifest.get(key)
        # the schema already reports any other mismatch
        if isinstance(value, str) and value.endswith("\n") and not re.fullmatch(pattern, value):
            add(Problem("manifest_schema", f"{key} {value[:70]!r} must match {pattern} "
                        "exactly", f"$.{key}"))


def _check_args_schemas(manifest: dict[str, Any], add: Any) -> None:
    for i, fn in _functions(manifest):
        args = fn.get("args")
        if not isinstance(args, dict):
            continue
        why = schema_problem(args)  # first: nesting and references make check_schema recurse
        if why:
            add(Problem("args_schema_invalid", _short(f"the args schema {why}"),
                        f"$.functions[{i}].args"))
            continue
        try:
            Draft202012Validator.check_schema(args)
        except SchemaError as exc:
            where = "".join(f"[{p!r}]" if isinstance(p, str) else f"[{p}]" for p in exc.path)
            add(Problem("args_schema_invalid",
                        _short(f"not a valid JSON Schema{' at ' + where if where else ''}: "
                               f"{exc.message}"), f"$.functions[{i}].args"))


def _valid_args_schema(fn: dict[str, Any]) -> dict[str, Any] | None:
    args = fn.get("args")
    if not isinstance(args, dict):
        return None
    if schema_problem(args):
        return None
    try:
        Draft202012Validator.check_schema(args)
    except SchemaError:
        return None
    return args


def _check_references(manifest: dict[str, Any], add: Any) -> None:
    """Names that must refer to something declared: roles, functions, workflow states."""
    roles = [r for r in _list(manifest.get("roles")) if isinstance(r, dict)]
    role_ids = {r.get("id") for r in roles}
    org_roles = {r.get("id") for r in roles if r.get("holder") == "organisation"}
    functions = _functions(manifest)
    declared = {f.get("name"): f for _, f in functions}
    workflow = manifest.get("workflow") if isinstance(manifest.get("workflow"), dict) else {}
    states = [s for s in _list(workflow.get("states")) if isinstance(s, dict)]

    for what, path, names in (
        ("role id", "$.roles", [r.get("id") for r in roles]),
        ("function name", "$.functions", [f.get("name") for _, f in functions]),
        ("state id", "$.workflow.states", [s.get("id") for s in states]),
    ):
        for name, count in Counter(n for n in names if isinstance(n, str)).items():
            if count > 1:
                add(Problem("manifest_duplicate", f"{what} {name!r} is declared {count} times",
                            path))

    for i, fn in functions:
        for j, role in enumerate(_list(fn.get("roles"))):
            if isinstance(role, str) and role != "anyone" and role not in role_ids:
                add(Problem("role_unknown", f"{fn.get('name')} names role {role!r}, which "
                            "is not declared in [[roles]]", f"$.functions[{i}].roles[{j}]"))

    for i, sample in enumerate(_list(manifest.get("samples"))):
        if not isinstance(sample, dict):
            continue
        who, fname = sample.get("as"), sample.get("function")
        if isinstance(who, str) and not who.startswith("key:") and who not in role_ids:
            add(Problem("role_unknown", f"the sample is made as {who!r}, which is not a "
                        "declared role (or key:<name>)", f"$.samples[{i}].as"))
        if isinstance(fname, str) and fname not in declared:
            add(Problem("function_unknown", f"the sample calls {fname!r}, which is not a "
                        "declared function", f"$.samples[{i}].function"))
        for ref in _org_refs(sample.get("args")):
            if ref not in org_roles:
                add(Problem("role_unknown", f"'$org:{ref}' names no organisation role",
                            f"$.samples[{i}].args"))

    if workflow:
        for part, kind in (("get", "read"), ("list", "read")):
            fname = workflow.get(part)
            if not isinstance(fname, str):
                continue
            if fname not in declared:
                add(Problem("function_unknown", f"workflow.{part} names {fname!r}, which is "
                            "not a declared function", f"$.workflow.{part}"))
            elif declared[fname].get("kind") != kind:
                add(Problem("function_kind", f"workflow.{part} names {fname!r}, which must "
                            f"be a {kind} function", f"$.workflow.{part}"))
        entity = workflow.get("entity")
        state_ids = {s.get("id") for s in states}
        for i, fn in functions:
            transition = fn.get("transition")
            if not isinstance(transition, dict) or transition.get("entity") != entity:
                continue
            named = [("to", transition.get("to"))] + [
                (f"from[{j}]", s) for j, s in enumerate(_list(transition.get("from")))]
            for where, state in named:
                if isinstance(state, str) and state not in state_ids:
                    add(Problem("state_unknown", f"state {state!r} is not in workflow.states",
                                f"$.functions[{i}].transition.{where}"))


def _org_refs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value[5:]] if value.startswith("$org:") else []
    if isinstance(value, list):
        return [r for v in value for r in _org_refs(v)]
    if isinstance(value, dict):
        return [r for k, v in value.items() for r in _org_refs(k) + _org_refs(v)]
    return []


def _check_sample_args(manifest: dict[str, Any], add: Any) -> None:
    declared = {f.get("name"): f for _, f in _functions(manifest)}
    roles = assign_roles(manifest)
    for i, sample in enumerate(_list(manifest.get("samples"))):
        if not isinstance(sample, dict) or sample.get("function") not in declared:
            continue
        schema = _valid_args_schema(declared[sample["function"]])
        args = sample.get("args", {})
        if schema is None or not isinstance(args, dict):
            continue
        if sample.get("expect") == "refused":
            # A sample that shows the contract's own defence may send what the platform's
            # schema check would stop first: the contract must refuse it too.
            continue
        try:
            for error in args_errors(schema, substitute(args, roles)):
                add(Problem("sample_args_invalid", _short(error.message),
                            f"$.samples[{i}].args" + error.json_path[1:]))
        except ArgsUnusable as exc:  # the schema's fault
            add(Problem("sample_args_invalid", _short(f"the args schema {exc}"),
                        f"$.samples[{i}].args"))


def _check_version(manifest: dict[str, Any], deployed: tuple[int, int, int] | None,
                   add: Any) -> None:
    if deployed is None:
        return
    try:
        version = parse_version(manifest.get("version"))  # type: ignore[arg-type]
    except ValueError:
        return  # manifest_schema says why
    if version <= deployed:
        shown = ".".join(map(str, deployed))
        add(Problem("version_not_newer", f"version {manifest['version']} is not newer than "
                    f"the deployed version {shown}", "$.version"))


def _compile(bundle: Bundle, add: Any) -> CompiledChaincode | None:
    data = bundle.files.get(CONTRACT)
    if data is None:
        add(Problem("contract_missing", f"the bundle has no {CONTRACT}"))
        return None
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError:
        add(Problem("contract_rejected", "contract.py is not valid UTF-8", CONTRACT))
        return None
    try:
        return compile_chaincode(source, name=bundle.name or "bundle")
    except SandboxError as exc:
        add(Problem("contract_rejected", exc.message, CONTRACT))
        return None


def _check_exports(manifest: dict[str, Any], compiled: CompiledChaincode, add: Any) -> None:
    exports = compiled.exports
    declared: set[str] = set()
    for i, fn in _functions(manifest):
        name, kind = fn.get("name"), fn.get("kind")
        if not isinstance(name, str):
            continue
        declared.add(name)
        if name not in exports:
            add(Problem("function_missing", f"{name} is declared but contract.py does not "
                        "export it with @read or @write", f"$.functions[{i}].name"))
        elif kind in ("read", "write") and exports[name] != kind:
            add(Problem("function_kind", f"{name} is declared {kind} but exported with "
                        f"@{exports[name]}", f"$.functions[{i}].kind"))
    init = manifest.get("init")
    init_fn = init.get("function") if isinstance(init, dict) else None
    if isinstance(init_fn, str):
        declared.add(init_fn)  # the init function need not be listed in [[functions]]
        if init_fn not in exports:
            add(Problem("function_missing", f"the init function {init_fn} is not exported "
                        "by contract.py", "$.init.function"))
        elif exports[init_fn] != "write":
            add(Problem("function_kind", f"the init function {init_fn} must be exported "
                        "with @write", "$.init.function"))
    for name in sorted(set(exports) - declared):
        add(Problem("function_undeclared", f"contract.py exports {name} (@{exports[name]}) "
                    "but the manifest does not declare it", CONTRACT))
