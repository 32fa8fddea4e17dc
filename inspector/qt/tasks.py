"""The work the GUI runs in its workers: plain functions over the core, returning immutable results.

Each function has the worker contract ``f(inputs, *, progress, cancel, emit) -> result`` (see
:mod:`inspector.qt.workers`). None of them touches a widget; they only call :mod:`inspector.core` and shape its
results for drawing (bin edges shared with a baseline, tiles laid out for an image).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional

import numpy as np

from ..core.dtypes import widen
from ..core.formats import ModelFile, TensorRef, open_model, read_tensor
from ..core.progress import CancelToken, check
from ..core.scan import ScanOptions, ScanResult, TensorScan, scan, scan_tensors

Progress = Callable[[int, int, str], None]
Emit = Callable[[Any], None]


# ------------------------------------------------------------------------------------------------ scanning


@dataclass(frozen=True)
class Opened:
    """Sent (yielded) as soon as a model's headers are read: the tensor list can be shown at once."""

    model: ModelFile


def open_only(path: str, *, progress: Progress, cancel: CancelToken, emit: Emit) -> ModelFile:
    """Read a model's headers (instant for safetensors; a restricted unpickle for PyTorch files)."""
    return open_model(path)


def scan_model(
    model: ModelFile, options: ScanOptions, *, progress: Progress, cancel: CancelToken, emit: Emit
) -> ScanResult:
    """Scan an opened model, yielding every :class:`TensorScan` as it finishes."""
    return scan(model, options, progress=progress, cancel=cancel, on_tensor=emit)


def open_and_scan(
    path: str, options: ScanOptions, *, progress: Progress, cancel: CancelToken, emit: Emit
) -> ScanResult:
    """Open ``path`` (headers only), yield :class:`Opened`, then every :class:`TensorScan` as it finishes."""
    model = open_model(path)
    emit(Opened(model))
    return scan(model, options, progress=progress, cancel=cancel, on_tensor=emit)


def only(model: ModelFile, names: list[str]) -> ModelFile:
    """The same model narrowed to some of its tensors (for scanning a few of them again)."""
    refs = tuple(model[n] for n in names)
    return replace(model, tensors=refs)


# ------------------------------------------------------------------------------------------------ histograms


@dataclass(frozen=True)
class HistogramData:
    """One layer's histogram and, when a baseline layer is matched, the baseline's counts on the same edges."""

    name: str
    edges: np.ndarray
    counts: np.ndarray
    baseline_name: Optional[str] = None
    baseline_counts: Optional[np.ndarray] = None
    baseline_label: str = ""


def shared_range(a: TensorScan, b: Optional[TensorScan]) -> tuple[float, float]:
    """The union of two layers' finite value ranges (bins of the model and its baseline must coincide)."""
    lo, hi = a.stats.min, a.stats.max
    if b is not None and math.isfinite(b.stats.min) and math.isfinite(b.stats.max):
        lo, hi = min(lo, b.stats.min), max(hi, b.stats.max)
    return lo, hi


def histogram(
    model: ModelFile,
    name: str,
    bins: int,
    baseline: Optional[ModelFile],
    baseline_name: Optional[str],
    value_range: tuple[float, float],
    baseline_label: str = "",
    *,
    progress: Progress,
    cancel: CancelToken,
    emit: Emit,
) -> HistogramData:
    """Histogram one layer (and its baseline layer) with ``bins`` bins over ``value_range``, in the core."""
    jobs: list[tuple[ModelFile, str]] = [(model, name)]
    if baseline is not None and baseline_name is not None:
        jobs.append((baseline, baseline_name))
    total = sum(2 * m[n].numel * m[n].dtype.itemsize for m, n in jobs) or 1
    done = 0
    out: list[TensorScan] = []
    for m, n in jobs:
        opts = ScanOptions(bins=bins, ranges={n: value_range}, hash=False, detectors=False, workers=2)
        base = done

        def prog(d: int, _t: int, _m: str, base: int = base) -> None:
            progress(base + d, total, "histogram")

        out.append(scan_tensors(only(m, [n]), opts, progress=prog, cancel=cancel)[0])
        done += 2 * m[n].numel * m[n].dtype.itemsize
    h = out[0].stats.histogram
    assert h is not None
    bh = out[1].stats.histogram if len(out) > 1 else None
    return HistogramData(
        name,
        h.edges,
        h.counts,
        baseline_name if bh is not None else None,
        bh.counts if bh is not None else None,
        baseline_label,
    )


# ------------------------------------------------------------------------------------------------ weights as image

#: What each weight becomes before tiling.
IMAGE_SOURCES = {
    "values": "values (min–max per tile)",
    "sign bytes": "signs → bytes (8 weights, MSB first)",
    "signs": "signs (one weight per pixel)",
    "low byte": "low byte of each weight",
    "low 16 bits": "low 16 bits → 2 bytes (MSB first)",
}
MAX_TILES = 400


@dataclass(frozen=True)
class TileImage:
    """An RGB image of tiles laid out in a grid, and what it shows."""

    rgb: np.ndarray  # (H, W, 3) uint8
    tiles: int
    available: int  # tiles the source holds from the start offset
    columns: int
    tile_shape: tuple[int, int]
    source_elements: int
    description: str


def _weight_vector(model: ModelFile, names: list[str], cancel: CancelToken) -> tuple[list[np.ndarray], list]:
    raws, dts = [], []
    for n in names:
        check(cancel)
        ref: TensorRef = model[n]
        raws.append(read_tensor(ref).reshape(-1))
        dts.append(ref.dtype)
    return raws, dts


def _source_values(raws: list[np.ndarray], dts: list, source: str) -> np.ndarray:
    parts = []
    for raw, dt in zip(raws, dts):
        if source == "values":
            parts.append(widen(raw, dt).astype(np.float32, copy=False))
        elif source in ("signs", "sign bytes"):
            x = widen(raw, dt)
            parts.append((x > 0).astype(np.uint8))
        elif source == "low byte":
            parts.append(raw.view(np.uint8)[:: raw.dtype.itemsize].astype(np.float32))
        elif source == "low 16 bits":
            if raw.dtype.itemsize < 2:
                raise ValueError(f"{dt.name} has fewer than 16 bits")
            b = raw.view(np.uint8).reshape(-1, raw.dtype.itemsize)[:, 1::-1]  # little-endian: byte 1 then 0
            parts.append(b.reshape(-1).astype(np.float32))
        else:
            raise ValueError(f"unknown image source {source!r}")
    v = np.concatenate(parts) if parts else np.empty(0, np.float32)
    if source == "sign bytes":
        n = (v.size // 8) * 8
        v = np.packbits(v[:n].astype(np.uint8), bitorder="big").astype(np.float32)
    return v.astype(np.float32, copy=False)


def tile_image(
    model: ModelFile,
    names: list[str],
    source: str,
    tile_shape: tuple[int, int],
    start_tile: int = 0,
    max_tiles: int = MAX_TILES,
    invert: bool = False,
    *,
    progress: Progress,
    cancel: CancelToken,
    emit: Emit,
) -> TileImage:
    """Lay the weights of ``names`` (concatenated in storage order) out as min–max scaled tiles.

    This is how correlated-value and sign encodings are read back (Song et al.): consecutive parameters form
    an image; each tile is rescaled on its own, and the inverted image is as likely as the upright one.
    """
    progress(0, 3, "reading weights")
    raws, dts = _weight_vector(model, names, cancel)
    progress(1, 3, "laying out tiles")
    v = _source_values(raws, dts, source)
    th, tw = tile_shape
    per = th * tw
    available = max(0, v.size // per - start_tile) if per else 0
    n = min(available, max_tiles)
    cols = max(1, math.ceil(math.sqrt(n))) if n else 1
    rows = max(1, math.ceil(n / cols)) if n else 1
    gap = 1
    h, w = rows * (th + gap) + gap, cols * (tw + gap) + gap
    rgb = np.empty((h, w, 3), dtype=np.uint8)
    rgb[:] = (70, 78, 96)
    if n:
        t = v[start_tile * per : (start_tile + n) * per].reshape(n, th, tw).astype(np.float64)
        t = np.where(np.isfinite(t), t, np.nan)
        lo = np.nanmin(t, axis=(1, 2), keepdims=True)
        hi = np.nanmax(t, axis=(1, 2), keepdims=True)
        span = np.where(hi > lo, hi - lo, 1.0)
        g = np.nan_to_num((t - lo) / span, nan=0.0)
        if invert:
            g = 1.0 - g
        g8 = np.clip(g * 255.0 + 0.5, 0, 255).astype(np.uint8)
        check(cancel)
        for i in range(n):
            r, c = divmod(i, cols)
            y, x = gap + r * (th + gap), gap + c * (tw + gap)
            rgb[y : y + th, x : x + tw, :] = g8[i][:, :, None]
    progress(3, 3, "")
    what = IMAGE_SOURCES.get(source, source)
    desc = f"{n} of {available} tiles {th}×{tw} from {v.size:,} elements · {what}" + (" · inverted" if invert else "")
    return TileImage(rgb, n, available, cols, (th, tw), int(v.size), desc)


# ------------------------------------------------------------------------------------------------ scrubbing

#: Elements of one layer a scrub preview looks at (the first ones, when a layer is larger).
PREVIEW_ELEMENTS = 16 << 20


@dataclass(frozen=True)
class ScrubPreview:
    """What scrubbing ``bits`` low bits does to one layer (measured on the scrubbed values, in the core's terms)."""

    name: str
    dtype: str
    bits: int
    elements: int
    partial: bool
    max_abs_change: float
    mean_rel_change: float
    changed_fraction: float
    edges: np.ndarray
    before: np.ndarray
    after: np.ndarray
    outside: int  # scrubbed values that left the original histogram's range


def glob_escape(name: str) -> str:
    """A tensor name as a glob matching only itself (scrub selects tensors by globs)."""
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


def scrub_preview(
    model: ModelFile,
    name: str,
    bits: int,
    seed: int,
    mode: str,
    edges: np.ndarray,
    *,
    progress: Progress,
    cancel: CancelToken,
    emit: Emit,
) -> ScrubPreview:
    """Scrub one layer in memory with the export's own stream (same seed, same bits) and measure the change."""
    from ..core.analysis.stats import histogram_chunk
    from ..core.scrub import scrub_chunk, tensor_rng

    ref = model[name]
    dt = ref.dtype
    raw = read_tensor(ref).reshape(-1)
    partial = raw.size > PREVIEW_ELEMENTS
    raw = raw[:PREVIEW_ELEMENTS]
    check(cancel)
    out = scrub_chunk(raw, dt, bits, tensor_rng(seed, name) if mode == "random" else None, mode=mode)
    check(cancel)
    src_u = raw.view(dt.uint)
    before = widen(raw, dt).astype(np.float64)
    after = widen(out.view(raw.dtype), dt).astype(np.float64)
    ok = np.isfinite(before) & np.isfinite(after)
    d = np.abs(after[ok] - before[ok])
    nz = ok & (before != 0)
    rel = np.abs(after[nz] - before[nz]) / np.abs(before[nz])
    check(cancel)
    finite_after = after[np.isfinite(after)]
    hist_after = histogram_chunk(finite_after, edges)
    outside = int(np.count_nonzero((finite_after < edges[0]) | (finite_after > edges[-1])))
    finite_before = before[np.isfinite(before)]
    hist_before = histogram_chunk(finite_before, edges)
    return ScrubPreview(
        name=name,
        dtype=dt.name,
        bits=bits,
        elements=int(raw.size),
        partial=partial,
        max_abs_change=float(d.max()) if d.size else 0.0,
        mean_rel_change=float(rel.mean()) if rel.size else 0.0,
        changed_fraction=float(np.count_nonzero(out != src_u) / raw.size) if raw.size else 0.0,
        edges=np.asarray(edges),
        before=np.asarray(hist_before),
        after=np.asarray(hist_after),
        outside=outside,
    )


@dataclass(frozen=True)
class ScrubPlan:
    """What the user asked for: bits per dtype, which tensors (empty: all), seed and mode."""

    bits: tuple[tuple[str, int], ...]
    tensors: tuple[str, ...]
    seed: int
    mode: str

    @property
    def bits_map(self) -> dict[str, int]:
        return dict(self.bits)

    def describe(self) -> str:
        b = ", ".join(f"{k} {v}" for k, v in self.bits if v)
        scope = f"{len(self.tensors)} selected tensor(s)" if self.tensors else "all float tensors"
        return f"{b or 'no bits'} · {scope} · {self.mode} · seed {self.seed}"


@dataclass(frozen=True)
class ScrubApplied:
    """A scrubbed version of the model (a verified temporary file) and its scan."""

    plan: ScrubPlan
    result: Any  # inspector.core.scrub.ScrubResult
    scan: ScanResult


def apply_scrub(
    model: ModelFile, plan: ScrubPlan, output: str, *, progress: Progress, cancel: CancelToken, emit: Emit
) -> ScrubApplied:
    """Scrub into ``output`` (verified by reading back), then scan the result for the verdict after."""
    from ..core.scrub import scrub_model

    def half(offset: int) -> Progress:
        return lambda d, t, m: progress(offset * t + d, 2 * t, m) if t else None

    result = scrub_model(
        model,
        output,
        bits=plan.bits_map,
        seed=plan.seed,
        tensors=[glob_escape(n) for n in plan.tensors],
        mode=plan.mode,
        progress=half(0),
        cancel=cancel,
    )
    after = scan(open_model(output), ScanOptions(hash=False), progress=half(1), cancel=cancel)
    return ScrubApplied(plan, result, after)


def export_scrub(
    model: ModelFile, plan: ScrubPlan, output: str, *, progress: Progress, cancel: CancelToken, emit: Emit
) -> Any:
    """Write the sanitized model to ``output`` (atomic, verified, never over the source): a ScrubResult."""
    from ..core.scrub import scrub_model

    return scrub_model(
        model,
        output,
        bits=plan.bits_map,
        seed=plan.seed,
        tensors=[glob_escape(n) for n in plan.tensors],
        mode=plan.mode,
        progress=progress,
        cancel=cancel,
    )


# ------------------------------------------------------------------------------------------------ accuracy


@dataclass(frozen=True)
class DeviceInfo:
    device: str
    name: str


def best_device(*, progress: Progress, cancel: CancelToken, emit: Emit) -> DeviceInfo:
    """The device ``auto`` picks (imports torch: run it in a worker, never at start-up)."""
    from ..core.evaluate import device_name, pick_device

    dev = pick_device("auto")
    return DeviceInfo(dev, device_name(dev))


@dataclass(frozen=True)
class AccuracyPair:
    original: Any  # EvalResult
    scrubbed: Any  # EvalResult against the original, or None


def evaluate_pair(
    model: ModelFile,
    scrubbed: Optional[str],
    data: str,
    arch: Optional[str],
    device: str,
    *,
    progress: Progress,
    cancel: CancelToken,
    emit: Emit,
) -> AccuracyPair:
    """Accuracy of the original and, when a scrubbed copy exists, its accuracy, agreement and KL against it."""
    from ..core.data import load_dataset
    from ..core.evaluate import evaluate

    ds = load_dataset(data)
    n = 2 if scrubbed else 1
    orig = evaluate(model, ds, arch=arch, device=device, cancel=cancel, progress=lambda d, t, m: progress(d, n * t, m))
    emit(AccuracyPair(orig, None))
    after = None
    if scrubbed:
        after = evaluate(
            scrubbed,
            ds,
            arch=arch,
            against=model,
            device=device,
            cancel=cancel,
            progress=lambda d, t, m: progress(t + d, 2 * t, m),
        )
    return AccuracyPair(orig, after)


def safe_bits(
    model: ModelFile,
    data: str,
    arch: Optional[str],
    device: str,
    seed: int,
    max_drop: float,
    min_agreement: float,
    *,
    progress: Progress,
    cancel: CancelToken,
    emit: Emit,
) -> Any:
    """The core's auto safe-bits search (scrub + evaluate per trial): an ``AutoResult`` with its curve."""
    from ..core.safe_bits import find_safe_bits

    return find_safe_bits(
        model,
        data,
        arch=arch,
        max_drop=max_drop,
        min_agreement=min_agreement,
        seed=seed,
        device=device,
        progress=progress,
        cancel=cancel,
    )


# ------------------------------------------------------------------------------------------------ report


def write_report_task(
    result: ScanResult,
    model: ModelFile,
    scrub_result: Any,
    evaluation: Any,
    curve: Any,
    path: str,
    *,
    progress: Progress,
    cancel: CancelToken,
    emit: Emit,
) -> str:
    """Build the report from what the app holds (never recomputing statistics) and write it atomically."""
    from ..core.report import build_report, write_report

    data = build_report(
        result, model=model, scrub=scrub_result, evaluation=evaluation, safe_bits_curve=curve, cancel=cancel
    )
    from .report_pdf import render_pdf

    return str(write_report(data, path, render_pdf=render_pdf))
