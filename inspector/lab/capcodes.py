"""Capacity-abuse encodings beyond the lab's first one: which synthetic inputs the attacker generates and how the
secret's values are written into their labels (numpy only).

A :class:`CapCode` pairs a **generator** of query inputs with a **label code**:

- generators: ``grid`` (uniform grey levels k/16 from a keyed PRNG, the lab's first encoding), ``noise``
  (continuous uniform noise in [0, 1] from a keyed PRNG), ``sparse`` (the authors' released code: an empty image
  with two marker pixels, pixel i set to the image's number and pixel i+1 to the query's part; no key);
- label codes: ``digits`` writes each secret value in base ``len(alphabet)`` (most significant digit first) and
  maps digit d to class ``alphabet[d]`` — binary labels, permuted and arbitrary alphabets are all this code with
  another alphabet; ``split`` is the authors' two labels per 4-bit pixel, ``p // 2`` and ``p - p // 2``
  (classes 0–8), decoded as their sum.

A secret is a sequence of values of ``value_bits`` bits: 4-bit pixels (``round(x·15)``) for images, bytes for
text. The decoder needs what the attacker knows: the code, the key and the number of values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from inspector.lab import codec


@dataclass(frozen=True)
class CapCode:
    generator: str  # "grid", "noise" or "sparse"
    labels: str  # "digits" or "split"
    alphabet: tuple[int, ...] = (0, 1, 2, 3)
    value_bits: int = 4  # 4: 4-bit image pixels; 8: bytes (text)

    @property
    def per_value(self) -> int:
        """Queries (labels) per secret value."""
        if self.labels == "split":
            return 2
        return math.ceil(self.value_bits / math.log2(len(self.alphabet)) - 1e-9)

    def describe(self) -> str:
        gen = {"grid": "PRNG grey-level images", "noise": "PRNG uniform noise", "sparse": "sparse two-pixel codes"}
        if self.labels == "split":
            lab = "two labels per 4-bit value (p//2, p−p//2; classes 0–8)"
        else:
            lab = f"base-{len(self.alphabet)} digits as classes {list(self.alphabet)}"
        return f"{gen[self.generator]}; {lab}; {self.value_bits}-bit values"


def secret_values(code: CapCode, secret: np.ndarray | bytes) -> np.ndarray:
    """The secret as int64 values of ``code.value_bits`` bits: images in [0, 1] → 4-bit levels; bytes → bytes."""
    if isinstance(secret, (bytes, bytearray)):
        if code.value_bits != 8:
            raise ValueError("a byte secret needs value_bits=8")
        return np.frombuffer(bytes(secret), dtype=np.uint8).astype(np.int64)
    if code.value_bits != 4:
        raise ValueError("an image secret needs value_bits=4")
    return codec.quantise4(secret).reshape(-1)


def encode_labels(code: CapCode, values: np.ndarray) -> np.ndarray:
    """The query labels that spell ``values`` (``per_value`` labels per value, in order)."""
    v = np.asarray(values, dtype=np.int64).reshape(-1)
    if code.labels == "split":
        return np.stack([v // 2, v - v // 2], axis=1).reshape(-1)
    base, k = len(code.alphabet), code.per_value
    digits = np.stack([(v // base ** (k - 1 - i)) % base for i in range(k)], axis=1)
    return np.asarray(code.alphabet, dtype=np.int64)[digits].reshape(-1)


def decode_labels(code: CapCode, probabilities: np.ndarray) -> np.ndarray:
    """Values from the model's answers to the queries: the most likely class of the alphabet per query."""
    p = np.asarray(probabilities)
    if code.labels == "split":
        lab = p[:, :9].argmax(axis=1).reshape(-1, 2)
        return np.clip(lab.sum(axis=1), 0, (1 << code.value_bits) - 1)
    base, k = len(code.alphabet), code.per_value
    digit = p[:, list(code.alphabet)].argmax(axis=1).reshape(-1, k)
    weights = base ** np.arange(k - 1, -1, -1, dtype=np.int64)
    return np.clip(digit @ weights, 0, (1 << code.value_bits) - 1)


def queries(code: CapCode, key: int, n_values: int, dim: int = codec.PIXELS) -> np.ndarray:
    """The synthetic inputs for ``n_values`` secret values (float32, (n_values·per_value, dim))."""
    n = n_values * code.per_value
    if code.generator == "grid":
        return codec.synthetic_inputs(key, n, dim)
    if code.generator == "noise":
        rng = np.random.Generator(np.random.PCG64(key))
        return rng.random((n, dim), dtype=np.float32)
    if code.generator == "sparse":
        # the authors' mal_data_synthesis: value j (here: the j-th block of `dim` values, an image) marks pixel i
        # with j + 1 and pixel i + 1 (wrapping) with the part k + 1
        x = np.zeros((n, dim), dtype=np.float32)
        q = np.arange(n)
        value, part = q // code.per_value, q % code.per_value
        block, pixel = value // dim, value % dim
        x[q, pixel] = block + 1.0
        x[q, (pixel + 1) % dim] = part + 1.0
        return x
    raise ValueError(f"unknown generator {code.generator!r}")


def values_to_images(values: np.ndarray, pixels: int = codec.PIXELS) -> np.ndarray:
    """4-bit values back to images in [0, 1] (a trailing partial image is dropped)."""
    v = np.asarray(values, dtype=np.int64)
    n = v.size // pixels
    return (v[: n * pixels].reshape(n, pixels) / (codec.CAP_LEVELS - 1)).astype(np.float32)


#: The lab's capacity-abuse encodings by variant stem.
CODES: dict[str, CapCode] = {
    "cap": CapCode("grid", "digits", (0, 1, 2, 3)),  # the lab's first encoding
    "cap-sparse": CapCode("sparse", "split"),  # the authors' released code
    "cap-bin": CapCode("grid", "digits", (0, 1)),  # binary labels
    "cap-noise-perm": CapCode("noise", "digits", (7, 2, 9, 4)),  # continuous noise, permuted 2-bit alphabet
    "cap-arb": CapCode("noise", "digits", (8, 3, 5)),  # arbitrary alphabet of 3 classes (base 3)
    "cap-text": CapCode("noise", "digits", tuple(range(10)), value_bits=8),  # text bytes in base 10, every class
}
