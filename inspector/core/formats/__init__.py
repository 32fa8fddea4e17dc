"""Safe readers and writers of model files. Nothing here executes code from a file."""

from inspector.core.formats.base import (
    CHUNK_BYTES,
    ModelFile,
    TensorRef,
    iter_chunks,
    read_range,
    read_tensor,
    sha256_files,
)
from inspector.core.formats.model_file import open_model

__all__ = [
    "CHUNK_BYTES",
    "ModelFile",
    "TensorRef",
    "iter_chunks",
    "open_model",
    "read_range",
    "read_tensor",
    "sha256_files",
]
