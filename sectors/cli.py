"""``baasctl``: validate a template bundle offline, upload and deploy it through the API.

    baasctl validate DIR [--json] [--deployed-version X]
    baasctl upload DIR                       --url URL --token TOKEN
    baasctl deploy DIR --network ID [--roles JSON] [--init-args JSON] [--wait] [--timeout S]
    baasctl status OPERATION_ID
    baasctl deployments --network ID

``--url``/``--token`` default to ``BAASCTL_URL``/``BAASCTL_TOKEN``; the token is sent as
``Authorization: Bearer`` and never printed. ``--json`` prints one JSON document on stdout
(progress lines then go to stderr). Exit codes (docs/ci.md): 0 success, 1 bundle invalid,
2 usage error, 3 the API refused the request, 4 the operation failed or was cancelled,
5 timeout, server unreachable or server error. Pure Python and the standard library (no
Django): it runs in CI with only the platform's package installed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any, NoReturn, TextIO

from sectors.bundle import BundleError, Problem, load_dir, pack_files

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_REFUSED, EXIT_FAILED, EXIT_UNAVAILABLE = range(6)
TERMINAL = ("succeeded", "failed", "cancelled")
POLL_INTERVAL = 1.0  # seconds between GET /operations/{id}/ with --wait
HTTP_TIMEOUT = 30.0  # seconds per request
USER_AGENT = "baasctl/1"


class Exit(Exception):
    """Stop with ``code``; ``error`` is what --json prints under "error"."""

    def __init__(self, code: int, message: str, error: dict[str, Any] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.error = error or {"code": "baasctl", "message": message}
        self.extra = extra or {}


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


# -- HTTP -------------------------------------------------------------------------------------
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: urllib would send the Authorization header to wherever it
    points, another host included."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> None:
        return None


# No proxy from the environment either: the token goes to the URL given, nowhere else.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


class Api:
    def __init__(self, url: str, token: str, timeout: float = HTTP_TIMEOUT) -> None:
        base = url.rstrip("/")
        if base.endswith("/api/v1"):
            base = base[: -len("/api/v1")]
        parts = urllib.parse.urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(f"--url must be an http(s) URL, not {url!r}")
        if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
            # the token would cross the network in clear text
            raise UsageError(f"--url must use https for a server other than this machine, "
                             f"not {url!r}")
        self.base = base
        self._token = token
        self.timeout = timeout

    def __repr__(self) -> str:  # never shows the token
        return f"Api({self.base!r})"

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def post_json(self, path: str, payload: dict[str, Any]) -> tuple[int, Any]:
        return self.request("POST", path, json.dumps(payload).encode(), "application/json")

    def post_file(self, path: str, field: str, filename: str, data: bytes,
                  content_type: str) -> tuple[int, Any]:
        boundary = f"baasctl-{uuid.uuid4().hex}"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
                f"filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n").encode()
        body += data + f"\r\n--{boundary}--\r\n".encode()
        return self.request("POST", path, body, f"multipart/form-data; boundary={boundary}")

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str | None = None) -> tuple[int, Any]:
        """(status, decoded JSON) of a 2xx answer; Exit for anything else."""
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json",
                   "User-Agent": USER_AGENT}
        if content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers=headers)
        where = f"{method} {path}"
        try:
            with _OPENER.open(req, timeout=self.timeout) as resp:
                return resp.status, _decode(resp.read())
        except urllib.error.HTTPError as exc:
            raw = exc.read() if exc.fp is not None else b""
            raise _http_error(where, exc.code, _decode(raw)) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise Exit(EXIT_UNAVAILABLE, f"{where}: the server is unreachable ({reason})",
                       {"code": "unreachable", "message": str(reason)}) from None


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return {"text": raw[:500].decode("utf-8", "replace")}


def _http_error(where: str, status: int, body: Any) -> Exit:
    """The API's ``{"error": {"code", "message", "details", "request_id"}}`` as an Exit."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        text = body.get("text", "") if isinstance(body, dict) else ""
        error = {"code": f"http_{status}", "message": text or f"HTTP {status}"}
    error = {**error, "status": status}
    message = f"{where}: HTTP {status} {error.get('code')}: {error.get('message')}"
    if status >= 500:
        return Exit(EXIT_UNAVAILABLE, message, error)
    if status == 400 and error.get("code") == "bundle_invalid":
        return Exit(EXIT_INVALID, message, error)
    return Exit(EXIT_REFUSED, message, error)


# -- output -----------------------------------------------------------------------------------
class Out:
    def __init__(self, as_json: bool, stdout: TextIO, stderr: TextIO) -> None:
        self.json = as_json
        self.stdout = stdout
        self.stderr = stderr

    def line(self, text: str = "") -> None:
        """Human output: stdout, or stderr when stdout carries the JSON document."""
        print(text, file=self.stderr if self.json else self.stdout, flush=True)

    def error(self, text: str) -> None:
        print(f"baasctl: {text}", file=self.stderr, flush=True)

    def document(self, data: dict[str, Any]) -> None:
        if self.json:
            print(json.dumps(data, indent=2, ensure_ascii=False), file=self.stdout, flush=True)


def _problem_line(problem: dict[str, Any] | Problem) -> str:
    p = problem.to_dict() if isinstance(problem, Problem) else problem
    where = f" {p['path']}" if p.get("path") else ""
    return f"{p.get('code')}{where}: {p.get('message')}"


def _table(rows: list[list[str]], *, last_right: bool = True) -> list[str]:
    """Aligned columns, indented; the last one (a number) right-aligned by default."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.rjust(w) if last_right and i == len(r) - 1 else c.ljust(w)
                             for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
            for r in rows]


# -- commands ---------------------------------------------------------------------------------
def cmd_validate(args: argparse.Namespace, out: Out) -> int:
    from sectors.bundle import parse_version
    from sectors.validation import validate

    path = Path(args.dir)
    if not path.is_dir():
        raise UsageError(f"{args.dir} is not a directory")
    if args.deployed_version is not None:
        try:
            parse_version(args.deployed_version)
        except ValueError as exc:
            raise UsageError(f"--deployed-version: {exc}") from None
    try:
        bundle = load_dir(path)
    except BundleError as exc:
        out.document({"valid": False, "name": None, "version": None, "content_hash": None,
                      "problems": [p.to_dict() for p in exc.problems], "review": None})
        out.line(f"{path}: invalid bundle")
        for problem in exc.problems:
            out.line(f"  {_problem_line(problem)}")
        return EXIT_INVALID
    report = validate(bundle, deployed_version=args.deployed_version)
    data = report.to_dict()
    out.document(data)
    state = "valid" if report.valid else f"invalid: {len(report.problems)} problem(s)"
    out.line(f"{bundle.name or path} {bundle.version} (content hash {bundle.content_hash}): "
             f"{state}")
    if report.problems:
        out.line("problems:")
        for problem in report.problems:
            out.line(f"  {_problem_line(problem)}")
    review = data["review"]
    if review:
        _print_review(review, out)
    return EXIT_OK if report.valid else EXIT_INVALID


def _print_review(review: dict[str, Any], out: Out) -> None:
    calls = ([review["init"]] if review.get("init") else []) + review["samples"]
    if calls:
        rows = [["function", "as", "outcome", "steps"]]
        for call in calls:
            outcome = call["outcome"]
            if call.get("expect") and call["expect"] != outcome:
                outcome += f" (expected {call['expect']})"
            rows.append([call["function"], call["as"], outcome, str(call.get("steps", 0))])
        out.line("review:")
        for text in _table(rows):
            out.line(text)
        out.line(f"  steps total: {review['steps_total']}")
    if review["role_checks"]:
        out.line("role checks (callers without an allowed role):")
        rows = [["function", "as", "outcome", "when"]]
        for check in review["role_checks"]:
            rows.append([check["function"], check["as"], check["outcome"],
                         check.get("when") or check.get("note", "")])
        for text in _table(rows, last_right=False):
            out.line(text)
    if review["warnings"]:
        out.line("warnings:")
        for warning in review["warnings"]:
            out.line(f"  {warning['code']} {warning['function']} (line {warning['line']}): "
                     f"{warning['message']}")
    for note in review.get("notes", []):
        out.line(f"note: {note}")


def _api(args: argparse.Namespace) -> Api:
    url = args.url or os.environ.get("BAASCTL_URL", "")
    token = args.token or os.environ.get("BAASCTL_TOKEN", "")
    if not url:
        raise UsageError("the API URL is missing: --url or BAASCTL_URL")
    if not token:
        raise UsageError("the API token is missing: --token or BAASCTL_TOKEN")
    return Api(url, token)


def _upload(args: argparse.Namespace, api: Api, out: Out) -> dict[str, Any]:
    path = Path(args.dir)
    if not path.is_dir():
        raise UsageError(f"{args.dir} is not a directory")
    try:
        bundle = load_dir(path)
    except BundleError as exc:
        problems = [p.to_dict() for p in exc.problems]
        raise Exit(EXIT_INVALID, "the bundle cannot be packed",
                   {"code": "bundle_invalid", "message": "the bundle cannot be packed",
                    "details": {"problems": problems}}) from None
    archive = pack_files(bundle.files)
    filename = f"{bundle.name or 'bundle'}-{bundle.version or '0'}.tar.gz"
    out.line(f"uploading {bundle.name} {bundle.version} ({len(archive)} bytes, content hash "
             f"{bundle.content_hash})")
    _, template = api.post_file("/api/v1/templates/", "archive", filename, archive,
                                "application/gzip")
    if not isinstance(template, dict) or "id" not in template:
        raise Exit(EXIT_UNAVAILABLE, "the upload answer has no template id",
                   {"code": "bad_answer", "message": "the upload answer has no template id"})
    out.line(f"template {template['id']}: {template.get('name', bundle.name)} "
             f"{template.get('version', bundle.version)}")
    return template


def cmd_upload(args: argparse.Namespace, out: Out) -> int:
    template = _upload(args, _api(args), out)
    out.document({"ok": True, "exit_code": EXIT_OK, "template": template})
    return EXIT_OK


def _json_object(text: str | None, option: str) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{option} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{option} must be a JSON object")
    return value


def cmd_deploy(args: argparse.Namespace, out: Out) -> int:
    api = _api(args)
    roles = _json_object(args.roles, "--roles")
    init_args = _json_object(args.init_args, "--init-args")
    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    template = _upload(args, api, out)
    payload: dict[str, Any] = {"template": template["id"]}
    if args.roles is not None:
        payload["roles"] = roles
    if args.init_args is not None:
        payload["init_args"] = init_args
    network = urllib.parse.quote(str(args.network), safe="")
    status, answer = api.post_json(f"/api/v1/networks/{network}/deployments/", payload)
    answer = answer if isinstance(answer, dict) else {}
    deployment = answer.get("deployment")
    operation = answer.get("operation")
    result: dict[str, Any] = {"ok": True, "exit_code": EXIT_OK, "template": template,
                              "deployment": deployment, "operation": operation,
                              "unchanged": bool(answer.get("unchanged"))}
    if operation is None:
        out.line("unchanged: this version is already deployed with these settings")
        result["result"] = "unchanged"
        out.document(result)
        return EXIT_OK
    out.line(f"deployment started: operation {operation.get('id')} ({_state(operation)})")
    if not args.wait:
        result["result"] = "accepted"
        out.document(result)
        return EXIT_OK
    final, code = _wait(api, operation, args.timeout, out)
    result.update(operation=final, ok=code == EXIT_OK, exit_code=code,
                  result=_state(final) if code != EXIT_UNAVAILABLE else "timeout")
    if code != EXIT_OK:
        result["error"] = _operation_error(final, code, args.timeout)
    out.document(result)
    return code


def _state(op: dict[str, Any]) -> str:
    # the API names it "state" (docs/api.md); "status" is accepted too
    return str(op.get("state") or op.get("status") or "unknown")


def _step_message(op: dict[str, Any]) -> str:
    step = op.get("step")
    if not isinstance(step, dict):
        steps = op.get("steps")
        step = steps[-1] if isinstance(steps, list) and steps and isinstance(steps[-1], dict) \
            else {}
    return str(step.get("text") or step.get("message") or step.get("code") or "")


def _progress_line(op: dict[str, Any]) -> str:
    progress = op.get("progress")
    shown = f"{progress:3d}%" if isinstance(progress, int) else "  ?%"
    message = _step_message(op) or _state(op)
    return f"[{shown}] {message}"


def _wait(api: Api, operation: dict[str, Any], timeout: float,
          out: Out) -> tuple[dict[str, Any], int]:
    """Poll the operation until it ends or ``timeout`` seconds pass: (last seen, exit code)."""
    op_id = urllib.parse.quote(str(operation.get("id")), safe="")
    deadline = time.monotonic() + timeout
    last = ""
    op = operation
    while True:
        line = _progress_line(op)
        if line != last:
            out.line(line)
            last = line
        state = _state(op)
        if state in TERMINAL:
            break
        if time.monotonic() >= deadline:
            out.error(f"timed out after {timeout:g} s: operation {operation.get('id')} is "
                      f"still {state}")
            return op, EXIT_UNAVAILABLE
        time.sleep(max(0.0, min(POLL_INTERVAL, deadline - time.monotonic())))
        _, answer = api.get(f"/api/v1/operations/{op_id}/")
        if isinstance(answer, dict):
            op = answer.get("operation") if isinstance(answer.get("operation"), dict) \
                else answer
    if state == "succeeded":
        out.line(f"operation {op.get('id')} succeeded")
        return op, EXIT_OK
    detail = ": ".join(str(x) for x in (op.get("error_code"), op.get("error_message")) if x)
    out.error(f"operation {op.get('id')} {state}" + (f": {detail}" if detail else ""))
    return op, EXIT_FAILED


def _operation_error(op: dict[str, Any], code: int, timeout: float) -> dict[str, Any]:
    if code == EXIT_UNAVAILABLE:
        return {"code": "timeout",
                "message": f"the operation did not end within {timeout:g} s"}
    return {"code": op.get("error_code") or f"operation_{_state(op)}",
            "message": op.get("error_message") or f"the operation {_state(op)}"}


def cmd_status(args: argparse.Namespace, out: Out) -> int:
    api = _api(args)
    op_id = urllib.parse.quote(str(args.operation_id), safe="")
    _, op = api.get(f"/api/v1/operations/{op_id}/")
    op = op if isinstance(op, dict) else {}
    state = _state(op)
    code = EXIT_FAILED if state in ("failed", "cancelled") else EXIT_OK
    kind = f" {op['kind']}" if op.get("kind") else ""
    out.line(f"operation {op.get('id', args.operation_id)}{kind}: {state}")
    out.line(_progress_line(op))
    if code == EXIT_FAILED and (op.get("error_code") or op.get("error_message")):
        out.line(f"error: {op.get('error_code', '')}: {op.get('error_message', '')}")
    result: dict[str, Any] = {"ok": code == EXIT_OK, "exit_code": code, "operation": op}
    if code != EXIT_OK:
        result["error"] = _operation_error(op, code, 0)
    out.document(result)
    return code


def cmd_deployments(args: argparse.Namespace, out: Out) -> int:
    api = _api(args)
    network = urllib.parse.quote(str(args.network), safe="")
    _, answer = api.get(f"/api/v1/networks/{network}/deployments/")
    if isinstance(answer, dict) and isinstance(answer.get("results"), list):
        items = answer["results"]
    else:
        items = answer if isinstance(answer, list) else []
    out.document({"ok": True, "exit_code": EXIT_OK, "deployments": items})
    if not items:
        out.line("no deployments")
        return EXIT_OK
    rows = [["id", "name", "active", "status", "target"]]
    for item in items:
        if not isinstance(item, dict):
            continue
        active, target = item.get("active"), item.get("target")
        rows.append([str(item.get("id", "")), str(item.get("name", "")),
                     str(active.get("version", "")) if isinstance(active, dict) else "-",
                     str(item.get("status", "")),
                     str(target.get("version", "")) if isinstance(target, dict) else "-"])
    for text in _table(rows, last_right=False):
        out.line(text)
    return EXIT_OK


# -- entry point ------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="baasctl", description="Validate, upload and deploy sector template "
                     "bundles (docs/templates.md, docs/ci.md).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def api_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", help="the platform's URL (default: $BAASCTL_URL)")
        p.add_argument("--token", help="an API token (default: $BAASCTL_TOKEN); never printed")
        p.add_argument("--json", action="store_true", help="print one JSON document")

    p = sub.add_parser("validate", help="validate a bundle directory offline")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--deployed-version", metavar="X",
                   help="the version deployed today: the bundle's must be newer")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("upload", help="upload a bundle directory as a template")
    p.add_argument("dir", metavar="DIR")
    api_options(p)
    p.set_defaults(func=cmd_upload)

    p = sub.add_parser("deploy", help="upload a bundle and deploy it on a network")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--network", required=True, metavar="ID")
    p.add_argument("--roles", metavar="JSON",
                   help='organisation roles, e.g. \'{"charity": ["org-a"]}\'')
    p.add_argument("--init-args", metavar="JSON", help="arguments of the init function")
    p.add_argument("--wait", action="store_true", help="wait for the deployment to end")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S",
                   help="seconds --wait waits (default 600)")
    api_options(p)
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser("status", help="show an operation")
    p.add_argument("operation_id", metavar="OPERATION_ID")
    api_options(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("deployments", help="list a network's deployments")
    p.add_argument("--network", required=True, metavar="ID")
    api_options(p)
    p.set_defaults(func=cmd_deployments)
    return parser


def main(argv: list[str] | None = None, *, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(parser.format_usage().rstrip(), file=stderr)
        print(exc, file=stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    out = Out(getattr(args, "json", False), stdout, stderr)
    try:
        return int(args.func(args, out))
    except UsageError as exc:
        out.error(str(exc))
        return EXIT_USAGE
    except Exit as exc:
        out.error(exc.message)
        details = exc.error.get("details")
        problems = details.get("problems") if isinstance(details, dict) else None
        if isinstance(problems, list):
            for problem in problems:
                if isinstance(problem, dict):
                    out.error(f"  {_problem_line(problem)}")
        elif details:
            out.error(f"  details: {json.dumps(details, ensure_ascii=False)}")
        out.document({"ok": False, "exit_code": exc.code, "error": exc.error, **exc.extra})
        return exc.code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
