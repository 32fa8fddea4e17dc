"""Detection benchmark: how well ``scan`` finds the lab's attacks, and how often it cries wolf.

Builds (or reuses) the lab's full zoo and scans every model three ways:

- **weights-only**: ``scan MODEL`` (the built-in profile is the only prior);
- **baseline**: ``scan MODEL --baseline REF --data eval.npz`` with REF a benign model of a *different seed* of the
  same architecture (the capacity probe runs too, since the lab's files name their recipe);
- **data-aware**: ``scan MODEL --train-sample train_sample.npz --data eval.npz`` (no reference model).

Per attack and variant it reports the detection rate (verdict suspicious), the attribution rate (the top
suspicious finding names the right attack), the false-positive rate on every benign variant, and the ROC AUC of
the model score (attacked models of one attack against every benign model of the zoo).

Thresholds are never fitted to the files reported: they were set on a *tuning zoo* (the same plan built with
benign seeds 5, 6, 7, its attacks trained from seed 5), from whose benign seeds the built-in profile was also
built. The report zoo is the lab's standard full build (benign seeds 0–4, attacks and variants from seed 0).

    python benchmarks/detection.py --zoo /tmp/zoo-full --write docs/detection.md
    python benchmarks/detection.py --zoo /tmp/zoo-tune --tune --write docs/detection.md   # seeds 5, 6, 7
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inspector.core.measure.scan import ScanOptions, scan  # noqa: E402

TUNE_SEEDS = (5, 6, 7)
MODES = ("weights-only", "baseline", "data-aware")
START = "<!-- detection-table:start -->"
END = "<!-- detection-table:end -->"
TUNE_START = "<!-- detection-tuning:start -->"
TUNE_END = "<!-- detection-tuning:end -->"
GROUPS = {  # ROC groups: attack models of one kind against all benign models
    "COR": lambda e: e["attack"] == "correlated-value",
    "SGN": lambda e: e["attack"] == "sign",
    "LSB raw": lambda e: e["attack"] == "lsb" and not e["params"].get("encrypted"),
    "LSB encrypted": lambda e: e["attack"] == "lsb" and e["params"].get("encrypted"),
    "CAP": lambda e: e["attack"] == "capacity-abuse",
}


def ensure_zoo(path: Path, tune: bool) -> dict[str, Any]:
    manifest = path / "manifest.json"
    if not manifest.is_file():
        from inspector.lab import zoo

        plan = "full"
        if tune:
            zoo.PLANS["tune"] = replace(zoo.PLANS["full"], name="tune", seeds=TUNE_SEEDS)
            plan = "tune"
        print(f"building the {plan} zoo into {path} (a few minutes)…", file=sys.stderr)
        zoo.build_zoo(path, plan=plan)
    return json.loads(manifest.read_text(encoding="utf-8"))


def seed_of(entry: dict[str, Any], first: int) -> int:
    return int(entry["params"].get("seed", first)) if entry["variant"].startswith("seed-") else first


def reference_for(entry: dict[str, Any], benign: dict[tuple[str, int], str], seeds: list[int]) -> str:
    """A benign model of the same architecture and a different seed."""
    s = seed_of(entry, seeds[0])
    other = seeds[(seeds.index(s) + 1) % len(seeds)]
    return benign[(entry["arch"], other)]


def options(mode: str, zoo: Path, ref: str) -> ScanOptions:
    if mode == "weights-only":
        return ScanOptions(hash=False, workers=1)
    if mode == "baseline":
        return ScanOptions(hash=False, workers=1, baselines=(ref,), data=str(zoo / "eval.npz"))
    return ScanOptions(hash=False, workers=1, train_sample=str(zoo / "train_sample.npz"), data=str(zoo / "eval.npz"))


def auc(pos: list[float], neg: list[float]) -> float:
    """ROC AUC by Mann–Whitney: P(score of an attacked model > score of a benign one), ties counting half."""
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def run(zoo: Path, manifest: dict[str, Any], modes: tuple[str, ...]) -> list[dict[str, Any]]:
    entries = manifest["models"]
    seeds = sorted({seed_of(e, -1) for e in entries if e["label"] == "benign" and e["variant"].startswith("seed-")})
    benign = {
        (e["arch"], seed_of(e, -1)): str(zoo / e["file"])
        for e in entries
        if e["label"] == "benign" and e["variant"].startswith("seed-")
    }
    rows = []
    for e in entries:
        for mode in modes:
            ref = reference_for(e, benign, seeds)
            t0 = time.perf_counter()
            r = scan(zoo / e["file"], options(mode, zoo, ref))
            sus = [f for f in r.findings if f.severity == "suspicious"]
            rows.append(
                {
                    "file": e["file"],
                    "arch": e["arch"],
                    "label": e["label"],
                    "attack": e["attack"],
                    "variant": e["variant"],
                    "params": e["params"],
                    "mode": mode,
                    "reference": Path(ref).name if mode == "baseline" else None,
                    "verdict": r.verdict,
                    "score": r.score,
                    "top_attack": sus[0].attack if sus else None,
                    "top": f"{sus[0].attack} {sus[0].tensor or 'model'}: {sus[0].message}" if sus else None,
                    "attacks": sorted({f.attack for f in sus}),
                    "detectors": sorted({f.detector for f in sus}),
                    "seconds": time.perf_counter() - t0,
                }
            )
            print(
                f"{mode:12s} {e['file']:44s} {r.verdict:10s} {r.score:.2f} {rows[-1]['top_attack'] or ''}",
                file=sys.stderr,
            )
    return rows


def tables(rows: list[dict[str, Any]], modes: tuple[str, ...]) -> str:
    out = []
    # attacked models: detection and attribution per variant
    out.append("### Attacked models (detection = verdict suspicious; attribution = top suspicious finding's attack)\n")
    out.append("| attack variant | models | " + " | ".join(f"{m}: detected / attributed" for m in modes) + " |")
    out.append("|---|---|" + "---|" * len(modes))
    by: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        if r["label"] != "benign":
            by[(r["variant"], r["mode"])].append(r)
    variants = sorted({r["variant"] for r in rows if r["label"] != "benign"}, key=_variant_key)
    for v in variants:
        cells = []
        n = len(by[(v, modes[0])])
        for m in modes:
            rs = by[(v, m)]
            det = sum(r["verdict"] == "suspicious" for r in rs)
            att = sum(r["top_attack"] == r["attack"] for r in rs)
            cells.append(f"{det}/{len(rs)} / {att}/{len(rs)}")
        out.append(f"| {v} | {n} | " + " | ".join(cells) + " |")
    # benign models: false positives per variant
    out.append("\n### Benign models (false positive = verdict suspicious)\n")
    out.append("| benign variant | models | " + " | ".join(f"{m}: false positives" for m in modes) + " |")
    out.append("|---|---|" + "---|" * len(modes))
    bvariants = sorted({r["variant"] for r in rows if r["label"] == "benign"}, key=_variant_key)
    for v in bvariants:
        cells = []
        rs0 = [r for r in rows if r["label"] == "benign" and r["variant"] == v and r["mode"] == modes[0]]
        for m in modes:
            rs = [r for r in rows if r["label"] == "benign" and r["variant"] == v and r["mode"] == m]
            fp = sum(r["verdict"] == "suspicious" for r in rs)
            cells.append(f"**{fp}/{len(rs)}**" if fp else f"0/{len(rs)}")
        out.append(f"| {v} | {len(rs0)} | " + " | ".join(cells) + " |")
    # ROC AUC
    out.append("\n### ROC AUC of the model score (attacked models of the group vs every benign model)\n")
    out.append("| group | " + " | ".join(modes) + " |")
    out.append("|---|" + "---|" * len(modes))
    for g, pred in GROUPS.items():
        cells = []
        for m in modes:
            pos = [r["score"] for r in rows if r["mode"] == m and r["label"] != "benign" and pred(r)]
            neg = [r["score"] for r in rows if r["mode"] == m and r["label"] == "benign"]
            cells.append(f"{auc(pos, neg):.3f}")
        out.append(f"| {g} | " + " | ".join(cells) + " |")
    # margins: how far apart the groups are, not just whether they are ordered
    out.append("\n### Margins: lowest attacked-model score vs highest benign-model score (suspicious from 0.70)\n")
    out.append("| group | " + " | ".join(modes) + " |")
    out.append("|---|" + "---|" * len(modes))
    for g, pred in GROUPS.items():
        cells = []
        for m in modes:
            pos = [r["score"] for r in rows if r["mode"] == m and r["label"] != "benign" and pred(r)]
            neg = [r["score"] for r in rows if r["mode"] == m and r["label"] == "benign"]
            cells.append(f"{min(pos):.2f} vs {max(neg):.2f}" if pos and neg else "–")
        out.append(f"| {g} | " + " | ".join(cells) + " |")
    if "data-aware" in modes:
        out.append("\n### Data-aware mode: attacks found by the data tests themselves\n")
        out.append("(a suspicious finding of the `data-aware` or `capacity-probe` detector, whatever the others say)\n")
        out.append("| attack variant | found by data tests |")
        out.append("|---|---|")
        for v in variants:
            rs = by[(v, "data-aware")]
            k = sum(bool({"data-aware", "capacity-probe"} & set(r["detectors"])) for r in rs)
            out.append(f"| {v} | {k}/{len(rs)} |")
    # misses and false positives, by name
    out.append("\n### Every miss and every false positive\n")
    misses = [r for r in rows if r["label"] != "benign" and r["verdict"] != "suspicious"]
    fps = [r for r in rows if r["label"] == "benign" and r["verdict"] == "suspicious"]
    wrong = [
        r for r in rows if r["label"] != "benign" and r["verdict"] == "suspicious" and r["top_attack"] != r["attack"]
    ]
    for title, rs, show in (
        ("Missed (verdict clean)", misses, False),
        ("False positives", fps, True),
        ("Detected but attributed to another attack", wrong, True),
    ):
        out.append(f"**{title}** ({len(rs)}):\n")
        if not rs:
            out.append("- none\n")
            continue
        for r in sorted(rs, key=lambda r: (r["mode"], r["file"])):
            extra = f" — top finding: {r['top'][:160]}" if show and r["top"] else ""
            out.append(f"- {r['mode']}: `{r['file']}` (score {r['score']:.2f}){extra}")
        out.append("")
    warned = {m: sum(r["score"] >= 0.45 for r in rows if r["mode"] == m and r["label"] == "benign") for m in modes}
    n_benign = sum(1 for r in rows if r["mode"] == modes[0] and r["label"] == "benign")
    out.append(
        "Benign models carrying at least one warning (not a false positive, but noise a reviewer reads): "
        + ", ".join(f"{m} {k}/{n_benign}" for m, k in warned.items())
        + ".\n"
    )
    secs = defaultdict(list)
    for r in rows:
        secs[r["mode"]].append(r["seconds"])
    out.append(
        "Mean seconds per scan: "
        + ", ".join(f"{m} {sum(v) / len(v):.2f} s" for m, v in secs.items())
        + " (2-core machine, one worker thread)."
    )
    return "\n".join(out) + "\n"


def _variant_key(v: str) -> tuple:
    order = [
        "seed",
        "no-weight",
        "strong",
        "sgd",
        "bf16",
        "fp16",
        "pruned",
        "int8",
        "lsb-raw",
        "lsb-enc",
        "cor",
        "sgn",
        "cap",
    ]
    return (next((i for i, o in enumerate(order) if v.startswith(o)), 99), v)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--zoo", default="/tmp/model-inspector-zoo-full", help="zoo folder (built when missing)")
    p.add_argument("--tune", action="store_true", help=f"the tuning zoo: benign seeds {TUNE_SEEDS}")
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated subset of " + ", ".join(MODES))
    p.add_argument("--write", metavar="DOC.md", help="replace the table between the markers in this file")
    p.add_argument("--json", metavar="OUT", help="write every scan's row as JSON")
    args = p.parse_args(argv)
    modes = tuple(m for m in args.modes.split(",") if m)
    zoo = Path(args.zoo)
    manifest = ensure_zoo(zoo, args.tune)
    t0 = time.perf_counter()
    rows = run(zoo, manifest, modes)
    seeds = sorted({r["variant"] for r in rows if r["variant"].startswith("seed-")})
    cmd = "python benchmarks/detection.py " + " ".join(a for a in (argv if argv is not None else sys.argv[1:]))
    header = (
        f"Produced by `{cmd.strip()}` in {time.perf_counter() - t0:.0f} s on the `{manifest['plan']}` zoo "
        f"({len(manifest['models'])} models; benign {', '.join(seeds)}; attacks and odd variants trained from "
        f"{seeds[0]}; built with torch {manifest['built_with']['torch']}).\n"
    )
    text = header + "\n" + tables(rows, modes)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    if args.write:
        start, end = (TUNE_START, TUNE_END) if args.tune else (START, END)
        doc = Path(args.write)
        old = doc.read_text(encoding="utf-8") if doc.is_file() else ""
        if start not in old or end not in old:
            old += f"\n{start}\n{end}\n"
        head, rest = old.split(start, 1)
        _, tail = rest.split(end, 1)
        doc.write_text(f"{head}{start}\n{text}{end}{tail}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
