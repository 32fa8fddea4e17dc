"""Fine-tune audit: measure W − W_base for every float layer the model shares with its base model.

An attack injected while fine-tuning a released model lives in the change, not in the weights: a sign-encoding
penalty flips the signs of weights with large base magnitudes, a correlated-value penalty writes a pixel
pattern into the delta. One streaming pass over both files (chunk by chunk, in step) gives per layer:

- the relative change ‖W − B‖ / ‖B‖ (which layers the fine-tune touched, and how much);
- sign flips against chance: an update that does not care about the base's signs flips a weight only when it
  is larger than the weight, and then half the time; the base magnitude flipped is compared with that
  expectation (``flip_mass`` vs ``chance_mass``);
- the delta's own whole-tensor features (order, phases, signs), so the detectors judge W − B like a model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Optional

import numpy as np

from inspector.core.dtypes import DTYPES, widen
from inspector.core.formats.base import ModelFile, iter_chunks
from inspector.core.measure.features import FeatureAcc, Features, finish, unit_of
from inspector.core.measure.layers import layer_kind
from inspector.core.measure.stats import Moments, TensorStats
from inspector.core.progress import CancelToken, check

#: Elements per chunk read from each file.
DELTA_CHUNK = 1 << 18


@dataclass(frozen=True)
class LayerDelta:
    """How one layer moved from its base."""

    name: str
    base_name: str
    count: int
    relative_change: float  # ‖W − B‖ / ‖B‖
    changed: float  # share of elements that differ at all
    flips: int  # elements whose sign differs from the base's (both non-zero)
    flip_mass: float  # Σ|B| over flipped elements / Σ|B|
    chance_mass: float  # expected flip_mass for updates blind to the base's signs: ½ Σ|B|·[|Δ| > |B|] / Σ|B|
    features: Optional[Features] = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["features"] = self.features.to_json() if self.features is not None else None
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> LayerDelta:
        f = d.get("features")
        nan = math.nan
        return cls(
            name=str(d["name"]),
            base_name=str(d.get("base_name") or d["name"]),
            count=int(d.get("count") or 0),
            relative_change=float(d["relative_change"]) if d.get("relative_change") is not None else nan,
            changed=float(d.get("changed") or 0.0),
            flips=int(d.get("flips") or 0),
            flip_mass=float(d["flip_mass"]) if d.get("flip_mass") is not None else nan,
            chance_mass=float(d["chance_mass"]) if d.get("chance_mass") is not None else nan,
            features=Features.from_json(f) if isinstance(f, Mapping) else None,
        )


@dataclass(frozen=True)
class DeltaMeasurement:
    base_path: str
    base_sha256: Optional[str]
    layers: tuple[LayerDelta, ...]
    unmatched: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "base": self.base_path,
            "base_sha256": self.base_sha256,
            "layers": [d.to_json() for d in self.layers],
            "unmatched": list(self.unmatched),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> DeltaMeasurement:
        return cls(
            str(d["base"]),
            d.get("base_sha256"),
            tuple(LayerDelta.from_json(x) for x in d.get("layers") or ()),
            tuple(str(x) for x in d.get("unmatched") or ()),
        )


def _strip(name: str) -> str:
    for prefix in ("module.", "_orig_mod.", "model."):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return name


def _pairs(model: ModelFile, base: ModelFile) -> tuple[list[tuple[Any, Any]], list[str]]:
    """Float layers of ``model`` and their counterparts in ``base``: same name (wrapper prefixes ignored) and
    shape."""
    by_name = {_strip(r.name): r for r in base.tensors if r.dtype.is_float}
    pairs, unmatched = [], []
    for r in model.tensors:
        if not r.dtype.is_float or getattr(r, "role", "weight") not in ("weight", "ema"):
            continue
        b = by_name.get(_strip(r.name))
        if b is not None and tuple(b.shape) == tuple(r.shape) and r.numel:
            pairs.append((r, b))
        else:
            unmatched.append(r.name)
    return pairs, unmatched


def _layer(ref: Any, base: Any, cancel: Optional[CancelToken]) -> LayerDelta:
    dt_w, dt_b = ref.dtype, base.dtype
    n = ref.numel
    f32 = DTYPES["F32"]
    acc = FeatureAcc(start=0, unit=unit_of(tuple(ref.shape)) if ref.contiguous else 0)
    moments = Moments()
    sq_b = sq_d = abs_b = flip_b = chance_b = 0.0
    flips = changed = zero = positive = 0
    lo, hi = math.inf, -math.inf
    cb = DELTA_CHUNK * dt_w.itemsize
    chunks_b = iter_chunks(base, DELTA_CHUNK * dt_b.itemsize, cancel=cancel)
    for raw_w in iter_chunks(ref, cb, cancel=cancel):
        raw_b = next(chunks_b)
        check(cancel)
        with np.errstate(all="ignore"):
            w = widen(raw_w, dt_w).astype(np.float64)
            b = widen(raw_b, dt_b).astype(np.float64)
            d = w - b
            ok = np.isfinite(d)
            if not ok.all():
                w, b, d = w[ok], b[ok], d[ok]
            ab = np.abs(b)
            sq_b += float(np.einsum("i,i->", b, b))
            sq_d += float(np.einsum("i,i->", d, d))
            abs_b += float(ab.sum())
            flipped = (w * b) < 0
            flips += int(np.count_nonzero(flipped))
            flip_b += float(ab[flipped].sum())
            chance_b += 0.5 * float(ab[np.abs(d) > ab].sum())
            changed += int(np.count_nonzero(d))
            zero += int(np.count_nonzero(d == 0))
            positive += int(np.count_nonzero(d > 0))
            moments = moments.merge(Moments.of(d))
            if d.size:
                lo, hi = min(lo, float(d.min())), max(hi, float(d.max()))
            acc.add(d.astype(np.float32), f32)
    var = moments.m2 / moments.n if moments.n else math.nan
    stats = TensorStats(
        count=n,
        zero=zero,
        min=lo,
        max=hi,
        mean=moments.mean if moments.n else math.nan,
        std=math.sqrt(var) if moments.n else math.nan,
        skewness=(moments.m3 / moments.n) / var**1.5 if moments.n and var > 0 else math.nan,
        kurtosis=(moments.m4 / moments.n) / (var * var) if moments.n and var > 0 else math.nan,
        positive_fraction=positive / n if n else math.nan,
    )
    kind = layer_kind(ref.name, tuple(ref.shape))
    with np.errstate(all="ignore"):
        feats = finish(acc, stats, None, ref.name, kind, f32)
    return LayerDelta(
        name=ref.name,
        base_name=base.name,
        count=n,
        relative_change=math.sqrt(sq_d / sq_b) if sq_b > 0 else math.nan,
        changed=changed / n if n else 0.0,
        flips=flips,
        flip_mass=flip_b / abs_b if abs_b > 0 else math.nan,
        chance_mass=chance_b / abs_b if abs_b > 0 else math.nan,
        features=feats,
    )


def measure_delta(
    model: ModelFile, base: ModelFile, *, base_sha256: Optional[str] = None, cancel: Optional[CancelToken] = None
) -> DeltaMeasurement:
    """W − B for every float layer ``model`` shares with ``base`` (same name and shape), in one pass over both."""
    pairs, unmatched = _pairs(model, base)
    layers = tuple(_layer(r, b, cancel) for r, b in pairs)
    return DeltaMeasurement(str(base.path), base_sha256, layers, tuple(unmatched))
