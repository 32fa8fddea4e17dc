"""``model-inspector kernels [--force]``: compile the scan kernels for this machine now.

The scan's compiled kernels are built once per machine into the user's cache folder; ``scripts/install.sh`` runs
this command so that no scan waits for the build. Where they cannot be built (no C compiler, another system), the
scan uses numba's JIT, and numpy without numba: results are the same, only the start-up differs.
"""

from __future__ import annotations

import argparse

COMMAND = "kernels"
ORDER = 95


def add_parser(sub) -> None:
    p = sub.add_parser(
        COMMAND,
        help="compile the scan kernels for this machine now (the install script does)",
        description="Compile the scan kernels for this machine into the user's cache folder "
        "(MODEL_INSPECTOR_CACHE_DIR, else ~/.cache/model-inspector), so that scans start without numba.",
    )
    p.add_argument("--force", action="store_true", help="compile again, also after a failed build")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from inspector.core.measure import prepare_kernels

    ok, message = prepare_kernels(force=args.force)
    print(message)
    return 0 if ok else 1
