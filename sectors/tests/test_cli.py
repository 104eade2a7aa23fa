"""baasctl: offline validation, and the API commands against a local stub server.

The stub stands in for the platform's API (built elsewhere): it records every request and
answers from a script of canned responses, so these tests pin what baasctl sends and how it
reads the answers and maps them to exit codes.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sectors import cli
from sectors.bundle import load_archive, load_dir
from sectors.tests.bundles import write_bundle

TOKEN = "baas_abcd1234_s3cr3t-token-value"
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run(*argv: str) -> Result:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), stdout=stdout, stderr=stderr)
    result = Result(code, stdout.getvalue(), stderr.getvalue())
    assert TOKEN not in result.out and TOKEN not in result.err
    return result


# -- the stub API -----------------------------------------------------------------------------
@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Stub:
    url: str = ""
    # (method, path) -> answers (status, body), the last one repeated
    routes: dict[tuple[str, str], list[tuple[int, Any]]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def on(self, method: str, path: str, *answers: tuple[int, Any]) -> None:
        self.routes[(method, path)] = list(answers)

    def answer(self, method: str, path: str) -> tuple[int, Any]:
        answers = self.routes.get((method, path))
        if not answers:
            return 404, {"error": {"code": "not_found", "message": "Not found.", "details": {},
                                   "request_id": "r1"}}
        return answers.pop(0) if len(answers) > 1 else answers[0]


@pytest.fixture
def stub() -> Iterator[Stub]:
    state = Stub()

    class Handler(BaseHTTPRequestHandler):
        def handle_any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            state.requests.append(Request(self.command, self.path, dict(self.headers), body))
            status, data = state.answer(self.command, self.path)
            location = data.get("__location__") if isinstance(data, dict) else None
            raw = data if isinstance(data, bytes) else json.dumps(data).encode()
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = handle_any  # noqa: N815

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "POLL_INTERVAL", 0.01)
    monkeypatch.delenv("BAASCTL_URL", raising=False)
    monkeypatch.delenv("BAASCTL_TOKEN", raising=False)


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    return write_bundle(tmp_path / "donations")


TEMPLATE = {"id": "tpl_1", "name": "donations", "version": "1.0.0", "content_hash": "abc"}


def operation(state: str, progress: int, message: str, **extra: Any) -> dict[str, Any]:
    return {"id": 42, "kind": "template.deploy", "state": state, "progress": progress,
            "steps": [{"code": "step", "message": message, "text": message}],
            "error_code": "", "error_message": "", **extra}


def accepted(op: dict[str, Any]) -> tuple[int, Any]:
    return 202, {"deployment": {"id": "dep_1", "state": "deploying"}, "operation": op}


def api_args(stub: Stub) -> list[str]:
    return ["--url", stub.url, "--token", TOKEN]


# -- validate ---------------------------------------------------------------------------------
def test_validate_valid_bundle(bundle_dir: Path) -> None:
    result = run("validate", str(bundle_dir))
    assert result.code == 0
    assert "donations 1.0.0" in result.out and ": valid" in result.out
    assert "create_campaign  charity" in result.out  # the review table
    assert "steps total:" in result.out


def test_validate_invalid_bundle_prints_every_problem(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", replace=[('sector = "donation"', 'sector = "banking"')],
                        contract_replace=[("@read\ndef roles_of", "@write\ndef roles_of")])
    result = run("validate", str(root), "--deployed-version", "1.0.0")
    assert result.code == 1
    assert "manifest_schema $.sector: " in result.out
    assert "function_kind $.functions[5].kind: " in result.out
    assert "version_not_newer $.version: " in result.out


def test_validate_json(tmp_path: Path, bundle_dir: Path) -> None:
    result = run("validate", str(bundle_dir), "--json")
    assert result.code == 0
    data = result.json()
    assert data["valid"] is True and data["problems"] == []
    assert [s["function"] for s in data["review"]["samples"]][:2] == ["create_campaign"] * 2
    bad = run("validate", str(write_bundle(tmp_path / "bad", manifest="x = ")), "--json")
    assert bad.code == 1
    assert [p["code"] for p in bad.json()["problems"]] == ["manifest_syntax"]


def test_validate_a_directory_that_is_no_bundle(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run("validate", str(tmp_path / "empty"), "--json")
    assert result.code == 1
    assert [p["code"] for p in result.json()["problems"]] == ["manifest_missing",
                                                             "contract_missing"]


@pytest.mark.parametrize("argv", [[], ["validate"], ["validate", "/nonexistent/dir"],
                                  ["validate", "{dir}", "--deployed-version", "1.0"],
                                  ["frobnicate"], ["deploy", "{dir}"]])
def test_usage_errors(argv: list[str], bundle_dir: Path) -> None:
    result = run(*[a.format(dir=bundle_dir) for a in argv])
    assert result.code == 2
    assert result.err


def test_the_console_entry_point_exits_with_the_code(bundle_dir: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "sectors.cli", "validate", str(bundle_dir),
                           "--json", "--deployed-version", "2.0.0"], cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert json.loads(done.stdout)["problems"][0]["code"] == "version_not_newer"


# -- upload -----------------------------------------------------------------------------------
def test_upload_sends_the_bundle_as_a_multipart_tar_gz(stub: Stub, bundle_dir: Path) -> None:
    stub.on("POST", "/api/v1/templates/", (201, TEMPLATE))
    result = run("upload", str(bundle_dir), *api_args(stub), "--json")
    assert result.code == 0
    assert result.json() == {"ok": True, "exit_code": 0, "template": TEMPLATE}
    (request,) = stub.requests
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    ctype = request.headers["Content-Type"]
    assert ctype.startswith("multipart/form-data; boundary=")
    form = cgi_parse(request.body, ctype)
    uploaded = load_archive(form["archive"])
    assert uploaded.content_hash == load_dir(bundle_dir).content_hash


def cgi_parse(body: bytes, content_type: str) -> dict[str, bytes]:
    boundary = content_type.split("boundary=", 1)[1].encode()
    parts = body.split(b"--" + boundary)
    fields = {}
    for part in parts[1:-1]:
        head, _, data = part.partition(b"\r\n\r\n")
        name = head.split(b'name="', 1)[1].split(b'"', 1)[0].decode()
        fields[name] = data[:-2]  # the CRLF before the next boundary
    return fields


def test_environment_variables_give_url_and_token(stub: Stub, bundle_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    stub.on("POST", "/api/v1/templates/", (201, TEMPLATE))
    monkeypatch.setenv("BAASCTL_URL", stub.url + "/api/v1/")
    monkeypatch.setenv("BAASCTL_TOKEN", TOKEN)
    assert run("upload", str(bundle_dir)).code == 0
    assert stub.requests[0].path == "/api/v1/templates/"


def test_missing_token_is_a_usage_error(stub: Stub, bundle_dir: Path) -> None:
    result = run("upload", str(bundle_dir), "--url", stub.url)
    assert result.code == 2 and "BAASCTL_TOKEN" in result.err
    assert stub.requests == []


# -- deploy -----------------------------------------------------------------------------------
def test_deploy_wait_prints_progress_until_it_succeeds(stub: Stub, bundle_dir: Path) -> None:
    stub.on("POST", "/api/v1/templates/", (201, TEMPLATE))
    stub.on("POST", "/api/v1/networks/7/deployments/", accepted(operation("queued", 0, "queued")))
    stub.on("GET", "/api/v1/operations/42/",
            (200, operation("running", 40, "installing the chaincode")),
            (200, operation("running", 40, "installing the chaincode")),
            (200, operation("running", 80, "calling init")),
            (200, operation("succeeded", 100, "done")))
    result = run("deploy", str(bundle_dir), "--network", "7", "--roles",
                 '{"charity": ["org-a"]}', "--init-args", '{"currency": "KRW"}', "--wait",
                 *api_args(stub))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    progress = [line for line in lines if line.startswith("[")]
    assert progress == ["[  0%] queued", "[ 40%] installing the chaincode",
                        "[ 80%] calling init", "[100%] done"]
    assert "operation 42 succeeded" in result.out
    deploy = stub.requests[1]
    assert (deploy.method, deploy.path) == ("POST", "/api/v1/networks/7/deployments/")
    assert deploy.headers["Content-Type"] == "application/json"
    assert json.loads(deploy.body) == {"template": "tpl_1", "roles": {"charity": ["org-a"]},
                                       "init_args": {"currency": "KRW"}}
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in stub.requests)


def test_deploy_json_is_one_document_on_stdout(stub: Stub, bundle_dir: Path) -> None:
    stub.on("POST", "/api/v1/templates/", (201, TEMPLATE))
    stub.on("POST", "/api/v1/networks/7/deployments/", accepted(operation("queued", 0, "q")))
    stub.on("GET", "/api/v1/operations/42/", (200, operation("succeeded", 100, "done")))
    result = run("deploy", str(bundle_dir), "--network", "7", "--wait", "--json",
                 *api_args(stub))
    assert result.code == 0
    data = result.json()
    assert data["ok"] is True and data["result"] == "succeeded"
    assert data["template"]["id"] == "tpl_1"
    assert data["deployment"] == {"id": "dep_1", "state": "deploying"}
    assert data["operation"]["state"] == "succeeded"
    assert "[100%] done" in result.err  # progress goes to stderr with --json
    assert json.loads(stub.requests[1].body) == {"template": "tpl_1"}


def test_deploy_without_wait_returns_after_the_202(stub: Stub, bundle_dir: Path) -> None:
    stub.on("POST", "/api/v1/templates/", (201, TEMPLATE))
    stub.on("POST", "/api/v1/networks/7/deployments/", accepted(operation("queued", 0, "q")))
    result = run("deploy", str(bundle_dir), "--network", "7", *api_args(stub))
    assert result.code == 0
    assert "operation 42" in result.out
    assert [r.method for r in stub.requests] == ["POST", "POST"]


def test_deploy_unchanged(stub: Stub, bundle_dir: Path) -> None:
    stub.on("POST", "/api/v1/templates/", (200, TEMPLATE))
    stub.on("POST", "/api/v1/networks/7/deployments/",
            (200, {"deployment": {"id": "dep_1"}, "operation": None, "unchanged": True}))
    result = run("deploy", str(bundle_dir), "--network", "7", "--wait", "--json",
                 *api_args(stub))
    assert result.code == 0
    assert result.json()["result"] == "unchanged" and result.json()["unchanged"] is True


@pytest.mark.parametrize("final", ["failed", "cancelled"])
def test_deploy_operation_failed_or_cancelled_exits_4(stub: Stub, bundle_dir: Path,
                                                      final: str) -> None:
    stub.on("POST", "/api/v1/templates/", (201, TEMPLATE))
    stub.on("POST", "/api/v1/networks/7/deployments/", accepted(operation("queued", 0, "q")))
    stub.on("GET", "/api/v1/operations/42/",
            (200, operation(final, 60, "init failed", error_code="chaincode_error",
                            error_message="init raised")))
    result = run("deploy", str(bundle_dir), "--network", "7", "--wait", "--json",
                 *api_args(stub))
    assert result.code == 4
    data = result.json()
    assert data["ok"] is False and data["exit_code"] == 4 and data["result"] == final
    assert data["error"] == {"code": "chaincode_error", "message": "init raised"}
    assert f"operation 42 {final}: chaincode_error: init raised" in result.err


def test_deploy_wait_times_out_with_5(stub: Stub, bundle_dir: Path) -> None:
    stub.on("POST", "/api/v1/templates/", (201, TEMPLATE))
    stub.on("POST", "/api/v1/networks/7/deployments/", accepted(operation("queued", 0, "q")))
    stub.on("GET", "/api/v1/operations/42/", (200, operation("running", 10, "waiting")))
    result = run("deploy", str(bundle_dir), "--network", "7", "--wait", "--timeout", "0.2",
                 "--json", *api_args(stub))
    assert result.code == 5
    assert result.json()["result"] == "timeout"
    assert "timed out" in result.err


def test_api_refusal_exits_3_with_the_api_error(stub: Stub, bundle_dir: Path) -> None:
    stub.on("POST", "/api/v1/templates/", (201, TEMPLATE))
    stub.on("POST", "/api/v1/networks/7/deployments/",
            (403, {"error": {"code": "insufficient_scope", "message": "This token lacks the "
                             "deploy scope.", "details": {"required_scope": "deploy"},
                             "request_id": "req-9"}}))
    result = run("deploy", str(bundle_dir), "--network", "7", "--json", *api_args(stub))
    assert result.code == 3
    error = result.json()["error"]
    assert error["code"] == "insufficient_scope" and error["status"] == 403
    assert error["details"] == {"required_scope": "deploy"}
    assert "HTTP 403 insufficient_scope: This token lacks the deploy scope." in result.err


def test_bundle_invalid_from_the_api_exits_1(stub: Stub, bundle_dir: Path) -> None:
    problems = [{"code": "version_not_newer", "message": "1.0.0 is not newer than 1.0.0",
                 "path": "$.version"}]
    stub.on("POST", "/api/v1/templates/",
            (400, {"error": {"code": "bundle_invalid", "message": "The bundle is not valid.",
                             "details": {"problems": problems}, "request_id": "r"}}))
    result = run("upload", str(bundle_dir), *api_args(stub))
    assert result.code == 1
    assert "version_not_newer $.version: 1.0.0 is not newer than 1.0.0" in result.err


def test_server_error_and_unreachable_exit_5(stub: Stub, bundle_dir: Path) -> None:
    stub.on("POST", "/api/v1/templates/", (500, {"error": {
        "code": "internal_error", "message": "An internal error occurred", "details": {},
        "request_id": "r"}}))
    assert run("upload", str(bundle_dir), *api_args(stub)).code == 5
    result = run("upload", str(bundle_dir), "--url", "http://127.0.0.1:9", "--token", TOKEN,
                 "--json")
    assert result.code == 5
    assert result.json()["error"]["code"] == "unreachable"


# -- status and deployments -------------------------------------------------------------------
def test_status(stub: Stub) -> None:
    stub.on("GET", "/api/v1/operations/42/", (200, operation("running", 40, "installing")),
            (200, operation("failed", 60, "init", error_code="chaincode_error",
                            error_message="boom")))
    result = run("status", "42", *api_args(stub))
    assert result.code == 0
    assert "operation 42 template.deploy: running" in result.out
    assert "[ 40%] installing" in result.out
    failed = run("status", "42", *api_args(stub), "--json")
    assert failed.code == 4 and failed.json()["error"]["code"] == "chaincode_error"


def test_unknown_operation_exits_3(stub: Stub) -> None:
    result = run("status", "404", *api_args(stub))
    assert result.code == 3 and "not_found" in result.err


def test_deployments(stub: Stub) -> None:
    items = [{"id": "dep_1", "name": "donations", "status": "active",
              "active": {"version": "1.0.0"}, "target": None}]
    stub.on("GET", "/api/v1/networks/7/deployments/",
            (200, {"count": 1, "next": None, "previous": None, "results": items}))
    result = run("deployments", "--network", "7", *api_args(stub))
    assert result.code == 0
    assert "dep_1" in result.out and "donations" in result.out and "active" in result.out
    assert "1.0.0" in result.out
    assert run("deployments", "--network", "7", "--json",
               *api_args(stub)).json()["deployments"] == items


def test_the_token_never_crosses_the_network_in_clear_or_follows_a_redirect(stub: Stub) -> None:
    refused = run("status", "1", "--url", "http://baas.example.org", "--token", TOKEN)
    assert refused.code == 2 and "https" in refused.err
    stub.on("GET", "/api/v1/operations/1/", (302, {"__location__": "/elsewhere/"}))
    stub.on("GET", "/elsewhere/", (200, operation("succeeded", 100, "done")))
    moved = run("status", "1", *api_args(stub))
    assert moved.code != 0  # a redirect is an answer to refuse, not to follow
    assert [r.path for r in stub.requests] == ["/api/v1/operations/1/"]
