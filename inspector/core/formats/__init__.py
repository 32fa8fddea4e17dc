"""Safe readers and writers of model files. Nothing here executes code from a file."""

from inspector.core.formats.atomic import atomic_file, check_target, write_atomic
from inspector.core.formats.base import (
    CHUNK_BYTES,
    ModelFile,
    TensorRef,
    iter_chunks,
    read_range,
    read_tensor,
    sha256_files,
)
from inspector.core.formats.data import Dataset, load_dataset, save_dataset
from inspector.core.formats.documents import check_profile_document, check_scan_document
from inspector.core.formats.gguf import encoded_bytes
from inspector.core.formats.model_file import DEFAULT_SAFETENSORS, open_model
from inspector.core.formats.writer import input_named

__all__ = [
    "CHUNK_BYTES",
    "DEFAULT_SAFETENSORS",
    "Dataset",
    "ModelFile",
    "TensorRef",
    "check_profile_document",
    "check_scan_document",
    "check_target",
    "encoded_bytes",
    "input_named",
    "iter_chunks",
    "load_dataset",
    "open_model",
    "read_range",
    "read_tensor",
    "save_dataset",
    "sha256_files",
    "atomic_file",
    "write_atomic",
]
