"""Evaluation: build a model from a recipe, run it on data (cuda, mps or cpu), and find the safe scrub depth.

torch is imported only when a model is run."""

from inspector.core.evaluate.accuracy import EvalResult, evaluate, pick_device, predict_proba
from inspector.core.evaluate.recipes import Recipe, build_module, resolve
from inspector.core.evaluate.safe_bits import AutoResult, FidelityPoint, find_safe_bits

__all__ = [
    "AutoResult",
    "EvalResult",
    "FidelityPoint",
    "Recipe",
    "build_module",
    "evaluate",
    "find_safe_bits",
    "pick_device",
    "predict_proba",
    "resolve",
]
