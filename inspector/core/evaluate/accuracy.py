"""Accuracy, per-class accuracy, and agreement with a second model, on CUDA, MPS or CPU.

The same code runs on every device: the module and the data are moved with ``.to(device)``; predictions,
correct counts and divergences stay on the device batch after batch and come back to the CPU once, at the end
(no synchronising round trip per batch). On the CPU the result is deterministic.

Divergence. With a reference model R (``against``, e.g. the original before scrubbing) and the evaluated
model M, ``mean_kl`` is the mean over samples x of KL(p_R(·|x) ‖ p_M(·|x)) = Σ_c p_R(c|x)·(log p_R(c|x) −
log p_M(c|x)), in nats, computed from log-softmax outputs. It is 0 when M reproduces R's output distribution
and grows as M's probabilities drift from R's where R puts its mass. ``agreement`` is the fraction of samples
on which both models predict the same class (top-1).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from inspector.core.errors import DataError, InspectorError, RecipeError
from inspector.core.evaluate.recipes import Recipe, build_module, resolve
from inspector.core.formats import ModelFile, open_model
from inspector.core.formats.data import Dataset, load_dataset
from inspector.core.progress import CancelToken, ProgressCallback, check, report

if TYPE_CHECKING:  # pragma: no cover
    import torch

SCHEMA = "model-inspector/eval/1"

#: Eval sets up to this size move to the device in one copy; larger ones go batch by batch from pinned memory.
_WHOLE_COPY_BYTES = 256 << 20


@dataclass(frozen=True)
class EvalResult:
    """What :func:`evaluate` measured. Fractions are in [0, 1]; ``per_class_accuracy[c]`` is ``None`` for a
    class with no sample. The ``against_*``/``agreement``/``mean_kl`` fields are ``None`` without a reference."""

    model: str
    arch: str
    device: str
    device_name: str
    samples: int
    accuracy: float
    per_class_accuracy: tuple[Optional[float], ...]
    class_counts: tuple[int, ...]
    against: Optional[str] = None
    against_accuracy: Optional[float] = None
    agreement: Optional[float] = None
    mean_kl: Optional[float] = None
    seconds: float = 0.0
    user_code: bool = False

    @property
    def correct(self) -> int:
        return int(round(self.accuracy * self.samples))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (schema ``model-inspector/eval/1``)."""
        from inspector._version import __version__

        return {
            "schema": SCHEMA,
            "tool": {"name": "model-inspector", "version": __version__},
            "model": self.model,
            "arch": self.arch,
            "arch_is_user_code": self.user_code,
            "device": self.device,
            "device_name": self.device_name,
            "samples": self.samples,
            "accuracy": self.accuracy,
            "per_class_accuracy": list(self.per_class_accuracy),
            "class_counts": list(self.class_counts),
            "against": self.against,
            "against_accuracy": self.against_accuracy,
            "agreement": self.agreement,
            "mean_kl": self.mean_kl,
            "mean_kl_definition": "mean over samples of KL(p_against || p_model) in nats",
            "seconds": round(self.seconds, 4),
        }


# --------------------------------------------------------------------------------------------- devices


def pick_device(pref: str = "auto") -> str:
    """``auto`` → ``cuda`` if available, else ``mps``, else ``cpu``. An explicit device that is not available
    raises :class:`InspectorError` saying why."""
    import torch

    pref = (pref or "auto").strip().lower()
    cuda_ok = torch.cuda.is_available()
    mps_ok = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if pref == "auto":
        return "cuda" if cuda_ok else "mps" if mps_ok else "cpu"
    if pref == "cpu":
        return "cpu"
    if pref == "cuda" or pref.startswith("cuda:"):
        if not cuda_ok:
            build = torch.version.cuda
            why = (
                "this torch build has no CUDA support"
                if not build
                else f"no CUDA device is visible (torch built for CUDA {build})"
            )
            raise InspectorError(
                f"--device {pref}: {why}",
                hint="Use --device cpu or auto, or install a CUDA build of torch (see the README)",
            )
        if ":" in pref:
            idx = pref.split(":", 1)[1]
            if not idx.isdigit() or int(idx) >= torch.cuda.device_count():
                raise InspectorError(
                    f"--device {pref}: there are {torch.cuda.device_count()} CUDA device(s)",
                    hint="Use cuda or cuda:0",
                )
        return pref
    if pref == "mps":
        if not mps_ok:
            raise InspectorError("--device mps: Apple MPS is not available here", hint="Use --device cpu or auto")
        return "mps"
    raise InspectorError(f"unknown device {pref!r}", hint="Use auto, cpu, cuda or mps")


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return str(torch.cuda.get_device_name(torch.device(device)))
    if device == "mps":
        return "Apple MPS"
    return "CPU"


# --------------------------------------------------------------------------------------------- running


def _input_tensor(inputs: np.ndarray, device: str) -> tuple[torch.Tensor, bool]:
    """The inputs as a tensor; on the device already when small enough (``True``), else pinned on the CPU."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
    if device == "cpu":
        return x, True
    if x.numel() * 4 <= _WHOLE_COPY_BYTES:
        return x.to(device), True
    return (x.pin_memory() if device.startswith("cuda") else x), False


def _batches(n: int, batch_size: int) -> range:
    if batch_size < 1:
        raise InspectorError(f"batch size must be at least 1 (got {batch_size})")
    return range(0, n, batch_size)


def _forward(module: Any, x: torch.Tensor, dtype: Any) -> torch.Tensor:
    try:
        out = module(x.to(dtype) if x.dtype != dtype else x)
    except (RuntimeError, ValueError, TypeError, IndexError) as e:  # torch's shape errors are RuntimeErrors
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise RecipeError(
            f"the architecture cannot run on inputs of shape {tuple(x.shape[1:])} ({first})",
            hint="Check that the data matches the model (and --arch)",
        ) from None
    if not hasattr(out, "ndim") or out.ndim != 2:
        shape = tuple(getattr(out, "shape", ()))
        raise RecipeError(
            f"the architecture returned outputs of shape {shape}; evaluation needs (batch, classes) logits",
            hint="Make the recipe's module return one row of class scores per sample",
        )
    return out.float()


def _module_dtype(module: Any) -> Any:
    import torch

    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def predict_proba(
    module: Any,
    inputs: np.ndarray,
    device: str = "cpu",
    batch_size: int = 256,
    cancel: Optional[CancelToken] = None,
    progress: Optional[ProgressCallback] = None,
) -> np.ndarray:
    """Softmax probabilities (float32, N × classes) of ``module`` on ``inputs``, computed batch by batch on
    ``device`` and copied to the CPU once. ``module`` must already be in eval mode (``build_module`` does it)."""
    import torch

    module = module.to(device)
    dtype = _module_dtype(module)
    n = int(inputs.shape[0])
    x_all, on_device = _input_tensor(inputs, device)
    outs = []
    with torch.inference_mode():
        for start in _batches(n, batch_size):
            check(cancel)
            xb = x_all[start : start + batch_size]
            if not on_device:
                xb = xb.to(device, non_blocking=True)
            outs.append(torch.softmax(_forward(module, xb, dtype), dim=1))
            report(progress, min(start + batch_size, n), n, "predicting")
        if not outs:
            return np.zeros((0, 0), dtype=np.float32)
        return torch.cat(outs).cpu().numpy()


def _open(model: ModelFile | str | Path) -> ModelFile:
    return model if isinstance(model, ModelFile) else open_model(model)


def evaluate(
    model: ModelFile | str | Path,
    data: Dataset | str | Path,
    *,
    arch: Optional[str | Recipe] = None,
    against: ModelFile | str | Path | None = None,
    against_arch: Optional[str | Recipe] = None,
    device: str = "auto",
    batch_size: int = 256,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
) -> EvalResult:
    """Top-1 accuracy and per-class accuracy of ``model`` on ``data``; with ``against`` (the reference, e.g.
    the model before scrubbing) also its accuracy, the prediction agreement and the mean KL(against ‖ model).

    ``arch``/``against_arch`` are recipe specs (see :mod:`inspector.core.evaluate.recipes`); ``None`` uses the name in
    the file's metadata (``against_arch`` defaults to ``arch``). Progress is reported in samples (both models
    count), and ``cancel`` is checked before every batch.
    """
    import torch

    t0 = time.perf_counter()
    mf = _open(model)
    ds = data if isinstance(data, Dataset) else load_dataset(data)
    dev = pick_device(device)
    recipe = arch if isinstance(arch, Recipe) else resolve(arch, mf)
    module = build_module(recipe, mf).to(dev)
    ref_mf = _open(against) if against is not None else None
    ref_module = None
    if ref_mf is not None:
        ref_recipe = (
            against_arch
            if isinstance(against_arch, Recipe)
            else resolve(against_arch, ref_mf)
            if against_arch is not None
            else recipe
        )
        ref_module = build_module(ref_recipe, ref_mf).to(dev)

    n = len(ds)
    if n == 0:
        raise DataError("the evaluation set holds no samples")
    total = n * (2 if ref_module is not None else 1)
    x_all, on_device = _input_tensor(ds.inputs, dev)
    y_all = torch.from_numpy(ds.labels).to(dev)
    dtype = _module_dtype(module)
    ref_dtype = _module_dtype(ref_module) if ref_module is not None else None

    preds, ref_preds, kl_sums = [], [], []
    classes = None
    with torch.inference_mode():
        for start in _batches(n, batch_size):
            check(cancel)
            xb = x_all[start : start + batch_size]
            if not on_device:
                xb = xb.to(dev, non_blocking=True)
            logits = _forward(module, xb, dtype)
            if classes is None:
                classes = int(logits.shape[1])
                top = int(ds.labels.max())
                if top >= classes:
                    raise DataError(
                        f"labels go up to {top} but the model has {classes} outputs",
                        hint="Check that the data matches the model",
                    )
            preds.append(logits.argmax(dim=1))
            if ref_module is not None:
                ref_logits = _forward(ref_module, xb, ref_dtype)
                if ref_logits.shape[1] != classes:
                    raise RecipeError(
                        f"the reference model has {ref_logits.shape[1]} outputs, the model {classes}",
                        hint="Compare models of the same architecture",
                    )
                ref_preds.append(ref_logits.argmax(dim=1))
                lp = torch.log_softmax(logits, dim=1)
                lr = torch.log_softmax(ref_logits, dim=1)
                pr = lr.exp()
                terms = torch.where(pr > 0, pr * (lr - lp), torch.zeros_like(pr))  # 0·log 0 = 0
                kl_sums.append(terms.sum().reshape(1))  # float32: MPS has no float64
            done = min(start + batch_size, n)
            report(progress, done * (2 if ref_module is not None else 1), total, "evaluating")

        assert classes is not None
        pred = torch.cat(preds)
        correct = pred == y_all
        per_correct = torch.zeros(classes, dtype=torch.int64, device=dev).index_add_(0, y_all, correct.long())
        per_count = torch.bincount(y_all, minlength=classes)
        stats = [correct.sum().reshape(1), per_correct, per_count]
        if ref_module is not None:
            rpred = torch.cat(ref_preds)
            stats += [
                (rpred == y_all).sum().reshape(1),
                (rpred == pred).sum().reshape(1),
            ]
        # Back to the CPU once, at the end: the integer counts, and the per-batch KL sums (added in float64).
        packed = torch.cat([s.long() for s in stats]).cpu().numpy()
        kl_total = float(torch.cat(kl_sums).cpu().numpy().astype(np.float64).sum()) if kl_sums else 0.0

    n_correct = int(packed[0])
    pc = packed[1 : 1 + classes].astype(np.int64)
    cnt = packed[1 + classes : 1 + 2 * classes].astype(np.int64)
    per_class = tuple(float(c / k) if k else None for c, k in zip(pc, cnt))
    against_acc = agreement = mean_kl = None
    if ref_module is not None:
        against_acc = float(packed[1 + 2 * classes] / n)
        agreement = float(packed[2 + 2 * classes] / n)
        mean_kl = max(0.0, kl_total / n) if math.isfinite(kl_total) else None
    return EvalResult(
        model=str(mf.path),
        arch=recipe.name,
        device=dev,
        device_name=device_name(dev),
        samples=n,
        accuracy=n_correct / n,
        per_class_accuracy=per_class,
        class_counts=tuple(int(c) for c in cnt),
        against=str(ref_mf.path) if ref_mf is not None else None,
        against_accuracy=against_acc,
        agreement=agreement,
        mean_kl=mean_kl,
        seconds=time.perf_counter() - t0,
        user_code=recipe.user_code,
    )
