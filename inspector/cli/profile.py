"""``model-inspector profile build TRUSTED... --output PROFILE.json [--name N --family F]`` and ``profile list``.

A profile records, per layer kind, the range each detector statistic takes over trusted models, and the
architecture signature of those models; a scan without ``--profile`` is judged against the built-in profile
whose signature best matches the model (``baseline build`` is the older name of ``profile build``)."""

from __future__ import annotations

import argparse
import math
import sys

from inspector.cli._common import check_output, progress_for
from inspector.core.judge import build_profile, save_profile, shipped_profiles

COMMAND = "profile"
ORDER = 61


def add_parser(sub) -> None:
    p = sub.add_parser(
        COMMAND,
        help="build or list baseline profiles (per layer kind, matched to a model by architecture)",
        description="Profiles record, per layer kind (dense, conv, embedding, norm, bias), the range each detector "
        "statistic takes over trusted models, and those models' architecture signature. Without --profile a "
        "scan is judged against the built-in profile that best matches its architecture, and says which.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    b = actions.add_parser("build", help="build a profile from trusted models of one family")
    b.add_argument("trusted", nargs="+", metavar="TRUSTED", help="trusted model files of one model family")
    b.add_argument("--output", "-o", required=True, metavar="PROFILE.json", help="where to write the profile")
    b.add_argument("--name", default="", help="the profile's name, shown in scans (default: the file's stem)")
    b.add_argument("--family", default="", help="the model family, e.g. transformer, convnet, recurrent")
    b.add_argument("--description", default="", help="one line saying what the trusted models are")
    b.set_defaults(func=run_build)
    ls = actions.add_parser("list", help="list the built-in profiles")
    ls.set_defaults(func=run_list)
    p.set_defaults(func=lambda args: (p.print_help(sys.stderr), 2)[1])


def run_build(args: argparse.Namespace) -> int:
    check_output(args.output, args.trusted)
    bar, close = progress_for("profiling")
    try:
        profile = build_profile(
            args.trusted, description=args.description, name=args.name, family=args.family, progress=bar
        )
    finally:
        close()
    save_profile(profile, args.output)
    layers = {k: max((r.count for r in v.values()), default=0) for k, v in profile.kinds.items()}
    shown = ", ".join(f"{n} {k}" for k, n in layers.items()) or "no layers large enough"
    print(f"wrote {args.output}: {len(profile.sources)} trusted model(s), layers per kind: {shown}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    for p in shipped_profiles():
        sig = p.signature
        size = (
            f"10^{sig['log10_params_lo']:.1f}-10^{sig['log10_params_hi']:.1f} parameters"
            if "log10_params_lo" in sig and math.isfinite(sig["log10_params_lo"])
            else "no signature"
        )
        kinds = ", ".join(sorted(p.kinds))
        print(f"{p.label:<18} {p.family or '-':<12} {len(p.sources):>2} models, {size}; kinds: {kinds}")
        if p.description:
            print(f"{'':<18} {p.description}")
    return 0
