"""The largest safe number of scrubbed bits: bisection on k against accuracy and prediction agreement.

Each candidate k scrubs the model into a temporary file with :func:`~inspector.core.scrub.export.scrub_model` and
evaluates it against the original with :func:`~inspector.core.evaluate.accuracy.evaluate`. Bisection assumes damage
grows with k; on small evaluation sets the curve is noisy near its edge, so strict tolerances are safer.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from inspector.core.dtypes import DTYPES
from inspector.core.errors import InspectorError
from inspector.core.evaluate.tolerance import DEFAULT_MAX_DROP, DEFAULT_MIN_AGREEMENT, within_tolerance
from inspector.core.formats import ModelFile
from inspector.core.progress import CancelToken, ProgressCallback, check, report
from inspector.core.scrub.bits import FLOAT_DTYPES, scaled_bits
from inspector.core.scrub.export import scrub_model, select_tensors


@dataclass(frozen=True)
class FidelityPoint:
    """The scrubbed model at one ``k`` of the dominant dtype, evaluated against the original."""

    bits: int
    per_dtype: Mapping[str, int]
    accuracy: float
    original_accuracy: float
    agreement: float
    mean_kl: Optional[float]
    ok: bool

    @property
    def drop_points(self) -> float:
        """Accuracy lost, in percentage points (negative: it went up)."""
        return 100.0 * (self.original_accuracy - self.accuracy)


@dataclass(frozen=True)
class AutoResult:
    """What :func:`find_safe_bits` measured: the largest tolerated ``k`` of ``dtype`` and the points tried."""

    dtype: str
    bits: int
    per_dtype: Mapping[str, int]
    max_drop: float
    min_agreement: float
    points: tuple[FidelityPoint, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "dtype": self.dtype,
            "bits": self.bits,
            "per_dtype": dict(self.per_dtype),
            "max_drop_points": self.max_drop,
            "min_agreement": self.min_agreement,
            "curve": [
                {
                    "bits": p.bits,
                    "per_dtype": dict(p.per_dtype),
                    "accuracy": p.accuracy,
                    "original_accuracy": p.original_accuracy,
                    "drop_points": p.drop_points,
                    "agreement": p.agreement,
                    "mean_kl": None if p.mean_kl is None or not math.isfinite(p.mean_kl) else p.mean_kl,
                    "ok": p.ok,
                }
                for p in self.points
            ],
        }


def dominant_dtype(model: ModelFile, tensors: Sequence[str] = ()) -> str:
    """The float dtype holding the most selected parameters (what ``--auto`` searches ``k`` for)."""
    chosen = select_tensors(model, tensors)
    counts: dict[str, int] = {}
    for r in model.tensors:
        if r.dtype.is_float and r.name in chosen:
            counts[r.dtype.name] = counts.get(r.dtype.name, 0) + r.numel
    if not counts:
        raise InspectorError("the model has no float tensor to scrub", path=model.path)
    return max(sorted(counts), key=lambda d: counts[d])


def level_bits(dtype: str, k: int) -> dict[str, int]:
    """Per-dtype bits when ``dtype`` gets ``k``: for fp32 exactly ``--bits k`` (:func:`scaled_bits`); for
    another dtype the others keep the same relative precision (fp8 stays 0 unless it is ``dtype``)."""
    if dtype == "F32":
        return scaled_bits(k)
    kept = DTYPES[dtype].mantissa_bits - k
    out = {}
    for name in FLOAT_DTYPES:
        m = DTYPES[name].mantissa_bits
        out[name] = k if name == dtype else 0 if name.startswith("F8") else min(m, max(0, m - kept))
    return out


def find_safe_bits(
    model: ModelFile,
    data: Any,
    *,
    arch: Any = None,
    max_drop: float = DEFAULT_MAX_DROP,
    min_agreement: float = DEFAULT_MIN_AGREEMENT,
    seed: int = 0,
    tensors: Sequence[str] = (),
    mode: str = "random",
    device: str = "auto",
    workdir: Optional[Path] = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
) -> AutoResult:
    """Bisect for the largest ``k`` (of the dominant float dtype) whose scrubbed model loses at most
    ``max_drop`` accuracy points and agrees with the original on at least ``min_agreement`` of ``data``.

    Assumes the damage grows with ``k`` (it does, up to evaluation noise); tries the full mantissa first,
    then about log2(mantissa) points. Each trial is a full scrub (same ``seed``, so the chosen point is
    exactly what a scrub with those bits writes) into ``workdir`` (default: a temporary folder), evaluated
    with :func:`inspector.core.evaluate.accuracy.evaluate` against the original. Needs torch.
    """

    from inspector.core.evaluate.accuracy import evaluate
    from inspector.core.evaluate.recipes import Recipe, resolve
    from inspector.core.formats.data import Dataset, load_dataset

    dom = dominant_dtype(model, tensors)
    top = DTYPES[dom].mantissa_bits
    ds = data if isinstance(data, Dataset) else load_dataset(data)
    recipe = arch if isinstance(arch, Recipe) else resolve(arch, model)
    points: dict[int, FidelityPoint] = {}
    expected = 1 + max(1, math.ceil(math.log2(top + 1)))

    with tempfile.TemporaryDirectory(prefix=".scrub-auto-", dir=workdir) as tmpdir:

        def trial(k: int) -> FidelityPoint:
            check(cancel)
            report(progress, len(points), expected, f"trying k = {k}")
            per = level_bits(dom, k)
            out = Path(tmpdir) / f"k{k}.safetensors"
            scrub_model(model, out, bits=per, seed=seed, tensors=tensors, mode=mode, verify=False, cancel=cancel)
            res = evaluate(out, ds, arch=recipe, against=model, device=device, cancel=cancel)
            out.unlink()
            assert res.agreement is not None and res.against_accuracy is not None
            drop = 100.0 * (res.against_accuracy - res.accuracy)
            ok = within_tolerance(drop, res.agreement, max_drop=max_drop, min_agreement=min_agreement)
            p = FidelityPoint(k, per, res.accuracy, res.against_accuracy, res.agreement, res.mean_kl, ok)
            points[k] = p
            return p

        lo, hi = 0, top
        if not trial(hi).ok:
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if trial(mid).ok:
                    lo = mid
                else:
                    hi = mid
        else:
            lo = hi
    report(progress, expected, expected, "done")
    return AutoResult(dom, lo, level_bits(dom, lo), max_drop, min_agreement, tuple(points[k] for k in sorted(points)))
