"""Benign-but-odd post-processing of a trained model's weights: things real pipelines do that a detector must
not mistake for an attack. Each takes and returns ``{name: array}`` (numpy, float32 in)."""

from __future__ import annotations

import numpy as np


def bf16_rounded(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Round every float32 value to the nearest bfloat16 (ties to even) and store it as float32 again:
    the low 16 bits of every value become zero, as after a bf16 training run or a bf16 round trip."""
    out = {}
    for k, v in arrays.items():
        u = np.ascontiguousarray(v, dtype=np.float32).view(np.uint32).astype(np.uint64)
        r = ((u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000).astype(np.uint32)
        out[k] = r.view(np.float32).reshape(v.shape)
    return out


def fp16_storage(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Store every tensor as float16."""
    return {k: v.astype(np.float16) for k, v in arrays.items()}


def magnitude_pruned(arrays: dict[str, np.ndarray], fraction: float = 0.3) -> dict[str, np.ndarray]:
    """Zero the ``fraction`` of smallest-magnitude entries of each weight matrix/kernel (biases kept)."""
    out = {}
    for k, v in arrays.items():
        w = v.copy()
        if w.ndim >= 2:
            flat = w.reshape(-1)
            n = int(round(fraction * flat.size))
            if n:
                flat[np.argsort(np.abs(flat), kind="stable")[:n]] = 0.0
        out[k] = w
    return out


def int8_dequantised(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Quantise each weight matrix/kernel to int8 (symmetric, one scale per tensor, max |w| ↦ 127) and back to
    float32; biases stay float32, as in common post-training quantisation."""
    out = {}
    for k, v in arrays.items():
        if v.ndim >= 2:
            scale = np.float32(np.abs(v).max() / 127.0) if v.size and np.abs(v).max() > 0 else np.float32(1.0)
            q = np.clip(np.rint(v / scale), -127, 127)
            out[k] = (q * scale).astype(np.float32)
        else:
            out[k] = v.copy()
    return out


def bf16_storage(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every tensor rounded to bfloat16 and stored as BF16 (raw words, see :data:`inspector.lab.files.BF16`)."""
    from inspector.lab.files import BF16

    return {
        k: (np.ascontiguousarray(v).view(np.uint32) >> 16).astype("<u2").view(BF16)
        for k, v in bf16_rounded(arrays).items()
    }


#: Post-processing variants by their variant name.
POST_VARIANTS = {
    "bf16-rounded": bf16_rounded,
    "fp16-storage": fp16_storage,
    "bf16-storage": bf16_storage,
    "pruned-30": magnitude_pruned,
    "int8-dequantised": int8_dequantised,
}
