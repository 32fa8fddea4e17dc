"""``model-inspector baseline build TRUSTED... --output PROFILE.json``: a baseline profile from trusted models."""

from __future__ import annotations

import argparse
import sys

from inspector.cli._common import check_output, progress_for
from inspector.core.judge import build_profile, save_profile

COMMAND = "baseline"
ORDER = 60


def add_parser(sub) -> None:
    p = sub.add_parser(
        COMMAND,
        help="build a baseline profile from trusted models",
        description="Baseline profiles record, per layer kind (dense, conv, embedding, norm, bias), the range each "
        "detector statistic takes over trusted models. Scans compare layers with it when no reference model "
        "(--baseline) is given.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    b = actions.add_parser("build", help="build a profile from trusted models")
    b.add_argument(
        "trusted", nargs="+", metavar="TRUSTED", help="trusted model files (same family as the models to scan)"
    )
    b.add_argument("--output", "-o", required=True, metavar="PROFILE.json", help="where to write the profile")
    b.add_argument("--description", default="", help="one line saying what the trusted models are")
    b.set_defaults(func=run_build)
    p.set_defaults(func=lambda args: (p.print_help(sys.stderr), 2)[1])


def run_build(args: argparse.Namespace) -> int:
    check_output(args.output, args.trusted)
    bar, close = progress_for("profiling")
    try:
        profile = build_profile(args.trusted, description=args.description, progress=bar)
    finally:
        close()
    save_profile(profile, args.output)
    layers = {k: max((r.count for r in v.values()), default=0) for k, v in profile.kinds.items()}
    shown = ", ".join(f"{n} {k}" for k, n in layers.items()) or "no layers large enough"
    print(f"wrote {args.output}: {len(profile.sources)} trusted model(s), layers per kind: {shown}")
    return 0
