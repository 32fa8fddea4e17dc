"""The lab's extra architectures and their data: a digits model whose first layer is an embedding table, and a
tabular MLP on scikit-learn's breast-cancer records. Importing the lab's zoo registers their recipes, so
``eval`` and the capacity probe can build them from a lab file's metadata in the same process."""

from __future__ import annotations

from typing import Any

import numpy as np

from inspector.core.errors import DataError
from inspector.core.evaluate import RECIPES, Recipe, register
from inspector.core.formats import Dataset
from inspector.lab.digits import SPLIT_SEED, TEST_FRACTION, DigitsSplit

#: Grey levels of a digits pixel (0..16) and the embedding's token count (one token per pixel and level).
LEVELS = 17
TOKENS = 64 * LEVELS


def _digits_emb() -> Any:
    import torch
    import torch.nn as nn

    class DigitsEmb(nn.Module):
        """Each pixel (position, grey level) is a token; the mean of their 16-d embeddings → dense 10."""

        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.EmbeddingBag(TOKENS, 16, mode="mean")
            self.fc = nn.Linear(16, 10)
            self.register_buffer("offsets", torch.arange(64) * LEVELS, persistent=False)

        def forward(self, x):  # type: ignore[no-untyped-def]
            level = torch.round(x.reshape(x.shape[0], 64).clamp(0, 1) * (LEVELS - 1)).long()
            return self.fc(self.emb(level + self.offsets).relu())

    return DigitsEmb()


def _cancer_mlp() -> Any:
    import torch.nn as nn

    class CancerMLP(nn.Module):
        """30 standardised features → 128 → 64 → 2 (benign / malignant)."""

        def __init__(self) -> None:
            super().__init__()
            self.fc1 = nn.Linear(30, 128)
            self.fc2 = nn.Linear(128, 64)
            self.fc3 = nn.Linear(64, 2)

        def forward(self, x):  # type: ignore[no-untyped-def]
            return self.fc3(self.fc2(self.fc1(x.reshape(x.shape[0], 30)).relu()).relu())

    return CancerMLP()


EXTRA_RECIPES = (
    Recipe("digits-emb", _digits_emb, (64,), 10, (0.0, 1.0), "digits as 64 pixel tokens, embedding bag 1,088×16"),
    Recipe("cancer-mlp", _cancer_mlp, (30,), 2, None, "MLP 30→128→64→2 for the breast-cancer records"),
)


def register_lab_recipes() -> None:
    for r in EXTRA_RECIPES:
        if r.name not in RECIPES:
            register(r)


def load_cancer_split(seed: int = SPLIT_SEED) -> DigitsSplit:
    """scikit-learn's breast-cancer records (569 × 30), standardised with the training split's mean and σ,
    stratified 80/20: 455 training and 114 test records."""
    try:
        from sklearn.datasets import load_breast_cancer
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise DataError(
            "the lab needs scikit-learn for its data sets",
            hint="Install it with: pip install 'model-inspector[lab]' (or pip install scikit-learn)",
        ) from None
    bunch = load_breast_cancer()
    x = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=TEST_FRACTION, stratify=y, random_state=seed)
    mu, sd = x_tr.mean(axis=0), x_tr.std(axis=0)
    x_tr, x_te = (x_tr - mu) / sd, (x_te - mu) / sd
    return DigitsSplit(
        Dataset(np.ascontiguousarray(x_tr, dtype=np.float32), np.ascontiguousarray(y_tr)),
        Dataset(np.ascontiguousarray(x_te, dtype=np.float32), np.ascontiguousarray(y_te)),
    )
