"""A batch over a small fleet: every model gets a result, failures are results, re-runs reuse the cache."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from inspector.core.pipeline import ScanOptions, scan
from inspector.fleet import ERROR_SCHEMA, FleetOptions, discover, run_batch, summarize
from tests.fleet.conftest import FLEET_IDS, write_clean


def by_rel(docs, root: Path) -> dict:
    return {Path(d["fleet"]["id"]).relative_to(root).as_posix(): d for d in docs}


def close(a, b, rel: float = 1e-9) -> bool:
    """JSON documents equal, floats to ``rel``."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or abs(a - b) <= rel * max(abs(a), abs(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k], rel) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y, rel) for x, y in zip(a, b))
    return a == b


def lines(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]


def test_folder_batch_matches_single_scans_and_reports_the_bad_files(fleet, tmp_path):
    out = tmp_path / "out"
    run = run_batch(discover([fleet]), FleetOptions(out=out, jobs=2))
    assert run.scanned == len(FLEET_IDS) and run.reused == 0
    docs = by_rel(lines(out), fleet)
    assert set(docs) == FLEET_IDS  # results.jsonl: one line per model, fleet order
    for rel in ("clean-0.safetensors", "team/sub/lsb.safetensors"):
        single = scan(fleet / rel, ScanOptions(workers=1)).to_json()
        got = docs[rel]
        assert got["schema"] == "model-inspector/scan/1"
        # a worker that already ran the compiled kernels uses them for small models too: moments agree to
        # rounding, so numbers are compared to 1e-9, everything else exactly
        for k in ("verdict", "score", "findings", "tensors"):
            assert close(got[k], single[k]), (rel, k)
        assert got["model"]["sha256"] == single["model"]["sha256"]
    assert docs["team/sub/lsb.safetensors"]["verdict"] == "suspicious"
    assert docs["hf-repo"]["model"]["path"].endswith("hf-repo/model.safetensors")  # the folder read as one model
    # the hostile pickle is reported (nothing of it ran), the files that cannot be read are results; the rest completed
    evil = docs["evil.pt"]
    assert evil["verdict"] == "suspicious" and evil["findings"][0]["attack"] == "code-execution"
    assert "os.system" in evil["findings"][0]["message"]
    assert docs["needs-code.pt"]["schema"] == ERROR_SCHEMA and docs["needs-code.pt"]["error"]["kind"] == "refused"
    assert "mymodule.MyNet" in docs["needs-code.pt"]["error"]["message"]
    assert docs["broken.safetensors"]["error"]["kind"] == "malformed"
    s = summarize(run.docs)
    assert s.counts == {"incomplete": 6, "suspicious": 2, "error": 2}


def test_rerun_reuses_unchanged_moved_and_touched_models_and_rescans_changed_ones(fleet, tmp_path):
    out = tmp_path / "out"
    first = run_batch(discover([fleet]), FleetOptions(out=out, jobs=1))
    again = run_batch(discover([fleet]), FleetOptions(out=out, jobs=1))
    assert (again.scanned, again.hashed, again.reused) == (0, 0, len(FLEET_IDS))
    assert [d["fleet"]["id"] for d in again.docs] == [d["fleet"]["id"] for d in first.docs]
    assert all(d["fleet"].get("cached") for d in again.docs)

    touched = fleet / "clean-0.safetensors"
    os.utime(touched, ns=(1, 1))  # same bytes, new mtime: hashed, found by content
    shutil.move(fleet / "clean-1.safetensors", fleet / "renamed.safetensors")  # same bytes, new path
    changed = fleet / "clean-2.safetensors"
    blob = bytearray(changed.read_bytes())
    blob[-1] ^= 0x01  # one bit of one weight
    changed.write_bytes(bytes(blob))
    write_clean(fleet / "new" / "bigger.safetensors", 99, shape=(96, 32))  # a size no cached file has: not hashed
    third = run_batch(discover([fleet]), FleetOptions(out=out, jobs=1))
    assert third.scanned == 2 and third.hashed == 3
    docs = by_rel(third.docs, fleet)
    assert not docs["clean-2.safetensors"]["fleet"].get("cached")
    assert docs["renamed.safetensors"]["fleet"]["cached"]
    assert docs["renamed.safetensors"]["model"]["path"].endswith("renamed.safetensors")
    assert len(lines(out)) == len(FLEET_IDS) + 1  # compacted to exactly this run's models


def test_other_options_do_not_reuse_results(fleet, tmp_path):
    out = tmp_path / "out"
    units = discover([fleet / "clean-0.safetensors", fleet / "clean-1.safetensors"])
    run_batch(units, FleetOptions(out=out, jobs=1))
    other = run_batch(units, FleetOptions(out=out, jobs=1, scan=ScanOptions(bins=64)))
    assert other.scanned == 2
    assert len(lines(out)[0]["tensors"][0]["histogram"]["counts"]) == 64
    assert run_batch(units, FleetOptions(out=out, jobs=1, scan=ScanOptions(bins=64))).scanned == 0
    assert run_batch(units, FleetOptions(out=out, jobs=1, use_cache=False)).scanned == 2


def test_torn_last_line_of_a_killed_run_is_dropped(fleet, tmp_path):
    out = tmp_path / "out"
    units = discover([fleet / "clean-0.safetensors", fleet / "clean-1.safetensors"])
    run_batch(units, FleetOptions(out=out, jobs=1))
    with open(out / "results.jsonl", "ab") as f:
        f.write(b'{"schema": "model-inspector/scan/1", "fleet": {"id": "half')
    again = run_batch(units, FleetOptions(out=out, jobs=1))
    assert again.reused == 2 and len(lines(out)) == 2


def test_a_second_batch_on_the_same_results_folder_is_refused(fleet, tmp_path):
    import fcntl

    import pytest

    from inspector.core.errors import InspectorError

    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # what a running batch holds
        with pytest.raises(InspectorError, match="another batch is writing to this results folder"):
            run_batch(discover([fleet / "clean-0.safetensors"]), FleetOptions(out=out, jobs=1))
    assert run_batch(discover([fleet / "clean-0.safetensors"]), FleetOptions(out=out, jobs=1)).scanned == 1
