"""What kind of layer a tensor belongs to, guessed from its name and shape (for baselines and grouping)."""

from __future__ import annotations

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
