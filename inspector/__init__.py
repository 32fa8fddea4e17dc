"""Model Inspector: find training data hidden in a model's weights, scrub it, and prove accuracy holds.

The library surface (the CLI and the GUI are thin layers over it)::

    import inspector
    model = inspector.open_model("model.safetensors")   # headers only, no code from the file runs
    result = inspector.scan(model)                       # streaming per-tensor statistics and findings
    inspector.scrub_model(model, "clean.safetensors", bits=16, seed=1)   # verified, atomic export
    inspector.evaluate(model, "eval.npz", arch="digits-mlp")             # accuracy on cuda / mps / cpu
"""

from __future__ import annotations

__version__ = "0.1.0"

from inspector.core.errors import InspectorError
from inspector.core.evaluate.accuracy import EvalResult, evaluate
from inspector.core.evaluate.safe_bits import find_safe_bits
from inspector.core.formats import ModelFile, TensorRef, iter_chunks, open_model, read_tensor
from inspector.core.measure.scan import ScanOptions, ScanResult, TensorScan, TensorStats, scan
from inspector.core.progress import Cancelled, CancelToken
from inspector.core.scrub.export import ScrubResult, scrub_model

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
