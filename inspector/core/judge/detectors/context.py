"""What every detector works from: the scanned model, its features, its baselines, and how to grade evidence."""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from inspector.core.dtypes import DTYPES, widen
from inspector.core.formats.base import ModelFile
from inspector.core.judge.baselines import (
    GAUSSIAN_NEAR_ZERO,
    LayerDistance,
    Profile,
    Reference,
    coarse_histograms,
    gaussian_histogram,
    histogram_distance,
)
from inspector.core.judge.findings import Finding
from inspector.core.measure.features import Features
from inspector.core.measure.reading import read_prefix
from inspector.core.progress import CancelToken, check

#: Tensor prefixes kept in memory at once.
RAW_CACHE = 8
#: Evidence at or above one threshold unit is "suspicious", at half of it a "warning", below that "info".
WARNING_AT = 0.5


def grade(excess: float) -> tuple[str, float]:
    """Severity and score of evidence ``excess`` in threshold units (1 = the suspicious threshold).

    The score 1 − 0.3^e is 0 for no evidence, 0.70 at the threshold, 0.91 at twice it, and grows monotonically,
    so model scores rank models for ROC curves.
    """
    e = max(0.0, excess) if math.isfinite(excess) else 0.0
    severity = "suspicious" if e >= 1.0 else "warning" if e >= WARNING_AT else "info"
    return severity, 1.0 - 0.3**e


def finding(
    detector: str,
    attack: str,
    tensor: Optional[str],
    excess: float,
    message: str,
    evidence: Mapping[str, Any],
    *,
    cap: Optional[str] = None,
) -> Finding:
    """A finding graded by :func:`grade`; ``cap="warning"`` keeps weak-kind evidence below suspicious."""
    severity, score = grade(excess)
    if cap == "warning" and severity == "suspicious":
        severity, score = "warning", min(score, 0.69)
    ev = {k: _jsonable(v) for k, v in evidence.items()}
    ev["excess"] = round(float(excess), 4) if math.isfinite(excess) else None
    return Finding(detector, attack, tensor, severity, score, message, ev)


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return round(f, 6) if math.isfinite(f) else None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


def pct(x: float, digits: int = 0) -> str:
    return "n/a" if not math.isfinite(x) else f"{x * 100:.{digits}f}%"


@dataclass
class Expectation:
    """The baseline value of one feature for one layer, and where it came from."""

    value: float
    source: str  # "reference", "profile" or "gaussian"
    text: str  # e.g. "baseline layer 4%", "digits profile for dense layers 3–15%"
    hi: float = math.nan  # upper end of the benign range (profile), when known
    lo: float = math.nan


class Context:
    """The measured model, its baselines and inputs, shared by all detectors.

    Detectors read measurements only (whole-tensor features and histograms); nothing here reads the model file.
    The two steps that must look at the file or run the model (matching a training sample, probing behaviour)
    get a context with ``model`` set; the judge's context has ``model = None``.
    """

    def __init__(
        self,
        model: Optional[ModelFile],
        tensors: Sequence[Any],
        options: Any,
        *,
        profile: Optional[Profile] = None,
        references: Sequence[Reference] = (),
        cancel: Optional[CancelToken] = None,
    ) -> None:
        self.model = model
        #: fixed for the context's life (what is derived from it below is found once)
        self.tensors: tuple[Any, ...] = tuple(tensors)
        self.options = options
        self.profile = profile
        self.references = list(references)
        self.cancel = cancel
        self._by_name = {t.name: t for t in self.tensors}
        # Raw prefixes (file-reading steps only) are large: keep only the last few, in use order.
        self._raw: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._distances: dict[str, Optional[LayerDistance]] = {}
        self._floats: Optional[tuple[Any, ...]] = None
        self._features: Optional[tuple[Features, ...]] = None
        self._widths: Optional[tuple[Any, ...]] = None
        #: what a detector found out while running that its ``checked`` line should report (e.g. which
        #: reference the capacity probe really compared against)
        self.notes: dict[str, str] = {}

    # -------------------------------------------------------------------- reading (file-reading steps only)
    def raw(self, name: str, limit: int) -> np.ndarray:
        """The first ``limit`` elements of one of the model's tensors, raw, in storage order."""
        if self.model is None:
            raise RuntimeError("the judge reads measurements only; this step needs the model file")
        key = (str(limit), name)
        if key in self._raw:
            self._raw.move_to_end(key)
            return self._raw[key]
        check(self.cancel)
        data = read_prefix(self.model[name], limit, cancel=self.cancel)
        self._raw[key] = data
        while len(self._raw) > RAW_CACHE:
            self._raw.popitem(last=False)
        return data

    def values(self, name: str, limit: int) -> np.ndarray:
        dt = DTYPES[self._by_name[name].dtype]
        with np.errstate(invalid="ignore"):  # fp16 NaN payloads warn when widened; they stay NaN
            return widen(self.raw(name, limit), dt).astype(np.float64, copy=False)

    def shape(self, name: str) -> tuple[int, ...]:
        t = self._by_name.get(name)
        return tuple(t.shape) if t is not None else ()

    def tensor(self, name: str) -> Optional[Any]:
        """The measurement of the model's tensor ``name`` (its statistics, histogram and features), or ``None``."""
        return self._by_name.get(name)

    def float_tensors(self) -> list[Any]:
        """The non-empty float tensors, in model order (found once: detectors ask for them once per tensor)."""
        if self._floats is None:
            self._floats = tuple(t for t in self.tensors if DTYPES[t.dtype].is_float and t.numel > 0)
        return list(self._floats)

    def features(self, name: str, ref: Optional[Reference] = None) -> Optional[Features]:
        ts = ref.tensors.get(name) if ref else self._by_name.get(name)
        return getattr(ts, "features", None)

    def all_features(self) -> list[Features]:
        if self._features is None:
            self._features = tuple(t.features for t in self.float_tensors() if getattr(t, "features", None) is not None)
        return list(self._features)

    def matrix_widths(self) -> Optional[tuple[str, Mapping[int, frozenset[str]]]]:
        """The model's dense and embedding matrices (2-D float tensors with features of those kinds): the first
        one's name, and their names by the width a neighbour layer reads (an embedding's row length, a dense
        matrix's output count); ``None`` where there is none. Found once (asked once per tensor)."""
        if self._widths is None:
            by_width: dict[int, set[str]] = {}
            first = None
            for t in self.float_tensors():
                if len(t.shape) != 2 or not t.features or t.features.kind not in ("dense", "embedding"):
                    continue
                first = t.name if first is None else first
                width = int(t.shape[1] if t.features.kind == "embedding" else t.shape[0])
                by_width.setdefault(width, set()).add(t.name)
            self._widths = (first, {w: frozenset(n) for w, n in by_width.items()}) if first is not None else ()
        return self._widths or None

    # -------------------------------------------------------------------- baselines
    def reference_for(self, name: str) -> tuple[Optional[Reference], Optional[str]]:
        """The first reference that has a counterpart of layer ``name``, and that counterpart's name."""
        for ref in self.references:
            m = ref.match_for(name)
            if m is not None:
                return ref, m.ref_name
        return None, None

    def reference_features(self, name: str) -> Optional[Features]:
        ref, ref_name = self.reference_for(name)
        return self.features(ref_name, ref) if ref is not None and ref_name is not None else None

    def distance(self, name: str) -> Optional[LayerDistance]:
        """KS and Wasserstein distance to the baseline layer, from the two histograms on shared edges."""
        if name not in self._distances:
            ref, ref_name = self.reference_for(name)
            own = self._by_name.get(name)
            other = ref.tensors.get(ref_name) if ref is not None and ref_name is not None else None
            self._distances[name] = histogram_distance(own.stats, other.stats) if own and other else None
        return self._distances[name]

    def histograms(self, name: str, bins: int = 64) -> dict[str, Any]:
        """The layer's histogram and its baseline's on shared edges (reference layer, else fitted Gaussian), for
        a finding's evidence: ``{"edges", "counts", "ref_counts", "baseline_label"}``."""
        own = self._by_name[name].stats
        ref, ref_name = self.reference_for(name)
        other = ref.tensors.get(ref_name) if ref is not None and ref_name is not None else None
        h: dict[str, Any]
        if ref is not None and other is not None and other.stats.histogram is not None and own.histogram is not None:
            h = coarse_histograms(own, other.stats, bins)
            h["baseline_label"] = f"baseline {ref.label}" + ("" if ref_name == name else f" ({ref_name})")
        else:
            h = gaussian_histogram(own, bins)
            h["baseline_label"] = "fitted zero-mean Gaussian"
        return h

    def expect(self, f: Features, feature: str, fmt: str = "pct") -> Expectation:
        """The baseline value of ``feature`` for layer ``f``: reference layer, else profile, else Gaussian."""
        show = (lambda v: pct(v)) if fmt == "pct" else (lambda v: format(v, fmt))
        rf = self.reference_features(f.name)
        if rf is not None:
            v = getattr(rf, feature)
            ref, ref_name = self.reference_for(f.name)
            where = "baseline layer" if ref_name == f.name else f"baseline layer {ref_name}"
            return Expectation(v, "reference", f"{where} {show(v)}")
        if self.profile is not None:
            r = self.profile.get(f.kind, feature)
            if r is not None:
                return Expectation(
                    r.median, "profile", f"trusted {f.kind} layers {show(r.lo)}–{show(r.hi)}", r.hi, r.lo
                )
        gauss = {"near_zero": GAUSSIAN_NEAR_ZERO, "positive": 0.5, "kurtosis": 3.0, "skewness": 0.0}
        v = gauss.get(feature, math.nan)
        return Expectation(v, "gaussian", f"fitted Gaussian {show(v)}" if math.isfinite(v) else "no baseline")

    def baseline_label(self) -> str:
        if self.references:
            return "reference model"
        return "built-in profile" if self.profile is not None else "fitted Gaussian"
