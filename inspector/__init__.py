"""Model Inspector: find training data hidden in a model's weights, scrub it, and prove accuracy holds.

The library surface (the CLI and the GUI are thin layers over it)::

    import inspector
    model = inspector.open_model("model.safetensors")   # headers only, no code from the file runs
    result = inspector.scan(model)                       # streaming per-tensor statistics and findings
    inspector.scrub_model(model, "clean.safetensors", bits=16, seed=1)   # verified, atomic export
    inspector.evaluate(model, "eval.npz", arch="digits-mlp")             # accuracy on cuda / mps / cpu

The names are loaded lazily (PEP 562): ``import inspector`` or ``import inspector.core.errors`` loads only what
it needs, and ``inspector.scan`` imports the scanner on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from inspector._version import __version__

#: Public name → module that defines it (imported on first attribute access).
_EXPORTS: dict[str, str] = {
    "InspectorError": "inspector.core.errors",
    "Cancelled": "inspector.core.progress",
    "CancelToken": "inspector.core.progress",
    "ModelFile": "inspector.core.formats",
    "TensorRef": "inspector.core.formats",
    "iter_chunks": "inspector.core.formats",
    "open_model": "inspector.core.formats",
    "read_tensor": "inspector.core.formats",
    "ScanOptions": "inspector.core.measure",
    "TensorScan": "inspector.core.measure",
    "TensorStats": "inspector.core.measure",
    "ScanResult": "inspector.core.pipeline",
    "scan": "inspector.core.pipeline",
    "ScrubResult": "inspector.core.scrub",
    "scrub_model": "inspector.core.scrub",
    "EvalResult": "inspector.core.evaluate",
    "evaluate": "inspector.core.evaluate",
    "find_safe_bits": "inspector.core.scrub",
}

__all__ = [
    "CancelToken",
    "Cancelled",
    "EvalResult",
    "InspectorError",
    "ModelFile",
    "ScanOptions",
    "ScanResult",
    "ScrubResult",
    "TensorRef",
    "TensorScan",
    "TensorStats",
    "__version__",
    "evaluate",
    "find_safe_bits",
    "iter_chunks",
    "open_model",
    "read_tensor",
    "scan",
    "scrub_model",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'inspector' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # what type checkers and IDEs see; nothing here runs
    from inspector.core.errors import InspectorError
    from inspector.core.evaluate import EvalResult, evaluate
    from inspector.core.formats import ModelFile, TensorRef, iter_chunks, open_model, read_tensor
    from inspector.core.measure import ScanOptions, TensorScan, TensorStats
    from inspector.core.pipeline import ScanResult, scan
    from inspector.core.progress import Cancelled, CancelToken
    from inspector.core.scrub import ScrubResult, find_safe_bits, scrub_model
