"""``model-inspector report``: the scan as one self-contained HTML or PDF file for reviewers.

Exit status mirrors ``scan``: 0 the report was written and the verdict is clean, 1 written and suspicious,
3 written and incomplete (0 with ``--allow-incomplete``), 2 nothing written (unreadable model, bad options,
unwritable output, a sign-off that cannot stand).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

from inspector.cli._common import check_output, human_bytes, write_json
from inspector.cli.scan import add_scan_options, check_arch, input_files, options_from, scan_with_bar
from inspector.core.errors import InspectorError

COMMAND = "report"
ORDER = 15

#: Largest scan/scrub/eval JSON document we read (a scan of a huge model with every histogram is a few MB).
_MAX_JSON_BYTES = 1 << 30


def add_parser(sub) -> None:
    p = sub.add_parser(
        COMMAND,
        help="write a report for reviewers (one self-contained .html or .pdf)",
        description="Scan MODEL exactly as `scan` does (same options) and write the result as one file a "
        "reviewer can read without the tool: verdict, ranked findings with figures, per-tensor appendix, "
        "limits. MODEL may also be a scan JSON document (`scan --json`): it is rendered without rescanning. "
        "Exit status: 0 clean, 1 suspicious, 3 incomplete (the report is written in these cases), 2 nothing "
        "written. --reviewer/--decision/--notes/--ack fill the sign-off block.",
    )
    add_scan_options(p)
    p.add_argument(
        "--output", "-o", required=True, metavar="REPORT", help="REPORT.html or REPORT.pdf (chosen by the suffix)"
    )
    p.add_argument("--json", metavar="OUT", help="also write the scan/1 JSON document the report renders")
    p.add_argument("--scrub", metavar="SCRUB.json", help="a `scrub --json` result: adds the scrub section")
    p.add_argument("--eval", metavar="EVAL.json", help="an `eval --json` result: adds the accuracy section")
    g = p.add_argument_group("reviewer sign-off (left blank to sign on paper when not given)")
    g.add_argument("--reviewer", metavar="NAME", help="the reviewer signing the report")
    g.add_argument("--decision", choices=["approve", "reject", "needs-work"], help="the reviewer's decision")
    g.add_argument("--notes", metavar="TEXT", help="the reviewer's notes")
    g.add_argument(
        "--ack",
        type=int,
        nargs="+",
        action="extend",
        default=[],
        metavar="N",
        help="finding numbers the reviewer read and acknowledges (approve needs every suspicious and warning one)",
    )
    p.set_defaults(func=run)


def _load_json(path: str, what: str, schema_prefix: Optional[str] = None) -> dict[str, Any]:
    p = Path(path)
    if p.exists() and not p.is_file():  # a folder, or a device or pipe that would never end
        raise InspectorError("is not a regular file", path=path, hint=f"Give the {what} JSON")
    if p.is_file() and p.stat().st_size > _MAX_JSON_BYTES:
        raise InspectorError(
            f"is {p.stat().st_size:,} bytes, too large for a {what} document", path=path, hint=f"Give the {what} JSON"
        )
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InspectorError("no such file", path=path, hint="Check the path") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InspectorError(f"not a readable JSON file ({e})", path=path, hint=f"Give the {what} JSON") from None
    except RecursionError:
        raise InspectorError("nests JSON too deeply", path=path, hint=f"Give the {what} JSON") from None
    if not isinstance(doc, dict) or (schema_prefix and not str(doc.get("schema", "")).startswith(schema_prefix)):
        raise InspectorError(
            f"not a {what} document", path=path, hint=f"Write one with `model-inspector {what} --json`"
        )
    return doc


def _scan_json_of(path: str) -> Optional[dict[str, Any]]:
    """The scan document when MODEL is a `scan --json` file, else ``None`` (a model to scan)."""
    p = Path(path)
    if p.suffix.lower() != ".json" or p.name.endswith(".index.json") or not p.is_file():
        return None
    doc = _load_json(path, "scan")
    from inspector.core.pipeline import SCHEMA

    if doc.get("schema") != SCHEMA:
        return None
    from inspector.core.formats import check_scan_document

    check_scan_document(doc, path)  # one line naming the first wrong field, not a traceback later
    return doc


def _references(paths: tuple[str, ...], result: Any) -> list[Any]:
    """The reference models scanned on this model's bin edges (``baselines.load_reference``, as the app does),
    for the histogram overlays."""
    if not paths:
        return []
    from inspector.core.judge import load_reference

    return [load_reference(p, result.tensors) for p in paths]


def _signoff(args: argparse.Namespace) -> Any:
    from inspector.core.report import SignOff

    if args.decision and not args.reviewer:
        raise InspectorError("--decision needs --reviewer NAME (who decided)")
    return SignOff(
        reviewer=(args.reviewer or "").strip(),
        decision=args.decision or "",
        notes=(args.notes or "").strip(),
        acknowledged=tuple(sorted(set(args.ack))),
    )


def run(args: argparse.Namespace) -> int:
    from inspector.core.report import build_report, report_format, write_report

    t0 = time.perf_counter()
    fmt = report_format(args.output)  # a bad suffix fails before any work
    out = Path(args.output)
    opts = options_from(args)
    inputs = [*input_files(None, args), *(x for x in (args.scrub, args.eval) if x)]
    check_output(args.output, inputs)
    check_output(args.json, [*inputs, args.output], option="--json")
    scrub = _load_json(args.scrub, "scrub", "model-inspector/scrub/") if args.scrub else None
    evaluation = _load_json(args.eval, "eval", "model-inspector/eval/") if args.eval else None

    doc = _scan_json_of(args.model)
    model: Any = None
    if doc is not None:
        scan_source: Any = doc
        model_path = (doc.get("model") or {}).get("path")
        model = model_path if model_path and Path(model_path).exists() else None
    else:
        from inspector.core.formats import open_model

        model = open_model(args.model)
        check_output(args.output, model.files)
        check_output(args.json, model.files, option="--json")
        check_arch(args, model)
        scan_source = scan_with_bar(model, opts)
    references = _references(opts.baselines, scan_source) if doc is None else []
    try:
        data = build_report(scan_source, model=model, scrub=scrub, evaluation=evaluation, baseline_scans=references)
    except InspectorError:
        if model is None or doc is None:
            raise
        # the file named in the scan JSON changed since: render without the weight tiles
        data = build_report(scan_source, model=None, scrub=scrub, evaluation=evaluation)
    signoff = _signoff(args)
    if not signoff.empty:
        data = data.with_signoff(signoff)  # an --ack of a finding that does not exist fails before writing
    if args.json:
        write_json(data.scan_json, args.json)
    render_pdf: Optional[Callable[[Any], bytes]] = None
    if fmt == "pdf":
        from inspector.qt.report_pdf import render_pdf
    path = write_report(data, out, render_pdf=render_pdf)
    secs = time.perf_counter() - t0
    stream = sys.stderr if args.json == "-" else sys.stdout
    print(
        f"{data.verdict} {data.score:.2f}  {fmt.upper()} report {path} ({human_bytes(path.stat().st_size)}, "
        f"{len(data.figures)} figures, {secs:.2f} s)",
        file=stream,
    )
    if not signoff.empty:
        s = data.signoff
        print(
            f"signed off by {s.reviewer or '?'}: {s.decision_words or 'no decision'}; acknowledged findings "
            f"{', '.join(f'#{n}' for n in s.acknowledged) or 'none'}",
            file=stream,
        )
    from inspector.core.judge import exit_code

    return exit_code(data.verdict, getattr(args, "allow_incomplete", False))
