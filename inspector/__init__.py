"""Model Inspector: find training data hidden in a model's weights, scrub it, and prove accuracy holds.

The library surface (the CLI and the GUI are thin layers over it)::

    import inspector
    model = inspector.open_model("model.safetensors")   # headers only, no code from the file runs
    result = inspector.scan(model)                       # streaming per-tensor statistics and findings
"""

from __future__ import annotations

__version__ = "0.1.0"

from .core.errors import InspectorError
from .core.formats import ModelFile, TensorRef, iter_chunks, open_model, read_tensor
from .core.progress import CancelToken, Cancelled
from .core.scan import ScanOptions, ScanResult, TensorScan, TensorStats, scan

__all__ = [
    "CancelToken",
    "Cancelled",
    "InspectorError",
    "ModelFile",
    "ScanOptions",
    "ScanResult",
    "TensorRef",
    "TensorScan",
    "TensorStats",
    "__version__",
    "iter_chunks",
    "open_model",
    "read_tensor",
    "scan",
]
