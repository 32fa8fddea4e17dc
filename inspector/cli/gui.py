"""``model-inspector gui [MODEL]``: the desktop app (Qt is imported only when this command runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from inspector.core.errors import InspectorError

COMMAND = "gui"
ORDER = 80


def add_parser(sub) -> None:
    p = sub.add_parser(
        COMMAND,
        help="the desktop app",
        description="Open the desktop app, optionally on MODEL. Drag and drop a file onto the window to open it.",
    )
    p.add_argument("model", nargs="?", metavar="MODEL", help=".safetensors, sharded index/folder or PyTorch file")
    p.add_argument("--baseline", metavar="REF", help="a trusted reference model to compare with")
    p.add_argument("--screenshot", metavar="PNG", help="render the window offscreen once scanned, save, exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for label, value in (("MODEL", args.model), ("--baseline", args.baseline)):
        if value and not Path(value).exists():
            raise InspectorError(f"{label} {value}: no such file or folder", hint="Check the path")
    from inspector.qt.app import run as run_app

    return run_app([args.model] if args.model else [], baseline=args.baseline, screenshot=args.screenshot)
