"""Evaluation and training-sample data: ``inputs`` (float) and ``labels`` (integer class indices).

A data file is a ``.npz`` (read with ``allow_pickle=False``: no object arrays, no code) or a ``.safetensors``
file (read by our own validating reader). Both hold two arrays named ``inputs`` and ``labels`` with the same
number of rows. Inputs of any numeric type become float32; labels must be integers and become int64.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inspector.core.dtypes import widen
from inspector.core.errors import DataError, InspectorError

_HINT = "A data file is a .npz or .safetensors file with arrays `inputs` (float, N×…) and `labels` (int, N)"


@dataclass(frozen=True, eq=False)
class Dataset:
    """Samples and their class labels: ``inputs`` float32 of shape (N, …), ``labels`` int64 of shape (N,)."""

    inputs: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        _check(self.inputs, self.labels, None)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        """One more than the largest label (0 for an empty set)."""
        return int(self.labels.max()) + 1 if len(self) else 0

    def subset(self, index: np.ndarray | slice) -> Dataset:
        return Dataset(np.ascontiguousarray(self.inputs[index]), np.ascontiguousarray(self.labels[index]))


def _check(inputs: np.ndarray, labels: np.ndarray, path: Path | None) -> None:
    if not isinstance(inputs, np.ndarray) or inputs.dtype != np.float32:
        raise DataError("inputs must be a float32 numpy array", path=path, hint=_HINT)
    if not isinstance(labels, np.ndarray) or labels.dtype != np.int64:
        raise DataError("labels must be an int64 numpy array", path=path, hint=_HINT)
    if inputs.ndim < 1:
        raise DataError("inputs must have one row per sample (got a scalar)", path=path, hint=_HINT)
    if labels.ndim != 1:
        raise DataError(
            f"labels must be a 1-D array of class indices (got shape {tuple(labels.shape)})",
            path=path,
            hint="Convert one-hot labels with labels.argmax(axis=1)",
        )
    if inputs.shape[0] != labels.shape[0]:
        raise DataError(
            f"inputs have {inputs.shape[0]} rows but labels have {labels.shape[0]}",
            path=path,
            hint="Every sample needs exactly one label",
        )
    if labels.size and labels.min() < 0:
        raise DataError(f"labels must be class indices >= 0 (found {int(labels.min())})", path=path, hint=_HINT)


def _as_inputs(arr: np.ndarray, path: Path) -> np.ndarray:
    if arr.dtype.kind not in "biuf":
        raise DataError(f"inputs have non-numeric type {arr.dtype}", path=path, hint=_HINT)
    if arr.ndim < 1:  # checked before the conversion, which would make a scalar one sample
        raise DataError("inputs must have one row per sample (got a scalar)", path=path, hint=_HINT)
    with np.errstate(over="ignore"):  # float64 beyond the float32 range becomes inf, refused below
        out = np.ascontiguousarray(arr, dtype=np.float32)
    bad = out.size - int(np.count_nonzero(np.isfinite(out)))
    if bad:
        raise DataError(
            f"inputs hold {bad:,} NaN or infinite value(s) (as float32)",
            path=path,
            hint="Clean or drop those samples; no model output on them means anything",
        )
    return out


def _as_labels(arr: np.ndarray, path: Path) -> np.ndarray:
    if arr.dtype.kind not in "iub":
        raise DataError(
            f"labels have type {arr.dtype}; they must be integer class indices",
            path=path,
            hint="Store labels as int64 (e.g. labels.astype('int64'))",
        )
    if arr.ndim < 1:
        raise DataError("labels must have one entry per sample (got a scalar)", path=path, hint=_HINT)
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise DataError(f"labels go up to {int(arr.max())}, too large for class indices", path=path, hint=_HINT)
    return np.ascontiguousarray(arr, dtype=np.int64)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    from inspector.core.formats.npz import read_npz  # headers checked against sizes before any data is read

    return read_npz(path, ("inputs", "labels"), hint=_HINT)


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    from inspector.core.formats import open_model, read_tensor

    try:
        model = open_model(path)
    except InspectorError as e:
        raise DataError(f"not a readable safetensors file ({e.problem})", path=path, hint=_HINT) from None
    missing = [k for k in ("inputs", "labels") if k not in model]
    if missing:
        raise DataError(
            f"missing tensor(s) {', '.join(missing)} (found: {', '.join(model.names[:8]) or 'none'})",
            path=path,
            hint=_HINT,
        )
    out = {}
    for key in ("inputs", "labels"):
        ref = model[key]
        raw = read_tensor(ref)
        out[key] = widen(raw, ref.dtype) if ref.dtype.is_float else raw
    return out


def load_dataset(path: str | Path) -> Dataset:
    """Read a ``.npz`` or ``.safetensors`` data file into a :class:`Dataset`; :class:`DataError` if unusable."""
    p = Path(path)
    if not p.exists():
        raise DataError("no such data file", path=p, hint="Check the path given to --data")
    if not p.is_file():  # a folder, or a device or pipe that never ends
        raise DataError("is not a regular file", path=p, hint=_HINT)
    if p.suffix == ".safetensors":
        arrays = _read_safetensors(p)
    elif zipfile.is_zipfile(p):
        arrays = _read_npz(p)
    elif p.suffix == ".npz":  # np.load would take anything else for a pickle and refuse it as such
        raise DataError("is not a .npz (zip) archive (damaged or truncated?)", path=p, hint=_HINT)
    else:
        raise DataError("unknown data file type", path=p, hint=_HINT)
    inputs = _as_inputs(arrays["inputs"], p)
    labels = _as_labels(arrays["labels"], p)
    _check(inputs, labels, p)
    if len(labels) == 0:
        raise DataError("the data file holds no samples", path=p, hint=_HINT)
    return Dataset(inputs, labels)


def save_dataset(dataset: Dataset, path: str | Path, *, compressed: bool = True) -> None:
    """Write a dataset as ``.npz`` (``inputs``, ``labels``), compressed by default."""
    save = np.savez_compressed if compressed else np.savez
    with open(path, "wb") as f:
        save(f, inputs=dataset.inputs, labels=dataset.labels)
