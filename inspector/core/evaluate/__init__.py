"""Evaluation: build a model from a recipe, run it on data (cuda, mps or cpu), and the accuracy tolerance.

torch is imported only when a model is run."""

from inspector.core.evaluate.accuracy import EvalResult, device_name, evaluate, pick_device, predict_proba
from inspector.core.evaluate.recipes import RECIPES, Recipe, build_module, register, resolve
from inspector.core.evaluate.tolerance import DEFAULT_MAX_DROP, DEFAULT_MIN_AGREEMENT, within_tolerance

__all__ = [
    "DEFAULT_MAX_DROP",
    "DEFAULT_MIN_AGREEMENT",
    "EvalResult",
    "RECIPES",
    "Recipe",
    "build_module",
    "device_name",
    "evaluate",
    "pick_device",
    "predict_proba",
    "register",
    "resolve",
    "within_tolerance",
]
