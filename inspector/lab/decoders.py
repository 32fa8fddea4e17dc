"""The attackers' decoders: get the secret back out of a model file (read by our safe reader).

They are product code: the lab proves each attack worked with them, and scrubbing is proven by decoding the
scrubbed model and showing the payload is gone (bit error rate ≈ 0.5 on the scrubbed bits). Each takes what a
real attacker knows because they wrote the training code (payload length, bit count, PRNG key, image count):
the lab records those in the file's metadata for tests, and the detectors must never read them.

All decoders except :func:`decode_capacity` are numpy only; that one queries the model, so it needs torch.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from inspector.core.formats import ModelFile, TensorRef, iter_chunks
from inspector.core.measure import source_values, theta_tensors
from inspector.lab import codec


def float_tensors(model: ModelFile, tensor_names: Optional[Sequence[str]] = None) -> list[TensorRef]:
    """The named tensors in the given order, or every float tensor in storage order."""
    if tensor_names is not None:
        return [model[n] for n in tensor_names]
    return [t for t in model.tensors if t.dtype.is_float]


def theta_vector(model: ModelFile, tensor_names: Optional[Sequence[str]] = None) -> np.ndarray:
    """θ as one float64 vector (see :func:`inspector.core.measure.weights_image.theta_tensors`, the one definition of
    θ that the report and the GUI read back too)."""
    return source_values(theta_tensors(model, tensor_names), "values")


# --------------------------------------------------------------------------------------------- LSB


def decode_lsb(
    model: ModelFile,
    bits: int,
    n_bytes: int,
    tensor_names: Optional[Sequence[str]] = None,
    *,
    offset: int = 0,
) -> bytes:
    """The first ``n_bytes`` of the bit string held in the low ``bits`` bits of the float tensors (default:
    all, in storage order) from element ``offset`` on: element ``offset + k`` contributes the k-th
    ``bits``-bit word, most significant bit first."""
    if bits < 1:
        raise ValueError("bits must be at least 1")
    need = -(-n_bytes * 8 // bits)
    words: list[np.ndarray] = []
    got = 0
    skip = offset
    for ref in float_tensors(model, tensor_names):
        if bits > ref.dtype.mantissa_bits:
            raise ValueError(f"{bits} bits exceed the {ref.dtype.mantissa_bits}-bit mantissa of {ref.name}")
        mask = (1 << bits) - 1
        for chunk in iter_chunks(ref):
            if got >= need:
                break
            raw = chunk.view(ref.dtype.uint)
            if skip:
                cut = min(skip, raw.size)
                raw, skip = raw[cut:], skip - cut
            raw = raw[: need - got]
            words.append((raw & raw.dtype.type(mask)).astype(np.uint64))
            got += raw.size
        if got >= need:
            break
    if got < need:
        raise ValueError(f"the tensors hold {got * bits // 8} bytes at {bits} bits, fewer than {n_bytes}")
    w = np.concatenate(words) if words else np.zeros(0, dtype=np.uint64)
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint64)
    stream = ((w[:, None] >> shifts) & np.uint64(1)).astype(np.uint8).reshape(-1)
    return np.packbits(stream[: n_bytes * 8]).tobytes()


def bit_error_rate(a: bytes, b: bytes) -> float:
    """Fraction of differing bits between two byte strings of equal length (0 = identical, ≈0.5 = unrelated)."""
    if len(a) != len(b):
        raise ValueError(f"lengths differ ({len(a)} and {len(b)} bytes)")
    if not a:
        return 0.0
    x = np.frombuffer(a, dtype=np.uint8) ^ np.frombuffer(b, dtype=np.uint8)
    return float(np.unpackbits(x).sum()) / (8 * len(a))


# --------------------------------------------------------------------------------------------- COR


def decode_correlated(
    model: ModelFile,
    n_images: int,
    *,
    pixels: int = codec.PIXELS,
    tensor_names: Optional[Sequence[str]] = None,
    invert: Optional[bool] = None,
) -> np.ndarray:
    """Images from correlated value encoding: consecutive blocks of ``pixels`` values of θ, each min–max
    rescaled to [0, 1]; (n_images, pixels) float32.

    The attack maximises |r|, so θ may hold the inverted image. ``invert=None`` decides from θ's skewness:
    digits are mostly dark background with few bright strokes (right-skewed), so θ skewed left was inverted.
    """
    theta = theta_vector(model, tensor_names)[: n_images * pixels]
    if theta.size < n_images * pixels:
        raise ValueError(f"θ has {theta.size} values, fewer than {n_images} images of {pixels} pixels")
    if invert is None:
        c = theta - theta.mean()
        invert = bool((c**3).mean() < 0)
    blocks = theta.reshape(n_images, pixels)
    lo = blocks.min(axis=1, keepdims=True)
    span = blocks.max(axis=1, keepdims=True) - lo
    img = (blocks - lo) / np.where(span > 0, span, 1.0)
    return (1.0 - img if invert else img).astype(np.float32)


# --------------------------------------------------------------------------------------------- SGN


def decode_sign(model: ModelFile, n_bytes: int, tensor_names: Optional[Sequence[str]] = None) -> bytes:
    """The secret of sign encoding: bit i = 1 iff θᵢ > 0, packed MSB first; the first ``n_bytes`` bytes."""
    theta = theta_vector(model, tensor_names)
    if theta.size < n_bytes * 8:
        raise ValueError(f"θ has {theta.size} values, fewer than the {n_bytes * 8} bits asked for")
    return np.packbits((theta[: n_bytes * 8] > 0).astype(np.uint8)).tobytes()


# --------------------------------------------------------------------------------------------- CAP


def capacity_queries(key: int, n_images: int, pixels: int = codec.PIXELS, dim: int = codec.PIXELS) -> np.ndarray:
    """The synthetic inputs the attacker regenerates from ``key`` to read ``n_images`` back."""
    return codec.synthetic_inputs(key, n_images * pixels * 2, dim)


def decode_capacity_labels(probabilities: np.ndarray, n_images: int, pixels: int = codec.PIXELS) -> np.ndarray:
    """Images from the model's answers to the capacity queries: each label is the most likely of the 4
    classes the encoding uses (the attacker knows the alphabet); two labels make a 4-bit pixel."""
    labels = np.asarray(probabilities)[:, : 1 << codec.CAP_LABEL_BITS].argmax(axis=1)
    return codec.capacity_images(labels, pixels)[:n_images]


def decode_capacity(
    model: ModelFile,
    key: int,
    n_images: int,
    *,
    arch: Optional[str] = None,
    device: str = "cpu",
    pixels: int = codec.PIXELS,
) -> np.ndarray:
    """Black-box decoding of capacity abuse: query the model (built by its recipe, ``arch`` or the name in
    its metadata) with the inputs regenerated from ``key``; (n_images, pixels) float32 in [0, 1]."""
    from inspector.core.evaluate import build_module, predict_proba, resolve

    recipe = resolve(arch, model)
    dim = int(np.prod(recipe.input_shape)) if recipe.input_shape else pixels
    module = build_module(recipe, model)
    probs = predict_proba(module, capacity_queries(key, n_images, pixels, dim), device=device)
    return decode_capacity_labels(probs, n_images, pixels)
