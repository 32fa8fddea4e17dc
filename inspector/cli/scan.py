"""``model-inspector scan``: statistics and findings of one model; exit 0 clean, 1 suspicious, 2 could not inspect,
3 incomplete (a family of attacks was not assessed; ``--allow-incomplete`` turns it into 0)."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from inspector.cli._common import check_output, human_bytes, progress_for, safe_text, write_json
from inspector.core import prehash
from inspector.core.errors import InspectorError
from inspector.core.formats import ModelFile, open_model
from inspector.core.judge import exit_code
from inspector.core.pipeline import ScanOptions, ScanResult, scan

COMMAND = "scan"
ORDER = 10


def add_scan_options(p: argparse.ArgumentParser) -> None:
    """The options ``scan`` and ``report`` share."""
    p.add_argument("model", metavar="MODEL", help=".safetensors, sharded index/folder, or PyTorch .pt/.pth/.bin")
    p.add_argument(
        "--baseline", action="append", default=[], metavar="REF", help="trusted reference model (repeatable)"
    )
    p.add_argument("--profile", metavar="PROFILE.json", help="baseline profile (default: the built-in one)")
    p.add_argument("--arch", metavar="SPEC", help="architecture recipe, for the capacity-abuse probe")
    p.add_argument("--data", metavar="EVAL", help="evaluation data (.npz/.safetensors), for behavioural probes")
    p.add_argument("--train-sample", metavar="TRAIN", help="sample of the training data: enables data-aware tests")
    p.add_argument(
        "--base",
        metavar="BASE",
        help="the model this one was fine-tuned from: also judge the change W − BASE (fine-tune audit)",
    )
    p.add_argument("--bins", type=int, default=256, help="histogram bins per tensor (default 256)")
    p.add_argument("--workers", type=int, default=0, help="threads (default: one per core)")
    p.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="exit 0 instead of 3 when the verdict is incomplete (some family of attacks was not assessed)",
    )


def options_from(args: argparse.Namespace) -> ScanOptions:
    if args.bins < 1 or args.bins > 65536:
        raise InspectorError(f"--bins {args.bins}: give a number of bins between 1 and 65536")
    return ScanOptions(
        bins=args.bins,
        workers=max(0, args.workers),
        baselines=tuple(args.baseline),
        profile=args.profile,
        arch=args.arch,
        data=args.data,
        train_sample=args.train_sample,
        base=getattr(args, "base", None),
    )


def input_files(model: Any, args: argparse.Namespace) -> list[Any]:
    """Every file a scan reads, which no output may replace."""
    named = [*args.baseline, args.profile, args.data, args.train_sample, getattr(args, "base", None)]
    return [*(model.files if model is not None else ()), args.model, *(n for n in named if n)]


def check_arch(args: argparse.Namespace, model: Any) -> None:
    """An explicit --arch that cannot be resolved is a usage error (exit 2), not a silently skipped probe.

    Only checked with --data, the one case where the architecture is used (a file recipe is imported then)."""
    if args.arch and args.data:
        from inspector.core.evaluate import resolve

        resolve(args.arch, model)


def scan_with_bar(model: ModelFile, opts: ScanOptions) -> ScanResult:
    """``scan`` with a progress bar on an interactive terminal."""
    bar, close = progress_for(f"scanning {model.path.name}")
    try:
        return scan(model, opts, progress=bar)
    finally:
        close()


def add_parser(sub) -> None:
    p = sub.add_parser(
        COMMAND,
        help="inspect a model: statistics, detectors, verdict",
        description="Scan every tensor (streamed, on all cores), run the detectors and print a verdict. "
        "Exit status: 0 clean, 1 suspicious (including a file that would run code on load), 2 could not inspect, "
        "3 incomplete: nothing suspicious, but some family of attacks was not assessed (the verdict names the input "
        "that would assess it; --allow-incomplete exits 0).",
    )
    add_scan_options(p)
    p.add_argument("--json", metavar="OUT", help="write the scan/1 JSON document to OUT ('-' for stdout)")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the verdict line")
    from inspector.cli.fleet import add_fleet_options  # several models, folders, manifests: a batch

    add_fleet_options(p)
    p.set_defaults(func=run)


def _f(v: float, spec: str = ".3g") -> str:
    return "-" if v is None or not math.isfinite(v) else format(v, spec)


def print_table(result: ScanResult, out=None) -> None:
    out = out or sys.stdout
    flagged = {f.tensor for f in result.findings if f.severity == "suspicious"}
    rows = [("", "tensor", "dtype", "shape", "params", "mean", "std", "kurt", "±.05σ", "pos", "lowH", "ac1")]
    for t in result.tensors:
        s = t.stats
        rows.append(
            (
                "!" if t.name in flagged else "",
                safe_text(t.name, 200),
                t.dtype,
                "×".join(map(str, t.shape)) or "scalar",
                f"{t.numel:,}",
                _f(s.mean),
                _f(s.std),
                _f(s.kurtosis, ".2f"),
                _f(s.near_zero_fraction, ".1%"),
                _f(s.positive_fraction, ".0%"),
                _f(s.low_byte_entropy, ".2f"),
                _f(s.autocorr_value, ".2f"),
            )
        )
    widths = [max(map(len, col)) for col in zip(*rows)]
    widths[1] = min(widths[1], 48)
    w0, w1 = widths[0], widths[1]
    right = widths[2:]
    lines = []
    for r in rows:
        cells = [r[0].ljust(w0), r[1][:w1].ljust(w1)]
        cells += [c.rjust(w) for c, w in zip(r[2:], right)]
        lines.append("  ".join(cells).rstrip())
    lines.append("")
    out.write("\n".join(lines))  # one write: a model of 20,000 tensors is not 40,000 guarded writes


def print_summary(result: ScanResult, out=None) -> None:
    out = out or sys.stdout
    m = result.model
    print(
        f"\n{safe_text(m.path, 500)}  ({m.format}, {m.tensors} tensors, {m.parameters:,} parameters, {human_bytes(m.bytes)}, "
        f"sha256 {m.sha256[:16] if m.sha256 else '-'}…)",
        file=out,
    )
    if result.findings:
        print("\nFindings (most severe first):", file=out)
        for f in result.findings[:20]:
            where = safe_text(f.tensor or "model", 200)
            print(f"  [{f.severity:<10}] {f.score:4.2f} {f.attack:<16} {where}: {safe_text(f.message, 1000)}", file=out)
        if len(result.findings) > 20:
            print(f"  … and {len(result.findings) - 20} more (see --json)", file=out)
    if result.checked:
        print("\nChecked: " + "; ".join(result.checked), file=out)
    match = result.inputs.profile.match if result.inputs is not None and result.inputs.profile is not None else None
    if match is not None and not result.options.baselines:
        print(f"\nProfile: {safe_text(match.describe(), 500)}", file=out)
    if result.limits:
        print("\nNot ruled out:", file=out)
        for line in result.limits:
            print(f"  - {line}", file=out)
    if result.families:
        print("\nAttack families:", file=out)
        for fam in result.families:
            # a warning that stands in a family not detected is said on its line, as the app and the report say it
            warned = f"WARNING {fam.score:.2f} · " if fam.warning else ""
            print(f"  {fam.title:<27} {fam.status.upper():<16} {warned}{fam.text}", file=out)
    verdict = result.verdict.upper()
    print(f"\nVerdict: {verdict} (score {result.score:.2f}, {result.seconds:.2f} s)", file=out)
    if result.verdict == "incomplete":
        print("  not clean: " + "; ".join(result.missing), file=out)


def run(args: argparse.Namespace) -> int:
    from inspector.cli.fleet import run_fleet, wants_fleet

    if wants_fleet(args):
        prehash.cancel_unclaimed()  # the batch hashes each model in its own worker
        return run_fleet(args)
    opts = options_from(args)
    model = open_model(args.model)
    check_output(args.json, input_files(model, args), option="--json")
    check_arch(args, model)
    result = scan_with_bar(model, opts)
    if args.json:
        write_json(result.to_json(), args.json)
    code = exit_code(result.verdict, getattr(args, "allow_incomplete", False))
    if args.json == "-":
        return code
    if args.quiet:
        print(f"{result.verdict} {result.score:.2f} {safe_text(model.path, 500)}")
    else:
        print_table(result)
        print_summary(result)
    return code
