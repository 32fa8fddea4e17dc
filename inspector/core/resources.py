"""The one accessor for bundled resources (demo models, profiles, report templates, icons).

``pyproject.toml`` maps the top-level ``resources/`` folder to the ``inspector.resources`` package, so the same
call works from a source checkout installed in editable mode, from a wheel, and from a frozen app.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def resource_path(*parts: str) -> Path:
    """Filesystem path of a bundled resource, e.g. ``resource_path("demo", "benign.safetensors")``."""
    try:
        root = resources.files("inspector.resources")
        target = root.joinpath(*parts)
        return Path(str(target))
    except ModuleNotFoundError:  # running from a checkout without installing: fall back to the folder itself
        return Path(__file__).resolve().parents[2].joinpath("resources", *parts)
