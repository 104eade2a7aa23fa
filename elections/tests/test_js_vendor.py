"""The browser's voting code loads noble from the project, at the pinned versions: the
vendored bundle is the one ``scripts/vendor-noble.sh`` recorded (its SHA-256), its header
names the versions pinned in ``scripts/vendor-noble/``, it carries the MIT licence, and
every import of ``static/elections/`` is a relative path to a file the project serves."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "static" / "vendor" / "noble"
PINS = ROOT / "scripts" / "vendor-noble"
BUNDLE = VENDOR / "secp256k1.js"


def test_the_bundle_is_the_one_the_script_recorded():
    readme = (VENDOR / "README.md").read_text()
    recorded = re.search(r"^\| secp256k1\.js \| ([0-9a-f]{64}) \|$", readme, re.MULTILINE)
    assert recorded, "no SHA-256 recorded in static/vendor/noble/README.md"
    assert hashlib.sha256(BUNDLE.read_bytes()).hexdigest() == recorded.group(1)


def test_the_bundle_header_names_the_pinned_versions_and_the_licence():
    pins = json.loads((PINS / "package.json").read_text())
    lock = json.loads((PINS / "package-lock.json").read_text())["packages"]
    wanted = {**pins["dependencies"], **pins["devDependencies"]}
    for name, version in wanted.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} is not pinned exactly"
        assert lock[f"node_modules/{name}"]["version"] == version
        assert lock[f"node_modules/{name}"]["integrity"].startswith("sha512-")
    header = BUNDLE.read_text().split("*/", 1)[0]
    assert f"@noble/curves {wanted['@noble/curves']} (secp256k1)" in header
    assert f"@noble/hashes {wanted['@noble/hashes']} (sha256)" in header
    assert f"esbuild {wanted['esbuild']}" in header
    assert "The MIT License (MIT)" in header and "Paul Miller" in header
    assert "The MIT License (MIT)" in (VENDOR / "LICENSE").read_text()


def test_the_voting_pages_import_only_files_the_project_serves():
    found = 0
    for script in sorted((ROOT / "static" / "elections").glob("*.js")):
        text = script.read_text()
        for spec in re.findall(r"""^\s*(?:import|export)\b[^;]*?\bfrom\s+["']([^"']+)["']""",
                               text, re.MULTILINE):
            found += 1
            assert spec.startswith(("./", "../")), f"{script.name} imports {spec}"
            assert (script.parent / spec).resolve().is_file(), f"{script.name}: {spec} is missing"
        assert not re.search(r"import\s*\(|https?://[^\s\"']*\.m?js", text), script.name
    assert found, "no import found: the pattern no longer matches the code"


def test_the_project_serves_the_module_and_its_library():
    from django.contrib.staticfiles import finders

    for name in ("elections/voting.js", "vendor/noble/secp256k1.js"):
        found = finders.find(name)
        assert found and Path(found).resolve() == (ROOT / "static" / name).resolve(), name


def test_the_voting_module_has_no_dom_storage_or_network_code():
    """Pure functions: secrets (a trustee's key, a ballot's randomness) go back to the
    caller, never anywhere else; pages add the DOM around it."""
    code = (ROOT / "static" / "elections" / "voting.js").read_text()
    code = re.sub(r"/\*.*?\*/|//[^\n]*", "", code, flags=re.DOTALL)  # comments
    for name in ("document", "window", "fetch", "XMLHttpRequest", "WebSocket", "sendBeacon",
                 "localStorage", "sessionStorage", "indexedDB", "postMessage", "Math.random",
                 "eval", "Function("):
        assert not re.search(r"\b" + re.escape(name) + (r"\b" if name[-1].isalnum() else ""),
                             code), name
    assert "crypto.getRandomValues" in code
