"""Reference implementations of the four attacks of Song, Ristenpart and Shmatikov (CCS 2017).

- LSB encoding (white-box): after training, overwrite the low ``b`` bits of every float parameter, in the
  file's storage order, with the payload's bits (:func:`embed_lsb`).
- Correlated value encoding (white-box): loss −= λc·|Pearson(θ, s)|, s = the secret images' pixel values
  (:func:`correlation_penalty`).
- Sign encoding (white-box): loss += λs·mean(max(0, −θᵢ·sᵢ)), sᵢ = ±1 from the secret's bits
  (:func:`sign_penalty`).
- Capacity abuse (black-box): train on extra PRNG inputs whose labels encode the secret
  (:func:`capacity_set`).

θ is the concatenation of the weight matrices (biases excluded) in model order; see :func:`.train.theta_of`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from inspector.core.formats import Dataset
from inspector.lab import codec

# --------------------------------------------------------------------------------------------- LSB


def lsb_words(payload: bytes, bits: int) -> np.ndarray:
    """The payload's bit string (MSB first) cut into ``bits``-bit words, zero-padded; uint64."""
    stream = codec.unpack_bits(payload)
    pad = (-stream.size) % bits
    if pad:
        stream = np.concatenate([stream, np.zeros(pad, dtype=np.uint8)])
    weights = (np.uint64(1) << np.arange(bits - 1, -1, -1, dtype=np.uint64)).astype(np.uint64)
    return stream.reshape(-1, bits).astype(np.uint64) @ weights


def lsb_capacity(arrays: dict[str, np.ndarray], order: Sequence[str], bits: int) -> int:
    """Whole bytes the low ``bits`` bits of the named tensors can hold."""
    return sum(arrays[n].size for n in order) * bits // 8


def embed_lsb(
    arrays: dict[str, np.ndarray], order: Sequence[str], payload: bytes, bits: int, *, offset: int = 0
) -> dict[str, np.ndarray]:
    """Copies of ``arrays`` whose low ``bits`` bits carry ``payload``: word k of the payload goes into element
    ``offset + k`` of the named float tensors taken in ``order`` (flattened, row-major, concatenated); other
    elements keep their bits. bfloat16 tensors are held as :data:`inspector.lab.files.BF16` words. Raises
    ``ValueError`` when the payload does not fit."""
    from inspector.lab.files import BF16

    words = lsb_words(payload, bits)
    if len(payload) > lsb_capacity(arrays, order, bits) - offset * bits // 8:
        raise ValueError(f"payload of {len(payload)} bytes exceeds capacity {lsb_capacity(arrays, order, bits)}")
    out = {k: v.copy() for k, v in arrays.items()}
    pos = 0
    skip = offset
    for name in order:
        arr = out[name]
        if arr.dtype == BF16:
            mant, flat = 7, arr.reshape(-1).view("<u2")
        elif arr.dtype.kind == "f":
            mant = {2: 10, 4: 23, 8: 52}[arr.dtype.itemsize]
            flat = arr.reshape(-1).view(f"<u{arr.dtype.itemsize}")
        else:
            raise ValueError(f"{name} is not a float tensor")
        if bits > mant:
            raise ValueError(f"{bits} bits exceed the {mant}-bit mantissa of {name}")
        if skip >= flat.size:
            skip -= flat.size
            continue
        flat = flat[skip:]
        skip = 0
        take = min(flat.size, words.size - pos)
        if take <= 0:
            break
        mask = flat.dtype.type((1 << bits) - 1)
        flat[:take] = (flat[:take] & ~mask) | words[pos : pos + take].astype(flat.dtype)
        pos += take
    return out


# --------------------------------------------------------------------------------------------- COR / SGN


def correlation_secret(images: np.ndarray, length: int) -> tuple[np.ndarray, int]:
    """s for correlated value encoding: the pixels of as many whole images as fit in ``length`` parameters;
    returns ``(s, n_images)``."""
    n = min(len(images), length // codec.PIXELS)
    return np.asarray(images[:n], dtype=np.float32).reshape(-1), n


def correlation_penalty(secret: np.ndarray, lam: float) -> Any:
    """−λc·|Pearson(θ[:len(s)], s)| as a function of θ (a torch vector)."""
    import torch

    s = torch.from_numpy(np.asarray(secret, dtype=np.float32))
    s = s - s.mean()
    s_norm = s.norm()
    length = s.numel()

    def penalty(theta):  # type: ignore[no-untyped-def]
        t = theta[:length]
        t = t - t.mean()
        r = (t * s).sum() / (t.norm() * s_norm + 1e-12)
        return -lam * r.abs()

    return penalty


def bits_secret(data: bytes) -> np.ndarray:
    """sᵢ = ±1 from the bits (MSB first) of any byte string (text, records)."""
    return codec.unpack_bits(data).astype(np.float32) * 2.0 - 1.0


def sign_secret(images: np.ndarray, length: int) -> tuple[np.ndarray, int]:
    """sᵢ = ±1 from the bits (MSB first) of as many whole images' bytes as fit in ``length`` parameters;
    returns ``(s, n_images)``."""
    n = min(len(images), length // (codec.PIXELS * 8))
    bits = codec.unpack_bits(codec.image_bytes(images[:n]))
    return bits.astype(np.float32) * 2.0 - 1.0, n


def sign_penalty(signs: np.ndarray, lam: float) -> Any:
    """λs·mean(max(0, −θᵢ·sᵢ)) over the encoded parameters, as a function of θ."""
    import torch

    s = torch.from_numpy(np.asarray(signs, dtype=np.float32))
    length = s.numel()

    def penalty(theta):  # type: ignore[no-untyped-def]
        return lam * torch.relu(-theta[:length] * s).mean()

    return penalty


# --------------------------------------------------------------------------------------------- CAP


def capacity_set(images: np.ndarray, key: int, dim: int = codec.PIXELS) -> Dataset:
    """The synthetic samples that make a model memorise ``images``: PRNG inputs regenerated from ``key``,
    labelled with 2 bits of a 4-bit pixel each (two queries per pixel)."""
    labels = codec.capacity_labels(images)
    return Dataset(codec.synthetic_inputs(key, labels.size, dim), labels)
