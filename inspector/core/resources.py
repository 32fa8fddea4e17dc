"""The one accessor for bundled resources (demo models, profiles, report templates, icons).

``setup.py`` ships the top-level ``resources/`` folder as the ``inspector.resources`` package, so the same call
works from a source checkout installed in editable mode and from a wheel; a PyInstaller bundle carries the
folder as ``resources/`` beside the frozen modules.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path


def resource_path(*parts: str) -> Path:
    """Filesystem path of a bundled resource, e.g. ``resource_path("demo", "benign.safetensors")``."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and frozen_root:
        return Path(frozen_root, "resources", *parts)
    try:
        return Path(str(resources.files("inspector.resources").joinpath(*parts)))
    except ModuleNotFoundError:  # a checkout on sys.path that was never installed
        return Path(__file__).resolve().parents[2].joinpath("resources", *parts)
