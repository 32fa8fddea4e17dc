"""Fleet scanning throughput: one batch against a shell loop of `model-inspector scan`, per file.

    python benchmarks/fleet.py [--small 1000] [--big 3] [--big-mb 64] [--loop-sample 50] [--dir /tmp/...] [--keep]

Generates (in /tmp, never in the repository) a fleet of small models in mixed formats (safetensors, torch zip
checkpoints, a few suspicious demo models), a few big ones and a few malformed or hostile files, then measures in
this one run, on the same files:

- the shell loop: `model-inspector scan -q FILE` once per file for a random sample of the small models (one
  process per file, as a CI script would do), extrapolated to the whole small fleet — said so in the output;
- the batch over the small fleet with 1 and 2 local worker processes, and on a Dask LocalCluster of 2 workers;
- the same batch re-run with nothing changed;
- the whole fleet (small + big + malformed) with 2 workers: peak RSS of each worker against a single `scan`
  of one big model in a fresh process, and of the batch's parent.

Each figure is a ratio against its baseline measured in the same run; the 1-minute load average (the machine is
shared) is printed beside each one. Targets (issue 17): batch ≥ 5× the shell loop; unchanged re-run < 5% of the
first run; peak RSS per worker bounded as for a single scan.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import run_child, write_big_model  # noqa: E402

HOSTILE_PICKLE = b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def make_fleet(root: Path, small: int, big: int, big_mb: int, seed: int = 0) -> dict[str, list[Path]]:
    from safetensors.numpy import save_file

    from inspector.core.resources import resource_path

    rng = np.random.default_rng(seed)
    groups: dict[str, list[Path]] = defaultdict(list)
    try:
        import torch
    except ImportError:  # safetensors only
        torch = None  # type: ignore[assignment]
    demo = [resource_path("demo", n) for n in ("mlp-lsb-raw-b16.safetensors", "mlp-sgn-l100.safetensors")]
    for i in range(small):
        folder = root / "small" / f"org{i % 20:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        if i % 50 == 7:  # 2% suspicious: the demo zoo's attacked models
            p = folder / f"m{i:05d}.safetensors"
            shutil.copy(demo[i % 2], p)
        else:
            fan_in, fan_out = int(rng.integers(16, 96)), int(rng.integers(16, 96))
            tensors = {
                "fc1.weight": rng.normal(0, fan_in**-0.5, (fan_out, fan_in)).astype(np.float32),
                "fc1.bias": rng.normal(0, 0.01, fan_out).astype(np.float32),
                "fc2.weight": rng.normal(0, fan_out**-0.5, (10, fan_out)).astype(np.float32),
            }
            if torch is not None and i % 10 == 3:  # 10% torch zip checkpoints
                p = folder / f"m{i:05d}.pt"
                torch.save({k: torch.from_numpy(v) for k, v in tensors.items()}, p)
            else:
                p = folder / f"m{i:05d}.safetensors"
                save_file(tensors, str(p))
        groups["small"].append(p)
    for i in range(big):
        p = root / "big" / f"big{i}.safetensors"
        p.parent.mkdir(parents=True, exist_ok=True)
        write_big_model(p, big_mb / 1024, seed=i)
        groups["big"].append(p)
    bad = root / "bad"
    bad.mkdir(parents=True, exist_ok=True)
    src = groups["small"][0].read_bytes()
    for name, blob in [
        ("truncated.safetensors", src[: len(src) // 2]),
        ("random.safetensors", rng.bytes(4096)),
        ("evil.pt", HOSTILE_PICKLE),
        ("empty.bin", b""),
        ("lies.safetensors", (10**12).to_bytes(8, "little") + b"{}"),
    ]:
        (bad / name).write_bytes(blob)
        groups["bad"].append(bad / name)
    return groups


def cli(args: list[str]) -> tuple[float, int, int, float]:
    """One `model-inspector` run in a fresh interpreter (imports included): (seconds, parent peak RSS MB, exit
    code, the batch's own seconds as its summary line reports them)."""
    code = f"import sys\nfrom inspector.cli import main\nrc = main({args!r})\nprint('__RC__', rc)"
    secs, rss, out = run_child(code)
    rc = int([ln for ln in out.splitlines() if ln.startswith("__RC__")][-1].split()[1])
    own = re.search(r"([0-9.]+) s\)$", out.splitlines()[0]) if out else None
    return secs, rss, rc, float(own.group(1)) if own else float("nan")


def shell_loop(files: list[Path]) -> float:
    exe = Path(sys.executable).with_name("model-inspector")
    script = 'for f in "$@"; do "$MI" scan -q "$f" >/dev/null 2>&1; done'
    t0 = time.perf_counter()
    subprocess.run(["bash", "-c", script, "loop", *map(str, files)], env={**os.environ, "MI": str(exe)}, check=False)
    return time.perf_counter() - t0


def workers_rss(out: Path) -> dict[int, int]:
    peak: dict[int, int] = {}
    for line in (out / "results.jsonl").read_text().splitlines():
        f = json.loads(line)["fleet"]
        if "worker_pid" in f and not f.get("cached"):
            peak[f["worker_pid"]] = max(peak.get(f["worker_pid"], 0), int(f["peak_rss_kb"]) // 1024)
    return peak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--big", type=int, default=3)
    ap.add_argument("--big-mb", type=int, default=64)
    ap.add_argument("--loop-sample", type=int, default=50)
    ap.add_argument("--dir", type=Path, help="where to generate the fleet (default: a new folder in /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the generated fleet")
    ap.add_argument("--skip-dask", action="store_true")
    a = ap.parse_args()
    root = a.dir or Path(tempfile.mkdtemp(prefix="mi-fleet-bench-", dir="/tmp"))
    rows: list[tuple[str, str, str]] = []

    def row(what: str, value: str) -> None:
        rows.append((what, value, load()))
        print(f"  {what:<58} {value:<34} {load()}", flush=True)

    try:
        t0 = time.perf_counter()
        groups = make_fleet(root, a.small, a.big, a.big_mb)
        n_small = len(groups["small"])
        small_bytes = sum(p.stat().st_size for p in groups["small"])
        print(
            f"fleet in {root}: {n_small} small ({small_bytes / 1e6:.1f} MB), {len(groups['big'])} × {a.big_mb} MB, "
            f"{len(groups['bad'])} malformed/hostile; generated in {time.perf_counter() - t0:.1f} s; "
            f"{os.cpu_count()} cores; {load()}",
            flush=True,
        )
        # warm the page cache and the interpreter's imports so no contender pays for the first read
        for p in groups["small"]:
            p.read_bytes()
        run_child(f"from inspector.cli import main\nmain(['scan', '-q', {str(groups['small'][1])!r}])")

        sample = random.Random(0).sample(groups["small"], min(a.loop_sample, n_small))
        loop_s = shell_loop(sample)
        per_file = loop_s / len(sample)
        loop_total = per_file * n_small
        row(f"shell loop, measured on {len(sample)} files", f"{loop_s:.1f} s ({per_file * 1000:.0f} ms/file)")
        row(f"shell loop, EXTRAPOLATED to {n_small} files", f"{loop_total:.1f} s (baseline)")

        outs = root / "out"
        runs = [("batch, 1 local worker", ["-j", "1"]), ("batch, 2 local workers", ["-j", "2"])]
        if not a.skip_dask:
            runs.append(("batch, Dask LocalCluster of 2 workers", ["--dask", "local", "-j", "2"]))
        first: dict[str, float] = {}
        for label, extra in runs:
            out = outs / label.split(",")[1].strip().replace(" ", "-")
            secs, rss, rc, own = cli(["scan", str(root / "small"), "--out", str(out), "-q", *extra])
            first[label] = secs
            row(f"{label}: {n_small} files", f"{secs:.1f} s = {loop_total / secs:.1f}× the loop (rc {rc})")
        two = outs / "2-local-workers"
        secs, _, _, own = cli(["scan", str(root / "small"), "--out", str(two), "-q", "-j", "2"])
        base = first["batch, 2 local workers"]
        row(
            "unchanged re-run, 2 local workers (whole command)",
            f"{secs:.2f} s = {secs / base * 100:.1f}% of the first run",
        )
        row("  of which the batch itself (summary line)", f"{own:.2f} s = {own / base * 100:.1f}% of the first run")

        whole = outs / "whole"
        secs, parent_rss, rc, _ = cli(["scan", str(root), "--out", str(whole), "-q", "-j", "2", "--exclude", "out"])
        docs = [json.loads(x) for x in (whole / "results.jsonl").read_text().splitlines()]
        errors = sum(1 for d in docs if d["schema"].endswith("scan-error/1"))
        row(f"whole fleet ({len(docs)} models, {errors} could not inspect), 2 workers", f"{secs:.1f} s (rc {rc})")
        if groups["big"]:
            single_s, single_rss, _ = run_child(
                f"from inspector.cli import main\nmain(['scan', '-q', {str(groups['big'][0])!r}])"
            )
            row(
                f"single `scan` of one {a.big_mb} MB model, fresh process",
                f"peak RSS {single_rss} MB ({single_s:.1f} s)",
            )
        for pid, mb in sorted(workers_rss(whole).items()):
            row(f"  worker {pid} peak RSS (VmHWM)", f"{mb} MB")
        row("  batch parent peak RSS", f"{parent_rss} MB")
        print("\nuptime: " + subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    finally:
        if not a.keep and not a.dir:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
