"""Architecture recipes: how to turn a weights file into a runnable ``torch.nn.Module``.

A recipe is a zero-argument function returning a module whose ``state_dict`` names and shapes match the file.
It comes from the built-in registry (:data:`RECIPES`, e.g. ``digits-mlp``), from a Python file
(``path/to/file.py:function``) or from an importable module (``package.module:function``). The last two run
*the user's own code* with the user's permissions; front ends must say so.

The weights never go through ``torch.load``: :func:`state_dict_from` builds tensors from our own safe reader.
torch is imported inside the functions that need it, so importing this module stays cheap.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional

import numpy as np

from inspector.core.errors import RecipeError
from inspector.core.formats import ModelFile, read_tensor

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: Metadata key in which a lab-built file names its registered recipe.
METADATA_KEY = "inspector.lab.recipe"


@dataclass(frozen=True)
class Recipe:
    """A named way to build a module.

    ``input_shape`` is the shape of one sample (without the batch axis) and ``input_range`` the natural range
    of its values, when known (built-in recipes know; user code may not). ``user_code`` is true for recipes
    loaded from a file or module the user named.
    """

    name: str
    build: Callable[[], Any]
    input_shape: Optional[tuple[int, ...]] = None
    num_classes: Optional[int] = None
    input_range: Optional[tuple[float, float]] = None
    description: str = ""
    user_code: bool = False
    source: str = "built in"

    def describe(self) -> str:
        """One line for the CLI and GUI, saying plainly when the recipe runs the user's own code."""
        if self.user_code:
            return f"{self.name} (your own code from {self.source}, run with your permissions)"
        return f"{self.name} (built in: {self.description})" if self.description else f"{self.name} (built in)"


# --------------------------------------------------------------------------------------------- built-in


def _digits_mlp() -> Any:
    import torch.nn as nn

    class DigitsMLP(nn.Module):
        """64 → 128 → 10 multilayer perceptron on 8×8 digits (inputs scaled to [0, 1])."""

        def __init__(self) -> None:
            super().__init__()
            self.fc1 = nn.Linear(64, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):  # type: ignore[no-untyped-def]
            return self.fc2(self.fc1(x.reshape(x.shape[0], 64)).relu())

    return DigitsMLP()


def _digits_cnn() -> Any:
    import torch.nn as nn
    import torch.nn.functional as F

    class DigitsCNN(nn.Module):
        """conv 3×3 (16) → conv 3×3 (32) → max-pool 2 → dense 64 → 10 on 1×8×8 digits; 38,282 parameters."""

        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
            self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
            self.fc1 = nn.Linear(32 * 4 * 4, 64)
            self.fc2 = nn.Linear(64, 10)

        def forward(self, x):  # type: ignore[no-untyped-def]
            x = x.reshape(x.shape[0], 1, 8, 8)
            x = F.max_pool2d(self.conv2(self.conv1(x).relu()).relu(), 2)
            return self.fc2(self.fc1(x.flatten(1)).relu())

    return DigitsCNN()


RECIPES: dict[str, Recipe] = {
    "digits-mlp": Recipe(
        "digits-mlp", _digits_mlp, (64,), 10, (0.0, 1.0), "MLP 64→128→10 for 8×8 digits, 9,610 parameters"
    ),
    "digits-cnn": Recipe(
        "digits-cnn", _digits_cnn, (1, 8, 8), 10, (0.0, 1.0), "CNN on 1×8×8 digits, 38,282 parameters"
    ),
}


def register(recipe: Recipe) -> None:
    """Add a recipe to the registry (replacing one of the same name)."""
    RECIPES[recipe.name] = recipe


# --------------------------------------------------------------------------------------------- resolving


def _load_function(spec: str) -> Recipe:
    target, _, func_name = spec.rpartition(":")
    if not target or not func_name.isidentifier():
        raise RecipeError(
            f"architecture {spec!r} is not a registered name, path.py:function or package.module:function",
            hint=f"Registered: {', '.join(sorted(RECIPES))}",
        )
    is_file = target.endswith(".py") or "/" in target or "\\" in target
    try:
        if is_file:
            path = Path(target).expanduser()
            if not path.is_file():
                raise RecipeError(f"recipe file {str(path)!r} does not exist", hint="Check the path before ':'")
            digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
            mod_name = f"_inspector_recipe_{digest}"
            mspec = importlib.util.spec_from_file_location(mod_name, path)
            if mspec is None or mspec.loader is None:
                raise RecipeError(f"cannot load {str(path)!r} as Python code", hint="Name a .py file")
            module = importlib.util.module_from_spec(mspec)
            sys.modules[mod_name] = module
            try:
                mspec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(mod_name, None)
                raise
            source = str(path)
        else:
            module = importlib.import_module(target)
            source = f"module {target}"
    except RecipeError:
        raise
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # the user's code may raise anything, SystemExit included
        raise RecipeError(
            f"loading recipe code {target!r} failed: {type(e).__name__}: {e}",
            hint="Fix the error in that code, or pass a registered --arch",
        ) from None
    fn = getattr(module, func_name, None)
    if fn is None or not callable(fn):
        raise RecipeError(
            f"{source} has no function {func_name!r}",
            hint="SPEC is path.py:function or package.module:function, the function returning an nn.Module",
        )
    doc = (getattr(fn, "__doc__", None) or "").strip().splitlines()
    return Recipe(name=spec, build=fn, description=doc[0] if doc else "", user_code=True, source=source)


def resolve(spec: Optional[str], model: Optional[ModelFile] = None) -> Recipe:
    """Find the recipe for ``spec``: a registered name, ``path.py:function`` or ``package.module:function``.

    With ``spec=None`` the model's metadata must name a *registered* recipe (metadata never makes us run code
    from a file or module); otherwise :class:`RecipeError` asks for ``--arch``.
    """
    if spec is None or spec == "":
        named = (model.metadata.get(METADATA_KEY) if model is not None else None) or None
        if named is None:
            where = f"{model.path.name} does not name its architecture" if model is not None else "no architecture"
            raise RecipeError(
                f"{where}",
                hint=f"Pass --arch NAME (one of {', '.join(sorted(RECIPES))}), --arch path/to/file.py:function "
                "or --arch package.module:function",
            )
        if named not in RECIPES:
            raise RecipeError(
                f"the file's metadata names architecture {named!r}, which is not built in",
                hint="Pass --arch path/to/file.py:function (metadata never selects code to run)",
            )
        return RECIPES[named]
    if spec in RECIPES:
        return RECIPES[spec]
    if ":" not in spec:
        raise RecipeError(
            f"unknown architecture {spec!r}",
            hint=f"Registered: {', '.join(sorted(RECIPES))}; or give path/to/file.py:function "
            "or package.module:function",
        )
    return _load_function(spec)


# --------------------------------------------------------------------------------------------- weights


def _to_torch(raw: np.ndarray, dtype_name: str) -> torch.Tensor:
    import torch

    if dtype_name == "BF16":
        return torch.from_numpy(raw.view(np.int16)).view(torch.bfloat16)
    if dtype_name == "F8_E4M3":
        return torch.from_numpy(raw).view(torch.float8_e4m3fn)
    if dtype_name == "F8_E5M2":
        return torch.from_numpy(raw).view(torch.float8_e5m2)
    try:
        return torch.from_numpy(raw)
    except TypeError:  # unsigned types an older torch lacks: widen losslessly where possible
        return torch.from_numpy(raw.astype(np.int64))


def state_dict_from(model: ModelFile, names: Optional[set[str]] = None) -> dict[str, torch.Tensor]:
    """Every tensor of ``model`` (or those in ``names``) as a CPU torch tensor of its stored dtype, read by our
    safe reader."""
    out = {}
    for ref in model.tensors:
        if names is not None and ref.name not in names:
            continue
        raw = read_tensor(ref)
        out[ref.name] = _to_torch(np.ascontiguousarray(raw), ref.dtype.name)
    return out


def _listing(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown


def same_shape(stored: tuple[int, ...], expected: tuple[int, ...]) -> bool:
    """Shapes ``load_state_dict`` accepts as the same: equal, or a 0-d value stored as shape [1] (old BatchNorm
    ``num_batches_tracked``)."""
    return tuple(stored) == tuple(expected) or (tuple(expected) == () and tuple(stored) == (1,))


def check_state(expected: Mapping[str, tuple[int, ...]], found: Mapping[str, tuple[int, ...]]) -> list[str]:
    """Problems between the names/shapes a module expects and those a file holds (empty when they match)."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    wrong = [
        f"{k} (file {list(found[k])}, model {list(expected[k])})"
        for k in expected
        if k in found and not same_shape(found[k], expected[k])
    ]
    problems = []
    if missing:
        problems.append(f"missing from the file: {_listing(missing)}")
    if unexpected:
        problems.append(f"not in the architecture: {_listing(unexpected)}")
    if wrong:
        problems.append(f"shape mismatch: {_listing(wrong)}")
    return problems


def build_module(spec: Optional[str] | Recipe, model: ModelFile) -> Any:
    """Build the recipe's module and load ``model``'s weights into it, strictly; returns it in ``eval()`` mode.

    Names or shapes that do not match raise :class:`RecipeError` listing them. Values are copied into the
    module's own parameters (so an fp16 file runs in the module's dtype, usually float32).
    """
    import torch

    recipe = spec if isinstance(spec, Recipe) else resolve(spec, model)
    try:
        module = recipe.build()
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        raise RecipeError(f"building architecture {recipe.name!r} failed: {type(e).__name__}: {e}") from None
    if not isinstance(module, torch.nn.Module):
        raise RecipeError(
            f"architecture {recipe.name!r} returned {type(module).__name__}, not a torch.nn.Module",
            hint="The recipe function must return an nn.Module",
        )
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    # Tensors the architecture has no place for and that cannot be its weights (integer or bool payloads,
    # training state) are left out of the load: the judge reports them; they must not stop a probe.
    found = {
        t.name: t.shape
        for t in model.tensors
        if t.name in expected or (t.dtype.is_float and getattr(t, "role", "weight") in ("weight", "ema"))
    }
    problems = check_state(expected, found)
    if problems:
        raise RecipeError(
            f"weights do not fit architecture {recipe.name!r}: " + "; ".join(problems),
            path=model.path,
            hint="Pick the architecture the model was trained with (--arch)",
        )
    state = state_dict_from(model, set(expected))
    for k, v in state.items():
        if tuple(v.shape) != expected[k]:  # a 0-d value stored as [1]
            state[k] = v.reshape(expected[k])
    try:
        module.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError) as e:
        first = str(e).strip().splitlines()
        raise RecipeError(
            f"loading weights into {recipe.name!r} failed: {first[-1] if first else e}", path=model.path
        ) from None
    return module.eval()
