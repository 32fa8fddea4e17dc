"""Entry point of the frozen app: the full command line; with no arguments, the desktop app."""

import multiprocessing
import sys

from inspector.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main(sys.argv[1:] or ["gui"]))
