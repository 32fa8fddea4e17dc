"""The attack lab: reference implementations of the four attacks of Song et al. (CCS 2017), their decoders,
the digits data and the zoo builder. Training needs torch and scikit-learn (the ``lab`` extra); the decoders
of the white-box attacks need only numpy and read model files through the safe reader.
"""

from __future__ import annotations

from inspector.lab.codec import image_bytes, keystream, synthetic_inputs, xor_with_key
from inspector.lab.decoders import (
    bit_error_rate,
    decode_capacity,
    decode_correlated,
    decode_lsb,
    decode_sign,
    theta_tensors,
    theta_vector,
)

__all__ = [
    "bit_error_rate",
    "build_zoo",
    "decode_capacity",
    "decode_correlated",
    "decode_lsb",
    "decode_sign",
    "image_bytes",
    "keystream",
    "synthetic_inputs",
    "theta_tensors",
    "theta_vector",
    "xor_with_key",
]


def build_zoo(*args, **kwargs):  # type: ignore[no-untyped-def]
    """See :func:`inspector.lab.zoo.build_zoo` (imported lazily: it pulls in torch)."""
    from inspector.lab.zoo import build_zoo as _build

    return _build(*args, **kwargs)
