"""Detection benchmark: how well ``scan`` finds the lab's attacks, and how often it cries wolf.

Builds (or reuses) a lab zoo and scans every model three ways:

- **weights-only**: ``scan MODEL`` (the built-in profile is the only prior);
- **baseline**: ``scan MODEL --baseline REF --data eval.npz`` with REF a benign model of a *different seed* of the
  same architecture (the capacity probe runs too, since the lab's files name their recipe);
- **data-aware**: ``scan MODEL --train-sample train_sample.npz --data eval.npz`` (no reference model).

Per attack and variant it reports the detection rate (verdict suspicious), the attribution rate (the top
suspicious finding names the right attack), the false-positive rate on every benign variant, and the ROC AUC of
the model score (attacked models of one attack against every benign model of the zoo).

Tuning discipline: thresholds are set on the **tuning set** (lab plan ``tune``: benign seeds 5, 6, 7, attacks
trained from seed 5, a subset of the variant kinds) and only reported on the **report set** (plan ``report``:
benign seeds 0–4, attacks from seed 0, every kind; the kinds missing from the tuning set — and the embedding
and tabular models entirely — are marked *held out*).

    python benchmarks/detection.py --zoo /tmp/zoo-tune --tune --write docs/detection.md
    python benchmarks/detection.py --zoo /tmp/zoo-report --write docs/detection.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inspector.core.pipeline import ScanOptions, scan  # noqa: E402

MODES = ("weights-only", "baseline", "data-aware")
START = "<!-- detection-table:start -->"
END = "<!-- detection-table:end -->"
TUNE_START = "<!-- detection-tuning:start -->"
TUNE_END = "<!-- detection-tuning:end -->"
GROUPS = {  # ROC groups: attack models of one kind against all benign models
    "COR (λc ≥ 1)": lambda e: e["attack"] == "correlated-value" and e["params"]["lambda_c"] >= 1,
    "COR weak (λc < 1)": lambda e: e["attack"] == "correlated-value" and e["params"]["lambda_c"] < 1,
    "SGN (λs ≥ 10)": lambda e: e["attack"] == "sign" and e["params"]["lambda_s"] >= 10,
    "SGN weak (λs < 10)": lambda e: e["attack"] == "sign" and e["params"]["lambda_s"] < 10,
    "LSB raw (b ≥ 8)": lambda e: e["attack"] == "lsb" and not e["params"].get("encrypted") and e["params"]["bits"] >= 8,
    "LSB raw (b < 8)": lambda e: e["attack"] == "lsb" and not e["params"].get("encrypted") and e["params"]["bits"] < 8,
    "LSB encrypted": lambda e: e["attack"] == "lsb" and e["params"].get("encrypted"),
    "CAP": lambda e: e["attack"] == "capacity-abuse",
}


def ensure_zoo(path: Path, tune: bool) -> dict[str, Any]:
    manifest = path / "manifest.json"
    plan = "tune" if tune else "report"
    if not manifest.is_file():
        from inspector.lab import zoo

        print(f"building the {plan} zoo into {path} (a few minutes)…", file=sys.stderr)
        zoo.build_zoo(path, plan=plan)
    m = json.loads(manifest.read_text(encoding="utf-8"))
    if m.get("plan") != plan:
        raise SystemExit(f"{path} holds the {m.get('plan')!r} zoo, not {plan!r}: use another --zoo folder")
    return m


def tuned_kinds() -> set[tuple[str, str]]:
    """(architecture, variant) pairs of the tuning set: a report model of another kind is held out."""
    from inspector.lab import wide, zoo

    p = zoo.PLANS["tune"]
    kinds: set[tuple[str, str]] = set()
    for a in p.archs:
        kinds |= {(a, v) for v in (*p.trained_variants, *p.post_variants)}
        kinds |= {(a, f"lsb-{'enc' if e else 'raw'}-b{b}") for b, e in p.lsb}
        kinds |= {(a, f"cor-l{x:g}") for x in p.cor} | {(a, f"sgn-l{x:g}") for x in p.sgn}
        kinds |= {(a, f"cap-n{x}") for x in p.cap}
        kinds |= {(a, w) for w in p.wide if a in wide.WIDE[w]}
    return kinds


def seed_of(entry: dict[str, Any], first: int) -> int:
    return int(entry["params"].get("seed", first)) if entry["variant"].startswith("seed-") else first


def reference_for(entry: dict[str, Any], benign: dict[tuple[str, int], str], seeds: list[int]) -> str:
    """A benign model of the same architecture and a different seed."""
    s = seed_of(entry, seeds[0])
    other = seeds[(seeds.index(s) + 1) % len(seeds)]
    return benign[(entry["arch"], other)]


def options(mode: str, zoo: Path, ref: str, entry: dict[str, Any]) -> ScanOptions:
    data = entry.get("data") or {"eval": "eval.npz", "train_sample": "train_sample.npz"}
    if mode == "weights-only":
        return ScanOptions(hash=False, workers=1)
    if mode == "baseline":
        return ScanOptions(hash=False, workers=1, baselines=(ref,), data=str(zoo / data["eval"]))
    return ScanOptions(
        hash=False, workers=1, train_sample=str(zoo / data["train_sample"]), data=str(zoo / data["eval"])
    )


def auc(pos: list[float], neg: list[float]) -> float:
    """ROC AUC by Mann–Whitney: P(score of an attacked model > score of a benign one), ties counting half."""
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def run(zoo: Path, manifest: dict[str, Any], modes: tuple[str, ...], tune: bool) -> list[dict[str, Any]]:
    from inspector.lab.archs import register_lab_recipes

    register_lab_recipes()  # the embedding and tabular models' recipes, so the capacity probe can build them
    held = set() if tune else tuned_kinds()
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
            r = scan(zoo / e["file"], options(mode, zoo, ref, e))
            sus = [f for f in r.findings if f.severity == "suspicious"]
            rows.append(
                {
                    "file": e["file"],
                    "arch": e["arch"],
                    "label": e["label"],
                    "attack": e["attack"],
                    "variant": e["variant"],
                    "held_out": bool(held) and (e["arch"], e["variant"]) not in held,
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


def _archs(rs: list[dict[str, Any]]) -> str:
    short = {"digits-mlp": "mlp", "digits-cnn": "cnn", "digits-emb": "emb", "cancer-mlp": "tab"}
    return ", ".join(sorted({short.get(r["arch"], r["arch"]) for r in rs}))


def tables(rows: list[dict[str, Any]], modes: tuple[str, ...]) -> str:
    out = []
    attacked = [r for r in rows if r["label"] != "benign"]
    benign = [r for r in rows if r["label"] == "benign"]
    # headline: hits and false positives side by side
    out.append("### Summary (detection = verdict suspicious)\n")
    out.append(
        "| mode | attacked models detected | of them held out from tuning | benign models flagged (false positives) |"
    )
    out.append("|---|---|---|---|")
    for m in modes:
        a = [r for r in attacked if r["mode"] == m]
        h = [r for r in a if r["held_out"]]
        b = [r for r in benign if r["mode"] == m]
        det = sum(r["verdict"] == "suspicious" for r in a)
        hdet = sum(r["verdict"] == "suspicious" for r in h)
        fp = sum(r["verdict"] == "suspicious" for r in b)
        held = f"{hdet}/{len(h)}" if h else "–"
        out.append(f"| {m} | {det}/{len(a)} | {held} | **{fp}/{len(b)}** |")
    # benign models: false positives per variant
    out.append("\n### Benign models (false positive = verdict suspicious)\n")
    out.append("| benign variant | archs | models | " + " | ".join(f"{m}: false positives" for m in modes) + " |")
    out.append("|---|---|---|" + "---|" * len(modes))
    for v in sorted({r["variant"] for r in benign}, key=_variant_key):
        rs0 = [r for r in benign if r["variant"] == v and r["mode"] == modes[0]]
        cells = []
        for m in modes:
            rs = [r for r in benign if r["variant"] == v and r["mode"] == m]
            fp = sum(r["verdict"] == "suspicious" for r in rs)
            cells.append(f"**{fp}/{len(rs)}**" if fp else f"0/{len(rs)}")
        out.append(f"| {v} | {_archs(rs0)} | {len(rs0)} | " + " | ".join(cells) + " |")
    # attacked models: detection and attribution per variant
    out.append(
        "\n### Attacked models (detection = verdict suspicious; attribution = top suspicious finding's attack)\n"
    )
    out.append("| attack variant | archs | models | " + " | ".join(f"{m}: detected / attributed" for m in modes) + " |")
    out.append("|---|---|---|" + "---|" * len(modes))
    by: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in attacked:
        by[(r["variant"], r["mode"])].append(r)
    variants = sorted({r["variant"] for r in attacked}, key=_variant_key)
    for v in variants:
        rs0 = by[(v, modes[0])]
        held = [r for r in rs0 if r["held_out"]]
        tag = " (held out)" if held and len(held) == len(rs0) else f" ({_archs(held)} held out)" if held else ""
        cells = []
        for m in modes:
            rs = by[(v, m)]
            det = sum(r["verdict"] == "suspicious" for r in rs)
            att = sum(r["top_attack"] == r["attack"] for r in rs)
            cell = f"{det}/{len(rs)} / {att}/{len(rs)}"
            cells.append(cell if det == len(rs) else f"**{cell}**")
        out.append(f"| {v}{tag} | {_archs(rs0)} | {len(rs0)} | " + " | ".join(cells) + " |")
    # ROC AUC
    out.append("\n### ROC AUC of the model score (attacked models of the group vs every benign model)\n")
    out.append("| group | models | " + " | ".join(modes) + " |")
    out.append("|---|---|" + "---|" * len(modes))
    for g, pred in GROUPS.items():
        n = sum(1 for r in attacked if r["mode"] == modes[0] and pred(r))
        if not n:
            continue
        cells = []
        for m in modes:
            pos = [r["score"] for r in attacked if r["mode"] == m and pred(r)]
            neg = [r["score"] for r in benign if r["mode"] == m]
            cells.append(f"{auc(pos, neg):.3f}")
        out.append(f"| {g} | {n} | " + " | ".join(cells) + " |")
    out.append("\n### Margins: lowest attacked-model score vs highest benign-model score (suspicious from 0.70)\n")
    out.append("| group | " + " | ".join(modes) + " |")
    out.append("|---|" + "---|" * len(modes))
    for g, pred in GROUPS.items():
        if not any(pred(r) for r in attacked):
            continue
        cells = []
        for m in modes:
            pos = [r["score"] for r in attacked if r["mode"] == m and pred(r)]
            neg = [r["score"] for r in benign if r["mode"] == m]
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
    misses = [r for r in attacked if r["verdict"] != "suspicious"]
    fps = [r for r in benign if r["verdict"] == "suspicious"]
    wrong = [r for r in attacked if r["verdict"] == "suspicious" and r["top_attack"] != r["attack"]]
    for title, rs, show in (
        ("False positives (benign, verdict suspicious)", fps, True),
        ("Missed (attacked, verdict clean)", misses, False),
        ("Detected but attributed to another attack", wrong, True),
    ):
        out.append(f"**{title}** ({len(rs)}):\n")
        if not rs:
            out.append("- none\n")
            continue
        for r in sorted(rs, key=lambda r: (r["mode"], r["file"])):
            extra = f" — top finding: {r['top'][:160]}" if show and r["top"] else ""
            held = " (held out)" if r["held_out"] else ""
            out.append(f"- {r['mode']}: `{r['file']}`{held} (score {r['score']:.2f}){extra}")
        out.append("")
    warned = {m: sum(r["score"] >= 0.45 for r in benign if r["mode"] == m) for m in modes}
    n_benign = sum(1 for r in benign if r["mode"] == modes[0])
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
        + " (2-core machine shared with other jobs, one worker thread)."
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
        "lsb-fp16",
        "lsb-bf16",
        "lsb-off",
        "lsb-part",
        "lsb-enc",
        "cor-l",
        "cor-text",
        "cor-tab",
        "sgn-l",
        "sgn-part",
        "sgn-text",
        "sgn-tab",
        "cap-n",
        "cap-",
    ]
    return (next((i for i, o in enumerate(order) if v.startswith(o)), 99), v)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--zoo", help="zoo folder, built when missing (default /tmp/model-inspector-zoo-tune or -report)")
    p.add_argument("--tune", action="store_true", help="the tuning set (lab plan 'tune'); default: the report set")
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated subset of " + ", ".join(MODES))
    p.add_argument("--write", metavar="DOC.md", help="replace the table between the markers in this file")
    p.add_argument("--json", metavar="OUT", help="write every scan's row as JSON")
    args = p.parse_args(argv)
    modes = tuple(m for m in args.modes.split(",") if m)
    zoo = Path(args.zoo or f"/tmp/model-inspector-zoo-{'tune' if args.tune else 'report'}")
    manifest = ensure_zoo(zoo, args.tune)
    t0 = time.perf_counter()
    rows = run(zoo, manifest, modes, args.tune)
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
