"""The results file as a cache: what the key covers, and lines read back without their tensors."""

from __future__ import annotations

import json

from inspector.core.pipeline import ScanOptions
from inspector.fleet.store import Journal, options_digest
from tests.fleet.conftest import write_clean


def test_options_digest_covers_what_changes_a_result_and_the_content_of_named_files(tmp_path):
    base = options_digest(ScanOptions())
    assert options_digest(ScanOptions(workers=7, chunk_bytes=1 << 16)) == base  # speed only
    assert options_digest(ScanOptions(bins=64)) != base
    ref = write_clean(tmp_path / "ref.safetensors", 1)
    with_ref = options_digest(ScanOptions(baselines=(str(ref),)))
    assert with_ref != base
    write_clean(ref, 2)  # another reference under the same name
    assert options_digest(ScanOptions(baselines=(str(ref),))) != with_ref
    recipe = tmp_path / "net.py"
    recipe.write_text("def build(): pass\n")
    before = options_digest(ScanOptions(arch=f"{recipe}:build"))
    recipe.write_text("def build(): return 1\n")
    assert options_digest(ScanOptions(arch=f"{recipe}:build")) != before


def doc(uid: str, evidence: dict | None = None) -> dict:
    finding = {"detector": "d", "severity": "info", "evidence": evidence or {}}
    return {
        "schema": "model-inspector/scan/1",
        "tensors": [{"name": "w", "stats": {"count": 3}}],
        "findings": [finding],
        "verdict": "clean",
        "fleet": {"id": uid},
    }


def test_lines_are_read_back_slim_and_whole_on_demand(tmp_path):
    j = Journal.open(tmp_path)
    j.append(doc("a"))
    j.append(doc("b", evidence={"tensors": ["w"]}))  # a nested "tensors" key before the top-level one
    j.close()
    line = (tmp_path / "results.jsonl").read_text().splitlines()[0]
    assert list(json.loads(line))[-1] == "tensors"  # the bulk is written last
    again = Journal.open(tmp_path)
    assert [e.doc["fleet"]["id"] for e in again.entries] == ["a", "b"]
    assert all("tensors" not in e.doc for e in again.entries)
    assert again.entries[1].doc["findings"][0]["evidence"] == {"tensors": ["w"]}
    assert again.full(again.entries[1]) == doc("b", evidence={"tensors": ["w"]})


def test_a_torn_line_is_dropped_and_an_unchanged_file_is_not_rewritten(tmp_path):
    j = Journal.open(tmp_path)
    j.append(doc("a"))
    j.close()
    path = tmp_path / "results.jsonl"
    with open(path, "ab") as f:
        f.write(b'{"schema": "model-inspector/scan/1", "fleet": {"id": "torn')
    again = Journal.open(tmp_path)
    assert len(again.entries) == 1 and path.read_bytes().endswith(b"\n")
    before = path.stat()
    again.rewrite(list(again.entries))
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
