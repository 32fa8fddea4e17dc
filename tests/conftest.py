"""Fixtures shared by every test tier: small model files generated into tmp_path."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest


def raw_safetensors(path: Path, header: dict, data: bytes) -> Path:
    """Write a safetensors file from a hand-made header (for malformed-file tests)."""
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)
    return path


@pytest.fixture
def make_model(tmp_path):
    """``make_model(tensors: dict[str, np.ndarray], name=..., metadata=None) -> Path`` via safetensors.numpy."""
    from safetensors.numpy import save_file

    def make(tensors: dict, name: str = "model.safetensors", metadata: dict | None = None) -> Path:
        p = tmp_path / name
        save_file(tensors, str(p), metadata=metadata)
        return p

    return make


@pytest.fixture
def small_model(make_model):
    rng = np.random.default_rng(0)
    return make_model(
        {
            "fc1.weight": rng.normal(0, 0.05, (128, 64)).astype(np.float32),
            "fc1.bias": rng.normal(0, 0.01, 128).astype(np.float32),
            "fc2.weight": rng.normal(0, 0.1, (10, 128)).astype(np.float16),
            "fc2.bias": np.zeros(10, np.float32),
            "steps": np.arange(7, dtype=np.int64),
        }
    )
