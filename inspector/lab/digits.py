"""The lab's data: scikit-learn's 8×8 digits (1,797 images, 10 classes), split 80/20 with a fixed seed.

Inputs are grey levels 0..16 divided by 16 (float32 in [0, 1]), flattened to 64 pixels; the training split
keeps the order the split produced, which is the order the white-box attacks read their secret images in.
scikit-learn is an optional dependency (the ``lab`` extra) and is imported only here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inspector.core.errors import DataError
from inspector.core.formats import Dataset

#: Seed of the stratified split (and the default seed of everything in the lab).
SPLIT_SEED = 0
TEST_FRACTION = 0.2


@dataclass(frozen=True, eq=False)
class DigitsSplit:
    train: Dataset
    test: Dataset


def load_digits_split(seed: int = SPLIT_SEED) -> DigitsSplit:
    """Stratified 80/20 split of the digits set: 1,437 training and 360 test images."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise DataError(
            "the lab needs scikit-learn for the digits data set",
            hint="Install it with: pip install 'model-inspector[lab]' (or pip install scikit-learn)",
        ) from None
    bunch = load_digits()
    x = (np.asarray(bunch.data, dtype=np.float64) / 16.0).astype(np.float32)
    y = np.asarray(bunch.target, dtype=np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=TEST_FRACTION, stratify=y, random_state=seed)
    return DigitsSplit(
        Dataset(np.ascontiguousarray(x_tr), np.ascontiguousarray(y_tr)),
        Dataset(np.ascontiguousarray(x_te), np.ascontiguousarray(y_te)),
    )
