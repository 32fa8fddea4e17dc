"""The ``model-inspector`` command line: a thin layer over :mod:`inspector.core`.

Each sub-command lives in its own module of this package and exposes ``COMMAND`` (its name), ``ORDER`` (its
place in ``--help``) and ``add_parser(subparsers)``, which registers its arguments and sets ``func``. ``func``
returns the exit code. Expected problems (:class:`~inspector.core.errors.InspectorError`) print one line on
stderr and exit 2, without a traceback.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import pkgutil
import sys
from typing import NoReturn, Optional, Sequence

from inspector import __version__
from inspector.core import prehash
from inspector.core.errors import InspectorError
from inspector.core.progress import Cancelled


def _commands() -> list:
    mods = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "add_parser"):
            mods.append(mod)
    return sorted(mods, key=lambda m: (getattr(m, "ORDER", 100), m.COMMAND))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # usage errors: exit 2 with one line, as for bad input
        self.print_usage(sys.stderr)
        self.exit(2, f"model-inspector: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="model-inspector",
        description="Inspect a trained model for training data hidden in its weights (Song et al., CCS 2017), "
        "scrub low mantissa bits, check accuracy, export sanitized weights.",
    )
    parser.add_argument("--version", action="version", version=f"model-inspector {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for mod in _commands():
        mod.add_parser(sub)
    return parser


def _hash_early(argv: Sequence[str]) -> None:
    """``scan MODEL ...`` with MODEL a regular file: start its SHA-256 now, before the parser imports the
    sub-commands (numpy, the readers, the judge) and the scan loads its kernels, so that the digest is computed on an
    idle core meanwhile. The scan takes it if it opens that very file; otherwise it is stopped on return."""
    if len(argv) >= 2 and argv[0] == "scan" and not argv[1].startswith("-"):
        prehash.start([argv[1]])


def main(argv: Optional[Sequence[str]] = None) -> int:
    _hash_early(sys.argv[1:] if argv is None else list(argv))  # first: before anything else is imported
    try:
        return _main(argv)
    finally:
        prehash.cancel_unclaimed()


def _main(argv: Optional[Sequence[str]]) -> int:
    from inspector.cli._common import guard_output, safe_text

    guard_output()  # `| head -1` ends quietly; no terminal escape from a file reaches the screen
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except InspectorError as e:
        print(f"model-inspector: {safe_text(e, 2000)}", file=sys.stderr)
        return 2
    except (Cancelled, KeyboardInterrupt):
        print("model-inspector: interrupted; nothing was written", file=sys.stderr)
        return 130
    except MemoryError:
        print("model-inspector: out of memory; close other programs or inspect fewer tensors", file=sys.stderr)
        return 2
    finally:
        if argv is None:  # the command line's own process, which ends now
            # every object into the collector's permanent generation: interpreter teardown then skips walking
            # the hundreds of thousands of objects numpy (and numba, where the JIT ran) loaded (0.2-0.25 s with numba)
            gc.freeze()


def gui_main() -> int:
    """Entry point of the ``model-inspector-gui`` launcher (no console window on Windows)."""
    return main(["gui", *sys.argv[1:]])
