"""How the lab turns secrets into bits, keys into streams, and 4-bit pixels into class labels (numpy only).

Conventions shared by the attacks, their decoders and the data-aware detectors:

- Images are digits inputs scaled to [0, 1] (the digits set's grey levels 0..16 divided by 16), 64 pixels each.
- An image's *bytes* are its pixels as 8-bit grey levels, ``round(x * 255)``, in row-major order; a secret of
  n images is their bytes concatenated (64·n bytes). Bits are unpacked most significant bit first.
- The "encryption" of an encrypted-looking payload is a XOR with a keyed PRNG stream (numpy PCG64 seeded with
  the key). It is not cryptography; it only makes the payload look random, as AES would.
- Capacity abuse quantises a pixel to 4 bits, ``q = round(x * 15)``, and spreads it over two queries whose
  labels are ``q >> 2`` and ``q & 3`` (2 bits per label, classes 0..3).
"""

from __future__ import annotations

import numpy as np

#: Pixels per digits image.
PIXELS = 64
#: Grey levels of a capacity-abuse pixel (4 bits) and the bits one query label carries.
CAP_LEVELS = 16
CAP_LABEL_BITS = 2


def image_bytes(images: np.ndarray) -> bytes:
    """8-bit grey levels of images in [0, 1] (any shape), row-major."""
    x = np.clip(np.asarray(images, dtype=np.float64), 0.0, 1.0)
    return np.rint(x * 255.0).astype(np.uint8).tobytes()


def bytes_to_images(data: bytes, pixels: int = PIXELS) -> np.ndarray:
    """Inverse of :func:`image_bytes`: (n, pixels) float32 in [0, 1]; a trailing partial image is dropped."""
    arr = np.frombuffer(data, dtype=np.uint8)
    n = arr.size // pixels
    return (arr[: n * pixels].reshape(n, pixels) / 255.0).astype(np.float32)


def keystream(key: int, n: int) -> bytes:
    """``n`` pseudo-random bytes determined by ``key`` (numpy PCG64)."""
    return np.random.Generator(np.random.PCG64(key)).bytes(n)


def xor_with_key(data: bytes, key: int) -> bytes:
    """``data`` XOR the key's stream: encrypts and decrypts alike."""
    a = np.frombuffer(data, dtype=np.uint8)
    b = np.frombuffer(keystream(key, a.size), dtype=np.uint8)
    return (a ^ b).tobytes()


def unpack_bits(data: bytes) -> np.ndarray:
    """Bits of ``data`` (uint8 0/1), most significant first."""
    return np.unpackbits(np.frombuffer(data, dtype=np.uint8))


def synthetic_inputs(key: int, n: int, dim: int = PIXELS, levels: int = 16) -> np.ndarray:
    """``n`` capacity-abuse queries regenerated from ``key``: uniform grey levels 0..levels over ``levels``
    (the digits inputs' own value grid in [0, 1]), float32 of shape (n, dim)."""
    rng = np.random.Generator(np.random.PCG64(key))
    return (rng.integers(0, levels + 1, size=(n, dim)) / levels).astype(np.float32)


def quantise4(images: np.ndarray) -> np.ndarray:
    """Pixels in [0, 1] to 4-bit levels 0..15 (int64)."""
    return np.rint(np.clip(np.asarray(images, dtype=np.float64), 0, 1) * (CAP_LEVELS - 1)).astype(np.int64)


def capacity_labels(images: np.ndarray) -> np.ndarray:
    """The query labels encoding ``images``: two per pixel (high then low 2 bits of the 4-bit level)."""
    q = quantise4(images).reshape(-1)
    return np.stack([q >> CAP_LABEL_BITS, q & ((1 << CAP_LABEL_BITS) - 1)], axis=1).reshape(-1)


def capacity_images(labels: np.ndarray, pixels: int = PIXELS) -> np.ndarray:
    """Inverse of :func:`capacity_labels`: (n, pixels) float32 in [0, 1]."""
    lab = np.asarray(labels, dtype=np.int64).reshape(-1, 2)
    q = (lab[:, 0] << CAP_LABEL_BITS) | lab[:, 1]
    return (q.reshape(-1, pixels) / (CAP_LEVELS - 1)).astype(np.float32)
