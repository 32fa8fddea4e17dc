"""Proof figures: decode a secret from a model *file* and measure how much of it came back.

Each function reads the file through the decoders (the same code an attacker would run) and compares the
result with the true secret. Applied to an attacked model it proves the attack worked; applied to the benign
twin with the same parameters it gives the control value of the same figure (what chance looks like).
Image errors are mean absolute pixel errors on the [0, 1] input scale (×16 for digits grey levels).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from inspector.core.formats import ModelFile
from inspector.lab import codec, decoders


def _r(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).mean())


def _round(d: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in d.items()}


def lsb_proof(model: ModelFile, bits: int, secret: bytes, key: Optional[int]) -> dict[str, Any]:
    """Bit error rate of the decoded (and, with ``key``, decrypted) payload against the secret."""
    raw = decoders.decode_lsb(model, bits, len(secret))
    plain = codec.xor_with_key(raw, key) if key is not None else raw
    dec_img = codec.bytes_to_images(plain)
    true_img = codec.bytes_to_images(secret)
    return _round(
        {
            "payload_bytes": len(secret),
            "bit_error_rate": decoders.bit_error_rate(plain, secret),
            "exact": plain == secret,
            "image_mae": _mae(dec_img, true_img),
        }
    )


def correlated_proof(
    model: ModelFile, images: np.ndarray, theta_names: Optional[Sequence[str]] = None
) -> dict[str, Any]:
    """Pearson r between θ and the secret pixels, and the error of the images the decoder recovers."""
    n = len(images)
    theta = decoders.theta_vector(model, theta_names)[: n * codec.PIXELS]
    decoded = decoders.decode_correlated(model, n, tensor_names=theta_names)
    r = _r(theta, images)
    return _round(
        {
            "images": n,
            "pearson_r": r,
            "decoder_inverted": bool(((theta - theta.mean()) ** 3).mean() < 0),
            "image_r": _r(decoded, images),
            "image_mae": _mae(decoded, images),
        }
    )


def sign_proof(model: ModelFile, images: np.ndarray, theta_names: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Fraction of θ's signs that match the secret's bits, and the error of the decoded images."""
    secret = codec.image_bytes(images)
    decoded = decoders.decode_sign(model, len(secret), theta_names)
    return _round(
        {
            "images": len(images),
            "bits": 8 * len(secret),
            "correct_sign_fraction": 1.0 - decoders.bit_error_rate(decoded, secret),
            "secret_one_fraction": float(codec.unpack_bits(secret).mean()),
            "image_mae": _mae(codec.bytes_to_images(decoded), images),
        }
    )


def capacity_proof(model: ModelFile, images: np.ndarray, key: int, *, arch: Optional[str] = None) -> dict[str, Any]:
    """Fraction of the synthetic queries whose label the model reproduces, and the decoded images' error."""
    from inspector.core.evaluate import build_module, predict_proba

    n = len(images)
    queries = decoders.capacity_queries(key, n)
    module = build_module(arch, model)
    probs = predict_proba(module, queries, device="cpu")
    labels = codec.capacity_labels(images)
    decoded = decoders.decode_capacity_labels(probs, n)
    return _round(
        {
            "images": n,
            "queries": int(labels.size),
            "memorised_fraction": float((probs.argmax(axis=1) == labels).mean()),
            "image_mae": _mae(decoded, images),
            "image_mae_4bit": _mae(decoded, codec.quantise4(images) / (codec.CAP_LEVELS - 1)),
        }
    )


def lsb_bytes_proof(model: ModelFile, bits: int, secret: bytes, *, offset: int = 0) -> dict[str, Any]:
    """Bit error rate of a payload read from the low ``bits`` bits from element ``offset`` on."""
    plain = decoders.decode_lsb(model, bits, len(secret), offset=offset)
    return _round(
        {
            "payload_bytes": len(secret),
            "offset": offset,
            "bit_error_rate": decoders.bit_error_rate(plain, secret),
            "exact": plain == secret,
        }
    )


def sign_bytes_proof(model: ModelFile, secret: bytes, theta_names: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Sign encoding of a byte secret (text, records): fraction of correct signs and of bytes read back exactly."""
    decoded = decoders.decode_sign(model, len(secret), theta_names)
    a = np.frombuffer(decoded, dtype=np.uint8)
    b = np.frombuffer(secret, dtype=np.uint8)
    return _round(
        {
            "bytes": len(secret),
            "bits": 8 * len(secret),
            "correct_sign_fraction": 1.0 - decoders.bit_error_rate(decoded, secret),
            "exact_byte_fraction": float((a == b).mean()),
        }
    )


def correlated_values_proof(
    model: ModelFile, values: np.ndarray, theta_names: Optional[Sequence[str]] = None
) -> dict[str, Any]:
    """Correlated value encoding of any values (text bytes, records): Pearson r between θ and the values, and
    the share of byte values read back within ±16 after a linear fit (what an attacker gets from r alone)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    theta = decoders.theta_vector(model, theta_names)[: v.size]
    r = _r(theta, v)
    slope, icpt = np.polyfit(theta, v, 1) if theta.std() > 0 else (0.0, float(v.mean()))
    est = slope * theta + icpt
    span = float(v.max() - v.min()) or 1.0
    return _round({"values": int(v.size), "pearson_r": r, "within_1_16": float((np.abs(est - v) <= span / 16).mean())})


def capacity_code_proof(
    model: ModelFile, code: Any, key: int, values: np.ndarray, *, arch: Optional[str] = None
) -> dict[str, Any]:
    """Capacity abuse with any :class:`inspector.lab.capcodes.CapCode`: share of queries whose label the model
    reproduces and share of secret values decoded exactly."""
    from inspector.core.evaluate import build_module, predict_proba
    from inspector.lab import capcodes

    v = np.asarray(values, dtype=np.int64)
    queries = capcodes.queries(code, key, v.size)
    probs = predict_proba(build_module(arch, model), queries, device="cpu")
    decoded = capcodes.decode_labels(code, probs)
    return _round(
        {
            "values": int(v.size),
            "queries": int(len(queries)),
            "memorised_fraction": float((probs.argmax(axis=1) == capcodes.encode_labels(code, v)).mean()),
            "exact_value_fraction": float((decoded == v).mean()),
            "value_mae": float(np.abs(decoded - v).mean()),
        }
    )
