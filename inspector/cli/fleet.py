"""Batch scanning from the command line: ``scan`` over many models, and ``fleet-report`` for one of them.

``model-inspector scan`` hands over to :func:`run_fleet` when given several MODELs, a folder that is not itself
one model, ``--manifest``, or a batch option (``--out``, ``--jobs``, ``--dask``). Exit status of a batch: 1 any suspicious;
else 2 with ``--fail-on-error`` when some model could not be inspected; else 3 any incomplete verdict (0 with
``--allow-incomplete``); else 0. Bad usage is 2.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Optional

from inspector.cli._common import check_output, human_bytes
from inspector.core.errors import InspectorError

COMMAND = "fleet-report"
ORDER = 16
DEFAULT_OUT = "model-inspector-fleet"


def add_fleet_options(p: argparse.ArgumentParser) -> None:
    """Batch options of ``scan``; MODEL becomes optional (``--manifest`` alone) and repeatable."""
    for action in p._actions:  # the shared MODEL positional: optional here, where a manifest can replace it
        if action.dest == "model":
            action.nargs = "?"
            action.default = None
            action.help = f"{action.help}; or a folder of models (scanned as a batch)"
    p.add_argument("more_models", nargs="*", metavar="MODEL", help="more models or folders: scanned as a batch")
    g = p.add_argument_group(
        "batch (several models, folders, manifests)",
        "Results go to DIR (resumable: a re-run scans only new or changed models). Exit status of a batch: 1 any "
        "suspicious; else 2 with --fail-on-error when some model could not be inspected; else 3 any incomplete "
        "(0 with --allow-incomplete); else 0.",
    )
    g.add_argument(
        "--manifest",
        action="append",
        default=[],
        metavar="FILE",
        help='paths, one a line, or JSONL {"path": ..., "id": ...} descriptors (repeatable)',
    )
    g.add_argument(
        "--include", action="append", default=[], metavar="GLOB", help="in folders, scan only matching files"
    )
    g.add_argument(
        "--exclude", action="append", default=[], metavar="GLOB", help="in folders, skip matching files/folders"
    )
    g.add_argument(
        "--out", metavar="DIR", help=f"results folder: results.jsonl, results.sarif, index.html (default {DEFAULT_OUT})"
    )
    g.add_argument("--jobs", "-j", type=int, default=0, help="worker processes (default: per core and free memory)")
    g.add_argument(
        "--dask", metavar="ADDRESS", help="run on Dask distributed: 'local' (a LocalCluster) or tcp://scheduler:8786"
    )
    g.add_argument("--fail-on-error", action="store_true", help="exit 2 when some model could not be inspected")
    g.add_argument("--no-cache", action="store_true", help="rescan every model, ignoring earlier results in DIR")


def wants_fleet(args: argparse.Namespace) -> bool:
    """True when the arguments ask for a batch rather than today's one-model scan."""
    if args.model is None and not args.manifest:
        raise InspectorError("no model given", hint="Give a MODEL, a folder of models, or --manifest FILE")
    if args.more_models or args.manifest or args.out or args.dask or args.jobs:
        return True
    p = Path(args.model)
    if not p.is_dir():
        return False
    from inspector.fleet import is_one_model  # the batch code (processes, store) loads only for a folder

    return not is_one_model(p)


class FleetBar:
    """One line on stderr: models and bytes done, and the time left; redrawn at most 5 times a second."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.t0 = time.monotonic()
        self._last = 0.0
        self._shown = False

    def __call__(self, files: int, files_total: int, nbytes: int, bytes_total: int) -> None:
        now = time.monotonic()
        if now - self._last < 0.2 and files < files_total:
            return
        self._last = now
        frac = nbytes / bytes_total if bytes_total else files / max(1, files_total)
        eta = (now - self.t0) * (1 - frac) / frac if frac > 0 else 0.0
        text = (
            f"\r{files:,}/{files_total:,} models  {human_bytes(nbytes)}/{human_bytes(bytes_total)}  "
            f"{frac * 100:5.1f}%  ETA {int(eta) // 60}:{int(eta) % 60:02d}   "
        )
        self.stream.write(text)
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write("\r" + " " * 90 + "\r")
            self.stream.flush()


def _bar() -> Optional[FleetBar]:
    import os

    return FleetBar() if sys.stderr.isatty() and os.environ.get("TERM") != "dumb" else None


def run_fleet(args: argparse.Namespace) -> int:
    from inspector.cli.scan import options_from
    from inspector.fleet import (
        FleetOptions,
        discover,
        exit_status,
        format_summary,
        run_batch,
        summarize,
    )

    if args.jobs < 0:
        raise InspectorError(f"--jobs {args.jobs}: give a number of worker processes, or 0 for automatic")
    opts = options_from(args)
    out = Path(args.out or DEFAULT_OUT)
    paths = [p for p in (args.model, *args.more_models) if p]
    units = discover(paths, manifests=args.manifest, include=args.include, exclude=args.exclude)
    if not units:
        raise InspectorError("found no model files", hint="Check the paths, or widen --include")
    if args.json and args.json != "-":
        check_output(args.json, [u.path for u in units], option="--json")
    bar = _bar()
    try:
        run = run_batch(
            units,
            FleetOptions(out=out, scan=opts, jobs=args.jobs, dask=args.dask, use_cache=not args.no_cache),
            progress=bar,
        )
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        print(
            f"model-inspector: interrupted; the results written so far are kept in {out / 'results.jsonl'}: "
            "run the same command again to finish the batch",
            file=sys.stderr,
        )
        return 130
    finally:
        if bar is not None:
            bar.close()
    summary = summarize(run.docs)
    stream = sys.stdout
    if args.json == "-":  # the full documents, as results.jsonl holds them
        with open(out / "results.jsonl", encoding="utf-8") as f:
            shutil.copyfileobj(f, sys.stdout)
        stream = sys.stderr
    elif args.json:
        shutil.copyfile(out / "results.jsonl", args.json)
    extra = f"{run.scanned} scanned, {run.reused} reused, {run.jobs} {run.backend} workers, {run.seconds:.1f} s"
    if args.quiet:
        print(format_summary(summary, extra=extra).splitlines()[0], file=stream)
    else:
        print(format_summary(summary, extra=extra), file=stream)
        print(f"Results: {out / 'results.jsonl'}, {out / 'results.sarif'}, {out / 'index.html'}", file=stream)
    return exit_status(
        summary, fail_on_error=args.fail_on_error, allow_incomplete=getattr(args, "allow_incomplete", False)
    )


# ``model-inspector fleet-report DIR ID``: one model's report from a batch's results, without rescanning.


def add_parser(sub) -> None:
    p = sub.add_parser(
        COMMAND,
        help="write the report of one model of a batch (from its results, no rescan)",
        description="Render the HTML report of one model of a batch from DIR/results.jsonl into "
        "DIR/reports/ (the file index.html links to). ID is the model's id as the index shows it, its path, or "
        "a prefix of its SHA-256 (8+ hex digits). Exit status: 0 clean, 1 suspicious, 2 nothing written, 3 incomplete.",
    )
    p.add_argument("folder", metavar="DIR", help="the batch's results folder (scan --out)")
    p.add_argument("id", metavar="ID", help="the model: id, path, or SHA-256 prefix")
    p.add_argument("--output", "-o", metavar="REPORT.html", help="where to write it (default DIR/reports/…)")
    p.add_argument("--allow-incomplete", action="store_true", help="exit 0 instead of 3 for an incomplete verdict")
    p.set_defaults(func=run_report)


def find_result(folder: Path, ident: str) -> dict[str, Any]:
    from inspector.fleet import RESULTS, Journal

    if not (folder / RESULTS).is_file():
        raise InspectorError(f"holds no {RESULTS}", path=folder, hint="Give the folder a batch wrote (scan --out)")
    journal = Journal.open(folder)
    for match in (
        lambda d: d["fleet"].get("id") == ident,
        lambda d: d.get("model", {}).get("path") == ident,
        lambda d: len(ident) >= 8 and str(d.get("model", {}).get("sha256") or "").startswith(ident.lower()),
    ):
        found = [e for e in journal.entries if match(e.doc)]
        if found:
            return journal.full(found[-1])  # the latest line for it, with its tensors
    raise InspectorError(f"no model {ident!r} in the batch", path=folder, hint="Use an id that index.html shows")


def run_report(args: argparse.Namespace) -> int:
    from inspector.core.judge import exit_code
    from inspector.core.report import build_report, write_report
    from inspector.fleet import REPORTS, is_error, report_name

    folder = Path(args.folder)
    doc = find_result(folder, args.id)
    if is_error(doc):
        raise InspectorError(f"the model could not be inspected: {doc['error']['message']}", path=args.id)
    out = Path(args.output) if args.output else folder / REPORTS / report_name(doc["fleet"]["id"])
    if not args.output:
        out.parent.mkdir(exist_ok=True)
    model_path = doc.get("model", {}).get("path")
    check_output(str(out), [model_path] if model_path else [])
    scan_doc = {k: v for k, v in doc.items() if k != "fleet"}
    model = model_path if model_path and Path(model_path).exists() else None
    try:
        data = build_report(scan_doc, model=model)
    except InspectorError:
        if model is None:
            raise
        data = build_report(scan_doc, model=None)  # the file changed since the batch: no weight tiles
    path = write_report(data, out)
    print(f"{data.verdict} {data.score:.2f}  HTML report {path} ({human_bytes(path.stat().st_size)})")
    return exit_code(data.verdict, args.allow_incomplete)
