"""What "normal" looks like: a reference model, a fitted Gaussian, or a profile built from trusted models.

Song et al. note that a data holder "must have a prior understanding of what a normal parameter distribution
looks like". Three priors are offered, best first:

- a **reference model** (``--baseline REF``): a trusted model of the same architecture, its layers matched to
  the inspected model's by name, else by shape and order. Its histograms are computed on the inspected
  layer's bin edges (:func:`load_reference` rescans it with ``ScanOptions(ranges=...)``), and per-layer
  distances (Kolmogorov–Smirnov, Wasserstein) are computed from the values themselves;
- a **baseline profile** (``--profile``, default ``resources/profiles/default.json``): per layer kind, the
  range each detector feature took over trusted models, built with ``model-inspector baseline build``;
- a **fitted zero-mean Gaussian** per layer (σ = the layer's RMS), always available.
"""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from inspector.core.errors import InspectorError
from inspector.core.formats import ModelFile, open_model
from inspector.core.progress import CancelToken, ProgressCallback, check, report
from inspector.core.resources import resource_path

PROFILE_SCHEMA = "model-inspector/profile/1"

#: Features a profile records per layer kind (names of :class:`~inspector.core.measure.features.Features`).
PROFILE_FEATURES = (
    "near_zero",
    "zero_fraction",
    "positive",
    "skewness",
    "kurtosis",
    "autocorr",
    "sign_autocorr",
    "sign_excess",
    "periodic",
    "sign_periodic",
    "ks_gaussian",
    "plane_deviation",
    "low_chi_effect",
    "low_compress",
)

#: Fraction of a zero-mean Gaussian within ±0.05σ of zero: erf(0.05/√2).
GAUSSIAN_NEAR_ZERO = math.erf(0.05 / math.sqrt(2.0))


# ------------------------------------------------------------------------------------------------ profile


@dataclass(frozen=True)
class FeatureRange:
    """The values one feature took over the trusted layers of one kind."""

    lo: float
    hi: float
    median: float
    count: int

    def describe(self, fmt: str = ".2f") -> str:
        return f"{format(self.lo, fmt)}–{format(self.hi, fmt)}"


@dataclass(frozen=True)
class Profile:
    """Per layer kind (dense, conv, embedding, norm, bias, other), the range of each feature."""

    kinds: Mapping[str, Mapping[str, FeatureRange]]
    sources: tuple[str, ...] = ()
    description: str = ""
    path: Optional[str] = None

    def get(self, kind: str, feature: str) -> Optional[FeatureRange]:
        r = self.kinds.get(kind, {}).get(feature)
        return r if r is not None and r.count > 0 else None

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": PROFILE_SCHEMA,
            "description": self.description,
            "sources": list(self.sources),
            "kinds": {
                kind: {f: {"lo": r.lo, "hi": r.hi, "median": r.median, "count": r.count} for f, r in feats.items()}
                for kind, feats in self.kinds.items()
            },
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], path: Optional[str] = None) -> Profile:
        if not isinstance(doc, Mapping) or doc.get("schema") != PROFILE_SCHEMA:
            raise InspectorError(
                f"not a baseline profile (schema {doc.get('schema') if isinstance(doc, Mapping) else None!r})",
                path=path,
                hint="Build one with: model-inspector baseline build TRUSTED... --output PROFILE.json",
            )
        from inspector.core.formats.documents import check_profile_document

        check_profile_document(doc, path)  # "sources": 5, Infinity, ...: one line naming the field
        kinds: dict[str, dict[str, FeatureRange]] = {}
        try:
            for kind, feats in doc.get("kinds", {}).items():
                kinds[kind] = {
                    f: FeatureRange(float(r["lo"]), float(r["hi"]), float(r["median"]), int(r["count"]))
                    for f, r in feats.items()
                }
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise InspectorError(f"malformed baseline profile ({e})", path=path, hint="Rebuild it") from None
        return cls(kinds, tuple(doc.get("sources", ())), str(doc.get("description", "")), path)


def default_profile_path() -> Path:
    return resource_path("profiles", "default.json")


@lru_cache(maxsize=8)
def _load_cached(path: str) -> Profile:
    p = Path(path)
    if p.exists() and not p.is_file():  # a folder, or a device or pipe that would never end
        raise InspectorError("baseline profile is not a regular file", path=p, hint="Check the path given to --profile")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InspectorError("no such baseline profile", path=p, hint="Check the path given to --profile") from None
    except (OSError, ValueError) as e:
        raise InspectorError(f"unreadable baseline profile ({e})", path=p, hint="Rebuild it") from None
    except RecursionError:
        raise InspectorError(
            "unreadable baseline profile (JSON nested too deeply)", path=p, hint="Rebuild it"
        ) from None
    return Profile.from_json(doc, str(p))


def load_profile(path: Optional[str] = None) -> Optional[Profile]:
    """The profile at ``path``, or the built-in one (``None`` when the built-in one is missing)."""
    if path:
        return _load_cached(str(Path(path).resolve()))
    default = default_profile_path()
    return _load_cached(str(default)) if default.is_file() else None


def summarise(values: Sequence[float]) -> FeatureRange:
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return FeatureRange(math.nan, math.nan, math.nan, 0)
    return FeatureRange(float(v.min()), float(v.max()), float(np.median(v)), int(v.size))


def build_profile(
    paths: Sequence[str | Path],
    *,
    description: str = "",
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
) -> Profile:
    """A profile from trusted models: for every layer kind, the range of each feature over their layers.

    Layers too small to judge (fewer than :data:`~inspector.core.measure.features.MIN_ORDER` non-zero
    values) are left out, so a profile's ranges are not widened by sampling noise.
    """
    from inspector.core.measure.features import MIN_ORDER
    from inspector.core.measure.scan import ScanOptions, scan_tensors

    if not paths:
        raise InspectorError("no trusted models given", hint="Name one or more trusted model files")
    values: dict[str, dict[str, list[float]]] = {}
    sources = []
    for i, path in enumerate(paths):
        check(cancel)
        report(progress, i, len(paths), f"profiling {Path(path).name}")
        model = open_model(path)
        tensors = scan_tensors(model, ScanOptions(detectors=False, hash=False), cancel=cancel)
        sources.append(Path(path).name)
        for ts in tensors:
            f = ts.features
            if f is None or f.nonzero < MIN_ORDER:
                continue
            per = values.setdefault(f.kind, {k: [] for k in PROFILE_FEATURES})
            for k in PROFILE_FEATURES:
                per[k].append(getattr(f, k))
    report(progress, len(paths), len(paths), "done")
    # a feature no trusted layer measured (e.g. compressibility of small layers) has no range: left out, so the
    # profile file holds numbers only and the scan falls back to the fitted Gaussian for it
    kinds = {
        kind: {k: r for k, r in ((k, summarise(v)) for k, v in feats.items()) if r.count > 0}
        for kind, feats in sorted(values.items())
    }
    return Profile(kinds, tuple(sources), description)


def save_profile(profile: Profile, path: str | Path) -> None:
    from inspector.core.formats.atomic import write_atomic  # random temp name, O_EXCL|O_NOFOLLOW, fsync, rename

    text = json.dumps(profile.to_json(), indent=1, allow_nan=False) + "\n"
    write_atomic(Path(path), text, inputs=profile.sources, what="profile")


# ------------------------------------------------------------------------------------------------ references


@dataclass(frozen=True)
class LayerMatch:
    """A layer of the inspected model and its counterpart in a reference model."""

    name: str
    ref_name: str
    how: str  # "name" or "shape+order"


def match_layers(
    layers: Sequence[tuple[str, tuple[int, ...]]], ref_layers: Sequence[tuple[str, tuple[int, ...]]]
) -> tuple[list[LayerMatch], list[str]]:
    """Match layers ``(name, shape)`` to reference layers: by name when the name exists with the same shape,
    else the next unmatched reference layer of the same shape in storage order. Returns the matches (in the
    inspected model's order) and the names left unmatched."""
    ref_shape = {n: tuple(s) for n, s in ref_layers}
    used: set[str] = set()
    by_name: dict[str, LayerMatch] = {}
    for name, shape in layers:
        if ref_shape.get(name) == tuple(shape):
            by_name[name] = LayerMatch(name, name, "name")
            used.add(name)
    out: list[LayerMatch] = []
    unmatched: list[str] = []
    for name, shape in layers:
        if name in by_name:
            out.append(by_name[name])
            continue
        cand = next((r for r, s in ref_layers if r not in used and tuple(s) == tuple(shape)), None)
        if cand is None:
            unmatched.append(name)
            continue
        used.add(cand)
        out.append(LayerMatch(name, cand, "shape+order"))
    return out, unmatched


@dataclass(frozen=True)
class Reference:
    """A trusted reference model scanned on the inspected model's bin edges."""

    path: str
    model: ModelFile
    tensors: Mapping[str, Any]  # reference tensor name -> TensorScan
    matches: tuple[LayerMatch, ...]
    unmatched: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return Path(self.path).name

    def match_for(self, name: str) -> Optional[LayerMatch]:
        return next((m for m in self.matches if m.name == name), None)

    def describe_matching(self) -> str:
        by_name = sum(m.how == "name" for m in self.matches)
        by_shape = len(self.matches) - by_name
        text = f"baseline {self.label}: {by_name} layer(s) matched by name, {by_shape} by shape and order"
        if self.unmatched:
            shown = ", ".join(self.unmatched[:4]) + (" …" if len(self.unmatched) > 4 else "")
            text += f", {len(self.unmatched)} unmatched ({shown})"
        return text


def load_reference(
    path: str | Path,
    tensors: Sequence[Any],
    *,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
) -> Reference:
    """Open a reference model, match its float layers to ``tensors`` (the inspected model's TensorScans) and
    scan it with each matched layer's histogram on the inspected layer's edges."""
    from inspector.core.measure.scan import ScanOptions, scan_tensors

    ref_model = open_model(path)
    floats = [t for t in tensors if t.dtype.startswith(("F", "BF"))]
    ref_floats = [r for r in ref_model.tensors if r.dtype.is_float]
    matches, unmatched = match_layers([(t.name, t.shape) for t in floats], [(r.name, r.shape) for r in ref_floats])
    ranges: dict[str, tuple[float, float]] = {}
    by_name = {t.name: t for t in floats}
    for m in matches:
        h = by_name[m.name].stats.histogram
        if h is not None and h.bins:
            ranges[m.ref_name] = (float(h.edges[0]), float(h.edges[-1]))
    bins = next((by_name[m.name].stats.histogram.bins for m in matches if by_name[m.name].stats.histogram), 256)
    # The same reference on the same edges is asked for by the detectors and again by the report: scan it once.
    st = os.stat(ref_model.path)
    key = (str(Path(ref_model.path).resolve()), st.st_size, st.st_mtime_ns, bins, tuple(sorted(ranges.items())))
    with _REFERENCE_LOCK:
        cached = _REFERENCES.get(key)
    if cached is None:
        measured = scan_tensors(
            ref_model,
            ScanOptions(bins=bins, ranges=ranges, hash=False, detectors=False),
            progress=progress,
            cancel=cancel,
        )
        cached = {t.name: t for t in measured}
        with _REFERENCE_LOCK:
            _REFERENCES[key] = cached
            while len(_REFERENCES) > 4:
                _REFERENCES.pop(next(iter(_REFERENCES)))
    return Reference(str(path), ref_model, cached, tuple(matches), tuple(unmatched))


#: Scans of reference models keyed by file identity (path, size, mtime) and histogram edges; immutable values.
_REFERENCES: dict[tuple, dict[str, Any]] = {}
_REFERENCE_LOCK = threading.Lock()


def reference_histograms(reference: Reference) -> dict[str, Any]:
    """For each matched layer of the inspected model, the reference layer's histogram on the same edges."""
    return {m.name: reference.tensors[m.ref_name].stats.histogram for m in reference.matches}


# ------------------------------------------------------------------------------------------------ distances


@dataclass(frozen=True)
class LayerDistance:
    """How far a layer's value distribution is from its baseline's (exact zeros left out of both)."""

    ks: float
    wasserstein: float  # in units of the baseline layer's standard deviation
    count: int
    ref_count: int
    extra: Mapping[str, float] = field(default_factory=dict)


def _nonzero_counts(stats: Any) -> tuple[np.ndarray, np.ndarray]:
    """A tensor's histogram (edges, counts) with its exact zeros taken out of the bin that holds 0."""
    h = stats.histogram
    edges = np.asarray(h.edges, dtype=np.float64)
    counts = np.asarray(h.counts, dtype=np.float64).copy()
    if stats.zero:
        b = int(np.searchsorted(edges, 0.0, side="right") - 1)
        if 0 <= b < counts.size:
            counts[b] = max(0.0, counts[b] - stats.zero)
    return edges, counts


def histogram_distance(stats: Any, ref_stats: Any) -> Optional[LayerDistance]:
    """KS and 1-Wasserstein (in the baseline layer's σ) between two layers measured on the same bin edges.

    Both come from the histograms the scan measured over every element (exact zeros left out), so no file is
    read: KS is taken at the bin edges (within one bin's mass of the exact value), Wasserstein integrates the
    difference of the two piecewise-linear CDFs."""
    if stats.histogram is None or ref_stats.histogram is None:
        return None
    ea, ca = _nonzero_counts(stats)
    eb, cb = _nonzero_counts(ref_stats)
    if ea.shape != eb.shape or not np.array_equal(ea, eb):
        return None
    na, nb = ca.sum(), cb.sum()
    if na == 0 or nb == 0:
        return LayerDistance(math.nan, math.nan, int(na), int(nb))
    fa = np.concatenate([[0.0], np.cumsum(ca) / na])
    fb = np.concatenate([[0.0], np.cumsum(cb) / nb])
    ks = float(np.max(np.abs(fa - fb)))
    gaps = np.abs(fa - fb)
    w = float(np.sum((gaps[:-1] + gaps[1:]) / 2.0 * np.diff(ea)))
    sd = ref_stats.std
    return LayerDistance(ks, w / sd if sd and math.isfinite(sd) and sd > 0 else math.nan, int(na), int(nb))


def coarse_histograms(stats: Any, ref_stats: Any, bins: int = 64) -> dict[str, Any]:
    """Two layers' histograms measured on the same edges, merged into at most ``bins`` bins, for evidence."""
    edges = np.asarray(stats.histogram.edges, dtype=np.float64)
    a = np.asarray(stats.histogram.counts, dtype=np.int64)
    b = np.asarray(ref_stats.histogram.counts, dtype=np.int64)
    group = max(1, a.size // bins) if a.size % max(1, a.size // bins) == 0 else 1
    return {
        "edges": edges[::group].tolist() if (edges.size - 1) % group == 0 else edges.tolist(),
        "counts": a.reshape(-1, group).sum(axis=1).tolist(),
        "ref_counts": b.reshape(-1, group).sum(axis=1).tolist(),
    }


def gaussian_histogram(stats: Any, bins: int = 64) -> dict[str, Any]:
    """A layer's measured histogram (merged into at most ``bins`` bins) and the expected counts of a zero-mean
    Gaussian with the layer's RMS on the same edges."""
    from inspector.core.measure.features import erf

    h = stats.histogram
    if h is None or not h.bins:
        return {"edges": [], "counts": [], "ref_counts": []}
    counts = np.asarray(h.counts, dtype=np.int64)
    group = max(1, counts.size // bins) if counts.size % max(1, counts.size // bins) == 0 else 1
    edges = np.asarray(h.edges, dtype=np.float64)[::group]
    merged = counts.reshape(-1, group).sum(axis=1)
    finite = stats.count - stats.nan - stats.inf
    rms = math.sqrt(stats.std**2 + stats.mean**2) if math.isfinite(stats.std) and math.isfinite(stats.mean) else 0.0
    cdf = 0.5 * (1.0 + erf(edges / (rms * math.sqrt(2.0)))) if rms > 0 else (edges >= 0).astype(float)
    return {
        "edges": edges.tolist(),
        "counts": merged.tolist(),
        "ref_counts": np.rint(np.diff(cdf) * finite).astype(np.int64).tolist(),
    }
