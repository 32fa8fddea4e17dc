"""``model-inspector baseline build TRUSTED... --output PROFILE.json``: the older name of ``profile build``."""

from __future__ import annotations

import sys

from inspector.cli.profile import run_build  # the older name of ``profile build``: one implementation

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
    b.set_defaults(func=run_build, name="", family="")
    p.set_defaults(func=lambda args: (p.print_help(sys.stderr), 2)[1])
