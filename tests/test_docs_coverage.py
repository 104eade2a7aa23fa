"""The docs keep their promises: every environment variable the code reads is in
``docs/configuration.md``, and every error code the code raises is in the API docs.

``baas/settings.py`` says every setting is listed in ``docs/configuration.md``;
``baas/errors.py`` says every code is listed in ``docs/api.md``. These tests read the source
with ``ast`` (no Django, no database), so a new variable or code without docs fails here,
naming what is missing.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("baas", "tenants", "deploy", "sectors", "identity", "notify", "monitor", "archives",
            "explorer", "elections")
CONFIGURATION_DOC = ROOT / "docs" / "configuration.md"
ERROR_DOCS = [ROOT / "docs" / name for name in ("api.md", "networks.md", "operations.md",
                                                   "templates.md")]

# Calls whose first string argument (or ``name=``) is an environment variable name.
# ``os.environ.get``/``os.getenv`` and ``os.environ[...]`` are handled separately.
ENV_HELPERS = {
    "env_bool",  # baas/settings.py
    "env_list",  # baas/settings.py
    "setting",  # deploy/conf.py and deploy/drivers/config.py: Django setting, else env
}
# ``read_secret("X")`` in baas/settings.py reads the variable ``X_FILE``.
SECRET_HELPERS = {"read_secret"}
# ``url_setting("X")`` in baas/settings.py reads both ``X`` and ``X_FILE``.
URL_HELPERS = {"url_setting"}

# Where the AppError family starts: these and every subclass of them (found by following
# class bases across the packages) take the error code as first argument or ``code=``.
FAMILY_ROOTS = {
    "baas.errors.AppError",
    "baas.runner.StepFailed",
    "deploy.drivers.base.DriverError",
    # Refusals of a cluster's kubeconfig and failed checks, 400 codes of /clusters/.
    "deploy.drivers.kubeconfig.KubeconfigError",
}


def source_files() -> list[Path]:
    files = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).parts
            if "migrations" in parts or "tests" in parts:
                continue
            if path.name.startswith("test_") or path.name == "conftest.py":
                continue
            files.append(path)
    return files


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def strings_in(node: ast.AST | None) -> Iterator[str]:
    """String literals an argument can evaluate to (a constant or ``a if c else b``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.IfExp):
        yield from strings_in(node.body)
        yield from strings_in(node.orelse)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            yield from strings_in(value)


def first_arg(call: ast.Call, keyword: str) -> ast.AST | None:
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    if call.args and not isinstance(call.args[0], ast.Starred):
        return call.args[0]
    return None


def dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


# --- environment variables -------------------------------------------------------------------


def _is_os_environ(node: ast.AST) -> bool:
    return dotted(node) in {"os.environ", "environ"}


def env_reads(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = dotted(node.func) or ""
            last = func.rsplit(".", 1)[-1]
            arg = first_arg(node, "name")
            if isinstance(node.func, ast.Attribute) and _is_os_environ(node.func.value):
                if node.func.attr in {"get", "pop"}:  # reads; setdefault writes
                    names.update(strings_in(node.args[0] if node.args else None))
            elif func in {"os.getenv", "getenv"}:
                names.update(strings_in(node.args[0] if node.args else None))
            elif func.endswith("dj_database_url.config"):  # reads its env= (DATABASE_URL)
                env_kw = next((kw.value for kw in node.keywords if kw.arg == "env"), None)
                names.update(strings_in(env_kw) if env_kw else {"DATABASE_URL"})
            elif last in ENV_HELPERS:
                names.update(strings_in(arg))
            elif last in SECRET_HELPERS:
                names.update(f"{name}_FILE" for name in strings_in(arg))
            elif last in URL_HELPERS:
                for name in strings_in(arg):
                    names.update({name, f"{name}_FILE"})
        elif isinstance(node, ast.Subscript) and _is_os_environ(node.value):
            names.update(strings_in(node.slice))
        elif isinstance(node, ast.Compare) and any(_is_os_environ(c) for c in node.comparators):
            names.update(strings_in(node.left))  # "X" in os.environ
    return names


def deploy_conf_names() -> set[str]:
    """deploy/conf.py reads each key of DEFAULTS via ``setting(name)``, often by variable."""
    for node in ast.walk(parse(ROOT / "deploy" / "conf.py")):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "DEFAULTS" for t in targets):
                assert isinstance(node.value, ast.Dict)
                return {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
    raise AssertionError("deploy/conf.py has no DEFAULTS dict any more; update this test")


def collect_env_vars() -> set[str]:
    names = deploy_conf_names()
    for path in source_files():
        names |= env_reads(parse(path))
    return names


# --- error codes -----------------------------------------------------------------------------


def import_map(tree: ast.Module, module: str, is_package: bool) -> dict[str, str]:
    """Local name -> dotted target, for imports and classes defined in the module."""
    mapping: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import: from the module's package upwards
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + int(is_package)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                mapping[alias.asname or alias.name] = f"{base}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    mapping[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    mapping[top] = top
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            mapping[node.name] = f"{module}.{node.name}"
    return mapping


def resolve(node: ast.AST, mapping: dict[str, str]) -> str | None:
    name = dotted(node)
    if not name:
        return None
    head, _, rest = name.partition(".")
    target = mapping.get(head)
    if target is None:
        return None
    return f"{target}.{rest}" if rest else target


def code_parameters(tree: ast.Module, module: str) -> dict[str, tuple[int | None, str]]:
    """Module functions taking an error code: qualified name -> (position, keyword).

    E.g. ``json_error_response(code, ...)``, ``deploy.tasks._fail_operation(op, code, ...)``,
    ``deploy.services.network_fail(*, ..., code="")``: what they are given ends up as the
    ``code`` of an error response, or the ``error_code`` of a failed operation or network.
    """
    found: dict[str, tuple[int | None, str]] = {}
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        positional = [a.arg for a in node.args.posonlyargs + node.args.args]
        keyword_only = [a.arg for a in node.args.kwonlyargs]
        for name in ("code", "error_code"):
            if name in positional:
                found[f"{module}.{node.name}"] = (positional.index(name), name)
            elif name in keyword_only:
                found[f"{module}.{node.name}"] = (None, name)
    return found


def collect_error_codes() -> tuple[set[str], set[str]]:
    """(codes, family class names) across the packages.

    Codes are the first argument (or ``code=``) of every call of an AppError-family class
    (and ``StepFailed`` and ``DriverError``, whose codes become API errors through
    ``deploy.services.driver_app_error`` and operation/network error codes through the
    tasks), the class-level default ``code = "..."`` of each such class, the ``code``
    argument of module functions that take one, and every ``error_code=`` keyword.
    """
    modules = []
    for path in source_files():
        tree = parse(path)
        module = module_name(path)
        mapping = import_map(tree, module, path.name == "__init__.py")
        modules.append((tree, mapping, module))

    family = set(FAMILY_ROOTS)
    class_codes: dict[str, set[str]] = {}
    functions: dict[str, tuple[int | None, str]] = {}
    changed = True
    while changed:
        changed = False
        for tree, mapping, module in modules:
            functions.update(code_parameters(tree, module))
            for node in tree.body:
                if not isinstance(node, ast.ClassDef):
                    continue
                qualified = f"{module}.{node.name}"
                if qualified in family:
                    pass
                elif any(resolve(base, mapping) in family for base in node.bases):
                    family.add(qualified)
                    changed = True
                else:
                    continue
                for stmt in node.body:  # the class's default code: ``code = "..."``
                    if isinstance(stmt, ast.Assign) and any(
                        isinstance(t, ast.Name) and t.id == "code" for t in stmt.targets
                    ):
                        class_codes.setdefault(qualified, set()).update(strings_in(stmt.value))

    codes: set[str] = set()
    for qualified, found in class_codes.items():
        if qualified != "baas.errors.AppError":  # its "error" is a fallback, never raised
            codes |= found
    for tree, mapping, _module in modules:
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            target = resolve(node.func, mapping)
            if target in family:
                codes.update(strings_in(first_arg(node, "code")))
            elif target in functions:
                position, keyword = functions[target]
                if position is not None and len(node.args) > position:
                    codes.update(strings_in(node.args[position]))
            for kw in node.keywords:
                if kw.arg == "error_code" or (
                    target in functions and kw.arg == functions[target][1]
                ):
                    codes.update(strings_in(kw.value))
    return codes, family


def documented_codes(text: str) -> set[str]:
    """Words inside backticks: `tx_not_found`, `404 tx_not_found`, `a` / `b` all count."""
    words: set[str] = set()
    for span in re.findall(r"`([^`\n]+)`", text):
        words.update(re.findall(r"[a-z][a-z0-9_]*", span))
    return words


# --- tests -----------------------------------------------------------------------------------


def test_collectors_find_enough() -> None:
    env_vars = collect_env_vars()
    codes, family = collect_error_codes()
    # Sanity: the collectors must keep seeing the code, or the checks below pass vacuously.
    assert len(env_vars) >= 40, sorted(env_vars)
    assert {"BAAS_ENV", "DATABASE_URL", "DEPLOY_STALL_S", "BAAS_NODES_DIR"} <= env_vars
    assert {"BAAS_SECRET_KEY_FILE", "DEPLOY_APPROVAL_PLANS", "DATABASE_URL_FILE"} <= env_vars
    assert len(codes) >= 60, sorted(codes)
    assert {"validation_failed", "quota_exceeded", "network_owner_only"} <= codes
    assert {"baas.errors.ValidationFailed", "baas.errors.InvalidTransition"} <= family
    assert "deploy.gateway.GatewayUnavailable" in family
    assert {"network_rejected", "deadline_exceeded", "driver_unavailable"} <= codes


def test_every_environment_variable_is_in_configuration_md() -> None:
    doc = CONFIGURATION_DOC.read_text(encoding="utf-8")
    missing = sorted(
        name for name in collect_env_vars() if not re.search(rf"`{re.escape(name)}`", doc)
    )
    assert not missing, (
        "environment variables read by the code but not in docs/configuration.md "
        f"(add them in backticks, with default and meaning): {', '.join(missing)}"
    )


def test_every_error_code_is_documented() -> None:
    documented: set[str] = set()
    for path in ERROR_DOCS:
        documented |= documented_codes(path.read_text(encoding="utf-8"))
    codes, _family = collect_error_codes()
    missing = sorted(codes - documented)
    assert not missing, (
        "error codes raised in code but in no backticks in docs/api.md, docs/networks.md "
        f"or docs/operations.md: {', '.join(missing)}"
    )
