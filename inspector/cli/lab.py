"""``model-inspector lab build``: regenerate the reference zoo of benign and attacked digits models."""

from __future__ import annotations

import argparse

from inspector.cli._common import progress_for

COMMAND = "lab"
ORDER = 80


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        COMMAND,
        help="the attack lab: build the reference zoo of benign and attacked models",
        description="Reference implementations of the four attacks of Song et al. (CCS 2017) on the 8x8 digits "
        "set. Needs torch and scikit-learn (pip install 'model-inspector[lab]').",
    )
    sub = p.add_subparsers(dest="lab_command", metavar="ACTION")
    b = sub.add_parser(
        "build",
        help="train, attack, prove and write the zoo",
        description="Train benign and attacked models, write one .safetensors per model (labels in its metadata), "
        "decode every attack's secret back out of the written file, and record all figures in manifest.json. "
        "OUTDIR must be new, empty, or an earlier lab build.",
    )
    b.add_argument("outdir", metavar="OUTDIR", help="folder to write the zoo into")
    plan = b.add_mutually_exclusive_group()
    plan.add_argument("--quick", action="store_true", help="the small, fast set the tests use (MLP only)")
    plan.add_argument("--demo", action="store_true", help="the demo set committed under resources/demo")
    plan.add_argument("--tune", action="store_true", help="the detection benchmark's tuning set (seeds 5-7)")
    plan.add_argument("--report", action="store_true", help="the detection benchmark's report set (every variant)")
    b.add_argument("--threads", type=int, default=1, metavar="N", help="torch threads (default 1: reproducible)")
    b.set_defaults(func=run_build)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_build(args: argparse.Namespace) -> int:
    from inspector.lab.zoo import build_zoo, summary_rows

    plan = next((p for p in ("quick", "demo", "tune", "report") if getattr(args, p, False)), "full")
    progress, close = progress_for(f"lab build ({plan})")
    try:
        manifest = build_zoo(args.outdir, plan=plan, threads=args.threads, progress=progress)
    finally:
        close()
    rows = [("file", "accuracy", "twin", "proof")] + summary_rows(manifest)
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}")
    print(f"{len(manifest['models'])} models written to {args.outdir} in {manifest['seconds']:.1f} s (manifest.json)")
    return 0
