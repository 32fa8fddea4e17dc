"""What kind of layer a tensor belongs to, guessed from its name and shape (for baselines and grouping)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

LAYER_KINDS = ("dense", "conv", "embedding", "norm", "bias", "other", "state")

_NORM_WORDS = ("norm", "ln_", ".ln", "bn", "layernorm", "batchnorm", "running_mean", "running_var", "num_batches")
_EMBED_WORDS = ("embed", "wte", "wpe", "tok_emb", "pos_emb", "lookup")


def layer_kind(name: str, shape: tuple[int, ...]) -> str:
    """One of :data:`LAYER_KINDS`; a name-and-shape heuristic that errs towards ``other``."""
    low = name.lower()
    leaf = low.rsplit(".", 1)[-1]
    if any(w in low for w in _NORM_WORDS):
        return "norm"
    if leaf in ("bias", "b") or leaf.endswith("_bias"):
        return "bias"
    if any(w in low for w in _EMBED_WORDS) and len(shape) == 2:
        return "embedding"
    if len(shape) in (3, 4, 5):
        return "conv"
    if len(shape) == 2:
        return "dense"
    if len(shape) == 1:
        return "bias" if "weight" not in leaf else "norm"
    return "other"


def linear_named_embedding(t: Any, names: set[str], widths_in: set[int], widths_out: set[int]) -> bool:
    """Whether a matrix named like an embedding table is a linear layer: it has a bias, or another layer reads
    its first dimension while no layer outputs its second (a projection of 31 basis functions to 64, not a
    table of 64 entries of 31 dimensions). A lookup table's second dimension is the model's width, which layers
    produce."""
    if t.kind != "embedding" or len(t.shape) != 2:
        return False
    if t.name.endswith("weight") and t.name[: -len("weight")] + "bias" in names:
        return True
    rows, cols = int(t.shape[0]), int(t.shape[1])
    return rows in widths_in and cols not in widths_out


def linear_layers_named_as_tables(tensors: Sequence[Any]) -> list[Any]:
    """The measured tensors, those named like an embedding table that are linear layers (see
    :func:`linear_named_embedding`) given the kind ``dense``, in their scan and their features."""
    names = {t.name for t in tensors}
    # the widths dense matrices read and produce (an embedding is never one of them: it is no dense matrix)
    widths_in = {int(t.shape[1]) for t in tensors if len(t.shape) == 2 and t.kind == "dense"}
    widths_out = {int(t.shape[0]) for t in tensors if len(t.shape) == 2 and t.kind == "dense"}
    out = []
    for t in tensors:
        if getattr(t, "features", None) is not None and linear_named_embedding(t, names, widths_in, widths_out):
            t = replace(t, kind="dense", features=replace(t.features, kind="dense"))
        out.append(t)
    return out
