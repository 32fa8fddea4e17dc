"""What "normal" looks like: a reference model, a fitted Gaussian, or a profile built from trusted models.

Song et al. note that a data holder "must have a prior understanding of what a normal parameter distribution
looks like". Three priors are offered, best first:

- a **reference model** (``--baseline REF``): a trusted model of the same architecture, its layers matched to
  the inspected model's by name, else by shape and order. Its histograms are computed on the inspected
  layer's bin edges (:func:`load_reference` rescans it with ``ScanOptions(ranges=...)``), and per-layer
  distances (Kolmogorov–Smirnov, Wasserstein) are computed from the values themselves;
- a **baseline profile** (``--profile``): per layer kind, the range each detector feature took over trusted
  models, built with ``model-inspector profile build``. Without ``--profile`` the built-in profile
  (``resources/profiles/*.json``: digits models, and real transformer, convnet and recurrent families) whose
  architecture signature best matches the model is chosen (:func:`select_profile`), and the scan says which
  and how well;
- a **fitted zero-mean Gaussian** per layer (σ = the layer's RMS), always available.
"""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
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
    """Per layer kind (dense, conv, embedding, norm, bias, other), the range of each feature.

    A profile may also name its model ``family`` and carry the architecture ``signature`` of the models it was
    built from (:func:`model_signature`), which :func:`select_profile` matches against a scanned model; a
    profile chosen that way carries the :class:`ProfileMatch` that chose it."""

    kinds: Mapping[str, Mapping[str, FeatureRange]]
    sources: tuple[str, ...] = ()
    description: str = ""
    path: Optional[str] = None
    name: str = ""
    family: str = ""
    signature: Mapping[str, float] = field(default_factory=dict)
    match: Optional[ProfileMatch] = None

    @property
    def label(self) -> str:
        return self.name or (Path(self.path).stem if self.path else "profile")

    def get(self, kind: str, feature: str) -> Optional[FeatureRange]:
        r = self.kinds.get(kind, {}).get(feature)
        return r if r is not None and r.count > 0 else None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"schema": PROFILE_SCHEMA}
        if self.name:
            doc["name"] = self.name
        if self.family:
            doc["family"] = self.family
        doc["description"] = self.description
        doc["sources"] = list(self.sources)
        if self.signature:
            doc["signature"] = {k: round(float(v), 6) for k, v in self.signature.items()}
        doc["kinds"] = {
            kind: {f: {"lo": r.lo, "hi": r.hi, "median": r.median, "count": r.count} for f, r in feats.items()}
            for kind, feats in self.kinds.items()
        }
        return doc

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
            signature = {str(k): float(v) for k, v in (doc.get("signature") or {}).items()}
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise InspectorError(f"malformed baseline profile ({e})", path=path, hint="Rebuild it") from None
        return cls(
            kinds,
            tuple(doc.get("sources", ())),
            str(doc.get("description", "")),
            path,
            name=str(doc.get("name", "")),
            family=str(doc.get("family", "")),
            signature=signature,
        )


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
    name: str = "",
    family: str = "",
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
) -> Profile:
    """A profile from trusted models: for every layer kind, the range of each feature over their layers, and the
    models' architecture signature (:func:`model_signature`, averaged) for :func:`select_profile` to match.

    Only the model's own weights count (training state such as optimizer moments has other statistics). Layers
    too small to judge (fewer than :data:`~inspector.core.measure.features.MIN_ORDER` non-zero values) are left
    out, so a profile's ranges are not widened by sampling noise.
    """
    from inspector.core.measure.features import MIN_ORDER
    from inspector.core.measure.scan import ScanOptions, scan_tensors

    if not paths:
        raise InspectorError("no trusted models given", hint="Name one or more trusted model files")
    values: dict[str, dict[str, list[float]]] = {}
    sources = []
    signatures: list[dict[str, float]] = []
    for i, path in enumerate(paths):
        check(cancel)
        report(progress, i, len(paths), f"profiling {Path(path).name}")
        model = open_model(path)
        tensors = scan_tensors(model, ScanOptions(detectors=False, hash=False), cancel=cancel)
        sources.append(Path(path).name)
        signatures.append(model_signature(tensors))
        for ts in tensors:
            f = ts.features
            if f is None or f.nonzero < MIN_ORDER or getattr(ts, "role", "weight") not in PROFILE_ROLES:
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
    return Profile(
        kinds, tuple(sources), description, name=name, family=family, signature=combine_signatures(signatures)
    )


# ------------------------------------------------------------------------------------------------ matching

#: Checkpoint roles whose tensors a profile describes: the model's own weights.
PROFILE_ROLES = ("weight", "ema")
#: Layer kinds an architecture signature weighs by parameter count.
SIGNATURE_KINDS = ("dense", "conv", "embedding", "norm", "bias", "other")
#: Name words of attention projections and of recurrent cells (the signature's two markers).
_ATTENTION_WORDS = ("attn", "attention", "query", "key", "value", "q_proj", "k_proj", "v_proj", "qkv", "c_attn")
_RECURRENT_WORDS = ("lstm", "gru", "rnn", "weight_ih", "weight_hh", "bias_ih", "bias_hh")
#: Below this architecture score a profile lends no layer kind to the one that matched best.
MIN_LEND_SCORE = 0.6
#: Below this score no built-in profile is close enough to the model's architecture to narrow its prior: the model
#: is judged against the envelope of every built-in profile (:func:`pooled_profile`).
MIN_MATCH_SCORE = 0.5


def _has(name: str, words: Sequence[str]) -> bool:
    low = name.lower()
    return any(w in low for w in words)


def model_signature(tensors: Sequence[Any]) -> dict[str, float]:
    """What a model is built of: the share of its float weights' parameters in each layer kind (dense, conv,
    embedding, norm, bias, other), in attention projections and in recurrent cells, and its size
    (``log10_params``). ``tensors`` are :class:`~inspector.core.measure.scan.TensorScan` s (name, shape, kind,
    dtype, role); training state is left out."""
    per = dict.fromkeys(SIGNATURE_KINDS, 0.0)
    attention = recurrent = total = 0.0
    for t in tensors:
        if getattr(t, "role", "weight") not in PROFILE_ROLES or not str(t.dtype).upper().startswith(("F", "BF")):
            continue
        n = float(math.prod(t.shape)) if t.shape else 1.0
        per[t.kind if t.kind in per else "other"] += n
        attention += n if _has(t.name, _ATTENTION_WORDS) else 0.0
        recurrent += n if _has(t.name, _RECURRENT_WORDS) else 0.0
        total += n
    if total <= 0:
        return {}
    sig = {k: v / total for k, v in per.items()}
    sig["attention"] = attention / total
    sig["recurrent"] = recurrent / total
    sig["log10_params"] = math.log10(total)
    return sig


def combine_signatures(signatures: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """A profile's signature: the mean shares of its models, and the range of their sizes."""
    sigs = [s for s in signatures if s]
    if not sigs:
        return {}
    keys = (*SIGNATURE_KINDS, "attention", "recurrent")
    out = {k: float(np.mean([s.get(k, 0.0) for s in sigs])) for k in keys}
    sizes = [s["log10_params"] for s in sigs]
    out["log10_params_lo"], out["log10_params_hi"] = float(min(sizes)), float(max(sizes))
    return out


def signature_score(model: Mapping[str, float], profile: Mapping[str, float]) -> float:
    """How well a model's architecture matches a profile's, in [0, 1] (1: the same mix of layer kinds, the same
    markers, a size within the profile's range).

    ``1 − (kind distance + marker distance) / 2``, where the kind distance is the total-variation distance of
    the parameter shares and the marker distance the larger difference in attention or recurrent share; times
    ``e^−gap``, where ``gap`` is how many decades the model's size lies outside the profile models' sizes."""
    if not model or not profile:
        return 0.0
    kinds = 0.5 * sum(abs(model.get(k, 0.0) - profile.get(k, 0.0)) for k in SIGNATURE_KINDS)
    markers = max(abs(model.get(k, 0.0) - profile.get(k, 0.0)) for k in ("attention", "recurrent"))
    size = model.get("log10_params", 0.0)
    lo = profile.get("log10_params_lo", size)
    hi = profile.get("log10_params_hi", size)
    gap = max(0.0, lo - size, size - hi)
    return max(0.0, 1.0 - (kinds + markers) / 2.0) * math.exp(-gap)


@dataclass(frozen=True)
class ProfileMatch:
    """Which profile judged a model, how it was chosen and how well it fits the model's architecture."""

    name: str
    family: str
    path: Optional[str]
    how: str  # "matched" (chosen among the built-in profiles) or "given" (--profile)
    #: in [0, 1]: signature_score times the share of judged layers whose kind the profile covers; NaN when the
    #: profile records no signature
    score: float
    layers_matched: int  # the model's judged layers whose kind the profile covers
    layers: int  # the model's judged layers (float weights big enough to judge)
    kinds_from: Mapping[str, str] = field(default_factory=dict)  # kind -> another profile that lent its ranges
    candidates: tuple[tuple[str, float], ...] = ()  # every built-in profile and its score, best first
    note: str = ""  # why the profile is not the best match itself (the pooled fallback)

    def describe(self) -> str:
        score = "no signature" if not math.isfinite(self.score) else f"match {self.score:.2f}"
        text = f"{self.name} ({self.how}, {score}, {self.layers_matched}/{self.layers} layers covered)"
        if self.note:
            text += f": {self.note}"
        if self.kinds_from:
            text += "; " + ", ".join(f"{k} layers from {v}" for k, v in sorted(self.kinds_from.items()))
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "path": self.path,
            "how": self.how,
            "score": round(self.score, 4) if math.isfinite(self.score) else None,
            "layers_matched": self.layers_matched,
            "layers": self.layers,
            "kinds_from": dict(self.kinds_from),
            "candidates": [{"name": n, "score": round(sc, 4)} for n, sc in self.candidates],
            "note": self.note,
        }


def _judged_kinds(tensors: Sequence[Any]) -> list[str]:
    """The layer kind of every tensor the detectors judge against a profile: weight matrices and kernels (dense,
    conv, embedding) of the model's own weights, big enough to judge."""
    from inspector.core.measure.features import MIN_ORDER

    out = []
    for t in tensors:
        f = getattr(t, "features", None)
        if f is None or not f.is_weight or f.nonzero < MIN_ORDER or getattr(t, "role", "weight") not in PROFILE_ROLES:
            continue
        out.append(f.kind)
    return out


def shipped_profiles() -> list[Profile]:
    """The built-in profiles (``resources/profiles/*.json``): the digits one and those built from real families."""
    folder = default_profile_path().parent
    if not folder.is_dir():
        return []
    return [_load_cached(str(p.resolve())) for p in sorted(folder.glob("*.json")) if p.is_file()]


def _covered(profile: Profile, kind: str) -> bool:
    return any(r.count > 0 for r in profile.kinds.get(kind, {}).values())


def select_profile(path: Optional[str], tensors: Sequence[Any]) -> Optional[Profile]:
    """The profile a scanned model is judged against, carrying its :class:`ProfileMatch`.

    With ``path`` (``--profile``) that profile, scored against the model. Without, the built-in profile whose
    architecture signature best matches the model's (:func:`signature_score` times the share of the model's
    judged layers whose kind it covers, the match score); a kind the best profile does not cover is taken from the next best
    profile that does, if that one's architecture alone (:func:`signature_score`) scores at least
    :data:`MIN_LEND_SCORE`. ``None`` when there is none."""
    sig = model_signature(tensors)
    kinds = _judged_kinds(tensors)

    def coverage(p: Profile) -> float:
        return sum(_covered(p, k) for k in kinds) / len(kinds) if kinds else 1.0

    def score(p: Profile) -> float:
        return signature_score(sig, p.signature) * coverage(p) if p.signature else math.nan

    if path:
        p = load_profile(path)
        if p is None:  # pragma: no cover (load_profile raises for a given path)
            return None
        m = ProfileMatch(p.label, p.family, p.path, "given", score(p), sum(_covered(p, k) for k in kinds), len(kinds))
        return replace(p, match=m)
    shipped = shipped_profiles()
    if not shipped:
        return None
    default = default_profile_path().resolve()

    def rank(p: Profile) -> tuple[float, bool]:
        sc = score(p)
        return (sc if math.isfinite(sc) else 0.0, Path(p.path or "") == default)

    ranked = sorted(shipped, key=rank, reverse=True)
    best = ranked[0]
    candidates = tuple((p.label, rank(p)[0]) for p in ranked)
    if rank(best)[0] < MIN_MATCH_SCORE:
        pooled = pooled_profile(shipped)
        m = ProfileMatch(
            pooled.label,
            "",
            pooled.path,
            "matched",
            rank(best)[0],
            sum(_covered(pooled, k) for k in kinds),
            len(kinds),
            candidates=candidates,
            note=f"no built-in profile matches well (best {best.label} {rank(best)[0]:.2f} < {MIN_MATCH_SCORE}): "
            "judged against the widest range of every built-in profile",
        )
        return replace(pooled, match=m)
    resolved = dict(best.kinds)
    lent: dict[str, str] = {}
    for kind in sorted(set(kinds)):
        if _covered(best, kind):
            continue
        # a lender is judged by its architecture alone: it covers this kind, not necessarily the others
        donor = next(
            (
                p
                for p in ranked[1:]
                if _covered(p, kind) and p.signature and signature_score(sig, p.signature) >= MIN_LEND_SCORE
            ),
            None,
        )
        if donor is not None:
            resolved[kind] = donor.kinds[kind]
            lent[kind] = donor.label
    matched = sum(1 for k in kinds if k in resolved and any(r.count > 0 for r in resolved[k].values()))
    m = ProfileMatch(
        best.label,
        best.family,
        best.path,
        "matched",
        score(best),
        matched,
        len(kinds),
        lent,
        candidates,
    )
    return replace(best, kinds=resolved, match=m)


def pooled_profile(profiles: Sequence[Profile]) -> Profile:
    """The envelope of several profiles: per kind and feature, the lowest ``lo``, the highest ``hi``, the median
    of the medians and the summed count. Its path is the folder of the built-in profiles."""
    kinds: dict[str, dict[str, FeatureRange]] = {}
    for kind in sorted({k for p in profiles for k in p.kinds}):
        feats: dict[str, list[FeatureRange]] = {}
        for p in profiles:
            for f, r in p.kinds.get(kind, {}).items():
                if r.count > 0:
                    feats.setdefault(f, []).append(r)
        kinds[kind] = {
            f: FeatureRange(
                min(r.lo for r in rs),
                max(r.hi for r in rs),
                float(np.median([r.median for r in rs])),
                sum(r.count for r in rs),
            )
            for f, rs in feats.items()
        }
    return Profile(
        kinds,
        tuple(s for p in profiles for s in p.sources),
        "Envelope of every built-in profile: " + ", ".join(p.label for p in profiles),
        str(default_profile_path().parent.resolve()),
        name="pooled",
    )


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
        return self._match_index.get(name)

    @cached_property
    def _match_index(self) -> Mapping[str, LayerMatch]:
        """Matches by inspected layer name (the first of a name), built once: the judge asks for every layer
        several times, and a search per question made judging quadratic in the layer count."""
        index: dict[str, LayerMatch] = {}
        for m in self.matches:
            index.setdefault(m.name, m)
        return index

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
