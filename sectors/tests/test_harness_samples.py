"""``sectors.harness.Samples``, the sample and export checks every bundle's tests make:
they report a sample whose outcome differs, a function no sample calls, and an export the
manifest does not match."""

from __future__ import annotations

import shutil
from pathlib import Path

from sectors.harness import BundleChain, Samples

DONATIONS = Path(__file__).resolve().parent.parent / "bundles" / "donations"


def _copy(tmp_path: Path) -> Path:
    bundle = tmp_path / "bundle"
    shutil.copytree(DONATIONS, bundle, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    return bundle


def test_a_sample_with_the_wrong_expectation_and_an_unsampled_function_are_reported(
        tmp_path):
    bundle = _copy(tmp_path)
    manifest = (bundle / "manifest.toml").read_text("utf-8")
    first = manifest.index('expect = "ok"')
    (bundle / "manifest.toml").write_text(
        manifest[:first] + 'expect = "refused"' + manifest[first + len('expect = "ok"'):],
        "utf-8")
    samples = Samples(bundle)
    samples.manifest["samples"] = [s for s in samples.manifest["samples"]
                                   if s["function"] != "get_campaign"]
    chain = BundleChain.start(tmp_path / "chain", bundle)
    problems = samples.sample_problems(chain)
    chain.close()
    assert any(p.startswith("sample 0 ") and "expected refused, got ok" in p
               for p in problems), problems
    assert "get_campaign: no sample calls it" in problems


def test_an_export_the_manifest_does_not_match_is_reported(tmp_path):
    bundle = _copy(tmp_path)
    assert Samples(bundle).export_problems() == []
    source = (bundle / "contract.py").read_text("utf-8")
    (bundle / "contract.py").write_text(
        source.replace("@read\ndef get_campaign(ctx", "@write\ndef get_campaign(ctx"), "utf-8")
    samples = Samples(bundle)
    del samples.manifest["functions"][0]["args"]["required"]
    problems = samples.export_problems()
    assert "get_campaign: not exported as @read" in problems
    assert f"{samples.manifest['functions'][0]['name']}: args name no required list" \
        in problems
