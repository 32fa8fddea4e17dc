"""``scan``: every tensor's statistics in a streaming, multi-threaded pass, then the detectors' findings.

The same function serves the CLI, the GUI worker and notebooks. Work is split into pieces (whole small tensors,
or ranges of a big tensor) that run on a thread pool; numpy releases the GIL in its loops, so the pieces run in
parallel. Memory stays bounded: each piece reads into one reused chunk buffer.
"""

from __future__ import annotations

import math
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional

import numpy as np

from inspector.core import prehash
from inspector.core.dtypes import widen
from inspector.core.formats.base import CHUNK_BYTES, ModelFile, TensorRef, iter_chunks, open_regular, sha256_files
from inspector.core.formats.model_file import open_model
from inspector.core.measure.buckets import MIN_VALUES, SplitPlan
from inspector.core.measure.features import FeatureAcc, Features, finish, unit_of
from inspector.core.measure.hidden import HiddenScan, measure_hidden
from inspector.core.measure.kernels import Kernels, histogram_from_table
from inspector.core.measure.kernels import plan as plan_kernels
from inspector.core.measure.layers import layer_kind
from inspector.core.measure.stats import (
    NEAR_ZERO_SIGMAS,
    Pass1,
    TensorStats,
    finalize,
    histogram_chunk,
    histogram_edges,
    lane_counts,
    pass1_chunk,
)
from inspector.core.measure.structure import confirm
from inspector.core.progress import CancelToken, ProgressCallback, ThreadSafeProgress, check, report


@dataclass(frozen=True)
class ScanOptions:
    """How to scan. The defaults suit the CLI and the GUI; tests shrink the chunk sizes."""

    bins: int = 256
    #: per-tensor histogram range (e.g. shared with a baseline); default: the tensor's own [min, max]
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    chunk_bytes: int = CHUNK_BYTES
    #: tensors larger than this are split into pieces that run on different threads
    piece_bytes: int = 32 << 20
    workers: int = 0  # 0: one per CPU core
    hash: bool = True
    #: reference models (paths) whose layers are matched to this model's
    baselines: tuple[str, ...] = ()
    #: baseline profile JSON; None: the built-in profile
    profile: Optional[str] = None
    #: architecture recipe and evaluation data, for behavioural probes (capacity abuse)
    arch: Optional[str] = None
    data: Optional[str] = None
    #: a sample of the training data, for the decisive data-aware detectors
    train_sample: Optional[str] = None
    #: the model's own base (same names and shapes), for the fine-tune audit of W − W_base
    base: Optional[str] = None
    detectors: bool = True
    #: whole-tensor detector features (order, phases, windows, grids) in the same pass as the statistics
    features: bool = True
    #: compiled kernels for float tensors (the module built for this machine, else numba's JIT): None automatic
    #: (from 1 MB of a dtype where the module loads, from 96 MB for the JIT, or already warm), True always, False
    #: never; MODEL_INSPECTOR_NO_JIT=1 forces numpy
    jit: Optional[bool] = None


@dataclass(frozen=True)
class TensorScan:
    """One tensor's identity and statistics."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    kind: str
    stats: TensorStats
    #: whole-tensor features for the detectors (float tensors only)
    features: Optional[Features] = None
    #: what the tensor is in its checkpoint: "weight", "ema", or training state ("optimizer", "counter"...)
    role: str = "weight"
    #: a block quantization the values were decoded from (GGUF "Q8_0", "Q4_0", "Q4_1"); ``dtype`` is then F32
    encoding: Optional[str] = None
    #: an integer tensor the second read found to be computed, not data (an index table: few distinct steps,
    #: its differences compress to almost nothing), as a description; ``None`` otherwise
    computed: Optional[str] = None
    #: a tensor of only 0 and 1 (a mask): counts of the 256 values of each 8 consecutive elements as bits, the
    #: first the highest (``measure/masks.py``); ``()`` for other tensors
    mask_bits: tuple[int, ...] = ()
    #: such a tensor over two windows or more: the counts of its window farthest from a chain of bits, and its first
    #: element (``masks.WINDOW_BYTES``)
    mask_window: tuple[int, ...] = ()
    mask_window_at: int = 0
    #: such a tensor of two axes or more: (rows along the first axis, rows not all one value, of those the ones
    #: equal to the one before them)
    mask_rows: tuple[int, ...] = ()
    #: such a tensor beside a float weight of its shape: (largest |w| it drops, smallest |w| it keeps); ``()``
    mask_magnitudes: tuple[float, ...] = ()

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "kind": self.kind,
            "role": self.role,
            "stats": self.stats.to_json(),
            "histogram": self.stats.histogram.to_json() if self.stats.histogram else {"edges": [], "counts": []},
            "features": self.features.to_json() if self.features is not None else None,
        }
        if self.encoding:
            out["encoding"] = self.encoding
        if self.computed:
            out["computed"] = self.computed
        if self.mask_bits:
            out["mask_bits"] = list(self.mask_bits)
        if self.mask_window:
            out["mask_window"] = {"start": self.mask_window_at, "bits": list(self.mask_window)}
        if self.mask_rows:
            out["mask_rows"] = list(self.mask_rows)
        if self.mask_magnitudes:
            out["mask_magnitudes"] = [v if math.isfinite(v) else None for v in self.mask_magnitudes]
        return out


def tensor_from_json(d: Mapping[str, Any]) -> TensorScan:
    """A :class:`TensorScan` from its scan/1 form."""
    feats = d.get("features")
    window, window_at = _mask_window(d.get("mask_window"))
    return TensorScan(
        name=str(d["name"]),
        dtype=str(d["dtype"]),
        shape=tuple(int(x) for x in d["shape"]),
        kind=str(d.get("kind") or "other"),
        stats=TensorStats.from_json(dict(d.get("stats") or {}), d.get("histogram")),
        features=Features.from_json(feats) if isinstance(feats, Mapping) else None,
        role=str(d.get("role") or "weight"),
        encoding=str(d["encoding"]) if d.get("encoding") else None,
        computed=str(d["computed"]) if d.get("computed") else None,
        mask_bits=_counts(d.get("mask_bits"), "mask_bits", (0, 256)),
        mask_window=window,
        mask_window_at=window_at,
        mask_rows=_counts(d.get("mask_rows"), "mask_rows", (0, 3)),
        mask_magnitudes=_magnitudes(d.get("mask_magnitudes")),
    )


#: Counts in scan/1 are below this (a tensor has at most 2^40 elements).
_MAX_COUNT = 1 << 62


def _counts(v: Any, what: str, sizes: tuple[int, ...]) -> tuple[int, ...]:
    """A list of counts from scan/1 (absent: ``()``), of one of ``sizes`` lengths; ``ValueError`` otherwise."""
    if v is None:
        return ()
    if not isinstance(v, list) or len(v) not in sizes:
        raise ValueError(f"{what}: a list of {' or '.join(map(str, sizes))} counts expected")
    if not all(type(c) is int and 0 <= c < _MAX_COUNT for c in v):
        raise ValueError(f"{what}: counts must be integers from 0 to 2^62")
    return tuple(v)


def _mask_window(v: Any) -> tuple[tuple[int, ...], int]:
    """``mask_window`` from scan/1: ``{"start": N, "bits": [256 counts]}`` (absent: no window)."""
    if v is None:
        return (), 0
    if not isinstance(v, dict):
        raise ValueError("mask_window: an object with start and bits expected")
    start = v.get("start", 0)
    if type(start) is not int or not 0 <= start < _MAX_COUNT:
        raise ValueError("mask_window.start: an element index expected")
    return _counts(v.get("bits"), "mask_window.bits", (0, 256)), start


def _magnitudes(pair: Any) -> tuple[float, ...]:
    """``mask_magnitudes`` from scan/1 (``null`` for a mask that drops or keeps nothing)."""
    if pair is None:
        return ()
    if not isinstance(pair, list) or len(pair) != 2:
        raise ValueError("mask_magnitudes: a pair expected")
    out = []
    for x, missing in zip(pair, (-math.inf, math.inf)):
        if x is None:
            out.append(missing)
            continue
        try:
            f = float(x) if type(x) in (int, float) else math.nan
        except OverflowError:  # an integer past any float
            f = math.nan
        if not math.isfinite(f):
            raise ValueError("mask_magnitudes: finite numbers or null expected")
        out.append(f)
    return tuple(out)


@dataclass(frozen=True)
class ModelInfo:
    path: str
    format: str
    sha256: Optional[str]
    tensors: int
    parameters: int
    bytes: int
    metadata: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "sha256": self.sha256,
            "tensors": self.tensors,
            "parameters": self.parameters,
            "bytes": self.bytes,
            "metadata": dict(self.metadata),
        }


@dataclass(frozen=True)
class Measurement:
    """What one streaming pass over a model measured: plain data, enough to judge the model without reading it
    again. ``threats`` are the dangerous calls the reader found and refused (never ran)."""

    model: ModelInfo
    tensors: tuple[TensorScan, ...]
    file_bytes: int = 0
    threats: tuple[Any, ...] = ()
    bins: int = 256
    seconds: float = 0.0
    #: the bytes no tensor shows, measured (see :mod:`inspector.core.measure.hidden`)
    hidden: tuple[HiddenScan, ...] = ()

    def tensor(self, name: str) -> TensorScan:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(name)

    @classmethod
    def from_scan_json(cls, doc: Mapping[str, Any]) -> Measurement:
        """The measurement inside a scan/1 document, to judge it again without the model file. Raises
        ``ValueError`` (or ``KeyError``/``TypeError``) for a document that does not have the scan/1 shape."""
        m = doc["model"]
        info = ModelInfo(
            path=str(m["path"]),
            format=str(m["format"]),
            sha256=m.get("sha256"),
            tensors=int(m["tensors"]),
            parameters=int(m["parameters"]),
            bytes=int(m["bytes"]),
            metadata={str(k): str(v) for k, v in (m.get("metadata") or {}).items()},
        )
        cov = doc.get("coverage") or {}
        return cls(
            model=info,
            tensors=tuple(tensor_from_json(t) for t in doc["tensors"]),
            file_bytes=int(cov.get("file_bytes") or 0),
            threats=tuple(doc.get("threats") or ()),
            bins=int((doc.get("inputs") or {}).get("bins") or 256),
            hidden=tuple(HiddenScan.from_json(h) for h in doc.get("hidden") or ()),
        )


# --------------------------------------------------------------------------------------------------------------


def _pieces(ref: TensorRef, piece_bytes: int) -> list[tuple[int, int]]:
    """Element ranges of a tensor for the pool, each starting on a unit boundary (kernel, row)."""
    n = ref.numel
    step = max(1, piece_bytes // ref.dtype.itemsize)
    unit = unit_of(ref.shape)
    if unit > 1:
        step = max(unit, step // unit * unit)
    return [(s, min(n, s + step)) for s in range(0, n, step)] or [(0, 0)]


def _sub(ref: TensorRef, start: int, stop: int) -> TensorRef:
    """A contiguous element range of a tensor as its own flat reference."""
    if not ref.contiguous or (start == 0 and stop == ref.numel):  # the whole tensor: itself (reads the same)
        return ref
    isz = ref.dtype.itemsize
    return replace(ref, shape=(stop - start,), offset=ref.offset + start * isz, nbytes=(stop - start) * isz)


def low_bits_not_judged(f: Features) -> Features:
    """The features of values decoded from a block quantization (scale × small integer), with the low-bit
    measurements taken out: their low mantissa bits are fixed by the scale×int grid, not stored, so the bit-plane,
    low-byte, rounding and constant-spread tests have nothing to judge. Value-level features (sign, order,
    periods, moments) stay."""
    return replace(
        f,
        rounded_bits=0,
        gap_planes=(),
        plane=-1,
        plane_ones=math.nan,
        plane_expected=math.nan,
        plane_deviation=math.nan,
        short_share=0.0,
        judged=0,
        low_entropy_expected=math.nan,
        low_entropy=math.nan,
        low_chi_effect=math.nan,
        low_chi_z=math.nan,
        low_compress=math.nan,
        relative_spread=math.nan,
        window_start=-1,
        window_stop=-1,
        window_judged=0,
        window_entropy=math.nan,
        window_chi_effect=math.nan,
        window_chi_z=math.nan,
        window_compress=math.nan,
    )


#: Tensors up to this size are read in runs of neighbours (one read of up to BATCH_BYTES for both passes of
#: all of them, one pool task): a model of many small tensors pays no open, read and task per tensor and pass.
SMALL_BYTES = 4 << 20
BATCH_BYTES = 8 << 20
BATCH_TENSORS = 512
#: Bytes between neighbours that a run reads over rather than starting another run.
BATCH_GAP = 64 << 10
#: Runs of tensors smaller than this on average are mostly Python work, under the GIL: one worker at a time
#: measures them and the others wait on a lock, rather than trade the GIL back and forth (20,000 one-element
#: tensors: 150,000 context switches and 1.7 s of system time on two threads, 200 and 0.2 s on one).
GIL_BOUND_BYTES = 256 << 10
#: Big tensors measured at once, each fanning its pieces out from a thread of its own: while one waits for its
#: last piece or finishes its features, the pieces of the next keep the pool busy.
BIG_AT_ONCE = 2


def _batchable(ref: TensorRef) -> bool:
    size = ref.numel * ref.dtype.itemsize
    return ref.contiguous and getattr(ref, "encoding", None) is None and 0 < size <= SMALL_BYTES


def _groups(refs: list[TensorRef]) -> list[list[TensorRef]]:
    """Small tensors as runs of neighbours in one file (in file order) to read at once; every other tensor alone."""
    alone = [[r] for r in refs if not _batchable(r)]
    runs: list[list[TensorRef]] = []
    lo = hi = 0
    for r in sorted((r for r in refs if _batchable(r)), key=lambda r: (str(r.path), r.offset)):
        end = r.offset + r.numel * r.dtype.itemsize
        last = runs[-1][-1] if runs else None
        if (
            last is not None
            and (last.path, last.file_id) == (r.path, r.file_id)
            and hi <= r.offset <= hi + BATCH_GAP
            and end - lo <= BATCH_BYTES
            and len(runs[-1]) < BATCH_TENSORS
        ):
            runs[-1].append(r)
            hi = max(hi, end)
        else:
            runs.append([r])
            lo, hi = r.offset, end
    return runs + alone


def _chunks_of(data: np.ndarray, chunk_bytes: int, cancel) -> Iterator[np.ndarray]:
    """Values already read, in the chunks :func:`iter_chunks` reads them in (same bounds: the same results)."""
    step = max(1, chunk_bytes // data.dtype.itemsize)
    for s in range(0, data.size, step):
        check(cancel)
        yield data[s : s + step]


def _quiet(fn: Callable) -> Callable:
    """Run ``fn`` with numpy's floating-point warnings off: overflow in the moments of values near the float
    limit is expected and shows as inf in the statistics (errstate is per thread, so each piece sets it)."""

    def wrapper(*args, **kwargs):
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)

    return wrapper


def _with_features(chunks, acc: Optional[FeatureAcc], dt) -> Any:
    """Pass the chunks through, folding each into the feature accumulator before the consumer sees it."""
    for chunk in chunks:
        if acc is not None:
            acc.add(chunk, dt)
        yield chunk


@_quiet
def _p1(
    ref: TensorRef,
    opts: ScanOptions,
    cancel,
    tick,
    kern: Optional[Kernels] = None,
    start: int = 0,
    unit: int = 0,
    data: Optional[np.ndarray] = None,
) -> tuple[Pass1, Optional[FeatureAcc]]:
    acc = FeatureAcc(start=start, unit=unit) if opts.features and ref.dtype.is_float else None
    if data is None:
        raw = iter_chunks(ref, opts.chunk_bytes, reuse=True, cancel=cancel)
    else:
        raw = _chunks_of(data, opts.chunk_bytes, cancel)
    if kern is not None and kern.covers(ref.dtype):
        return kern.pass1(raw, ref.dtype, tick, acc), acc
    chunks = _with_features(raw, acc, ref.dtype)
    p = Pass1()
    for chunk in chunks:
        p = p.merge(pass1_chunk(chunk, ref.dtype))
        tick(chunk.nbytes)
    return p, acc


def _reread(ref: TensorRef, opts: ScanOptions, cancel, data: Optional[np.ndarray]) -> Iterator[np.ndarray]:
    """The chunks of a tensor's second read: from the file, or from the values already read."""
    if data is None:
        return iter_chunks(ref, opts.chunk_bytes, reuse=True, cancel=cancel)
    return _chunks_of(data, opts.chunk_bytes, cancel)


@_quiet
def _p2_split(
    ref: TensorRef,
    opts: ScanOptions,
    plan: SplitPlan,
    edges: np.ndarray,
    span: tuple[float, float],
    cancel,
    tick,
    kern: Kernels,
    data: Optional[np.ndarray] = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    return kern.split(_reread(ref, opts, cancel, data), plan, edges, span, tick)


@_quiet
def _p2(
    ref: TensorRef,
    opts: ScanOptions,
    edges: np.ndarray,
    thr: float,
    cancel,
    tick,
    kern: Optional[Kernels] = None,
    span: tuple[float, float] = (0.0, 1.0),
    data: Optional[np.ndarray] = None,
) -> tuple[np.ndarray, int]:
    dt = ref.dtype
    chunks = _reread(ref, opts, cancel, data)
    if kern is not None and kern.covers(dt) and kern.bins(edges, span, dt):
        return kern.pass2(chunks, dt, edges, span, thr, tick)
    bins = len(edges) - 1
    counts = np.zeros(bins, dtype=np.int64)
    near = 0
    for chunk in chunks:
        x = widen(chunk, dt)
        counts += histogram_chunk(x, edges)
        if math.isfinite(thr):
            near += int(np.count_nonzero(np.abs(x) <= thr))
        tick(chunk.nbytes)
    return counts, near


class _Scanner:
    def __init__(self, model: ModelFile, opts: ScanOptions, progress, cancel, on_tensor) -> None:
        self.model = model
        self.opts = opts
        self.cancel = cancel
        self.on_tensor = on_tensor
        self.prog = ThreadSafeProgress(progress, max(1, 2 * model.nbytes))
        workers = opts.workers or os.cpu_count() or 1
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scan")
        self.gil_bound = threading.Lock()  # see GIL_BOUND_BYTES
        self.batch_buf = threading.local()  # each worker's buffer for runs of small tensors (see _run)
        by_dtype: dict[str, int] = {}
        for r in model.tensors:
            by_dtype[r.dtype.name] = by_dtype.get(r.dtype.name, 0) + r.numel * r.dtype.itemsize
        self.kern = plan_kernels(opts.jit, by_dtype, lambda message: self.prog.add(0, message))

    def tick(self, nbytes: int) -> None:
        self.prog.add(nbytes, "")

    def tensor(self, ref: TensorRef, data: Optional[np.ndarray] = None) -> TensorScan:
        """Scan one tensor, fanning its pieces out to the pool when it is big. ``data``: its raw values, flat,
        already read (a small contiguous tensor read with its neighbours); both passes read them, not the file."""
        opts = self.opts
        spans = _pieces(ref, opts.piece_bytes) if ref.contiguous else [(0, ref.numel)]
        pieces = [_sub(ref, a, b) for a, b in spans] if ref.contiguous else [ref]
        datas: list[Optional[np.ndarray]] = [data[a:b] for a, b in spans] if data is not None else [None] * len(pieces)
        p1 = Pass1()
        acc: Optional[FeatureAcc] = None
        jobs = list(zip(pieces, (a for a, _ in spans), datas))
        unit = unit_of(ref.shape)  # a non-contiguous tensor is read whole, in logical order: same units

        def one(j: tuple) -> tuple[Pass1, Optional[FeatureAcc]]:
            return _p1(j[0], opts, self.cancel, self.tick, self.kern, j[1], unit, j[2])

        for part, part_acc in self._map(one, jobs):
            p1 = p1.merge(part)
            if part_acc is not None:
                acc = part_acc if acc is None else acc.merge(part_acc)
        check(self.cancel)
        lo, hi = opts.ranges.get(ref.name, (p1.min, p1.max))
        with np.errstate(all="ignore"):
            edges = histogram_edges(lo, hi, opts.bins, ref.dtype)
        std = math.sqrt(p1.moments.m2 / p1.moments.n) if p1.moments.n else math.nan
        thr = NEAR_ZERO_SIGMAS * std
        hist, near = self._pass2(ref, pieces, p1, edges, thr, (lo, hi), datas)
        if p1.tables is not None:  # all the statistics and features read of them: 3 × 256 counts a lane, once
            p1.tables = [lane_counts(t) for t in p1.tables]
        stats = finalize(p1, ref.dtype, hist, edges, near)
        role = getattr(ref, "role", "weight")
        # training state (optimizer moments, counters) is measured like everything else but not judged by the
        # expectations of weights: a momentum buffer fed by ReLUs is nearly one-signed
        kind = layer_kind(ref.name, ref.shape) if role in ("weight", "ema") else "state"
        feats = None
        if acc is not None and ref.numel:
            with np.errstate(all="ignore"):
                feats = finish(acc, stats, p1.tables, ref.name, kind, ref.dtype)
        encoding = getattr(ref, "encoding", None)
        if feats is not None and encoding:
            feats = low_bits_not_judged(feats)
        result = TensorScan(ref.name, ref.dtype.name, ref.shape, kind, stats, feats, role, encoding)
        if self.on_tensor is not None:
            self.on_tensor(result)
        return result

    def _pass2(
        self,
        ref: TensorRef,
        pieces: list[TensorRef],
        p1: Pass1,
        edges: np.ndarray,
        thr: float,
        span: tuple[float, float],
        datas: list[Optional[np.ndarray]],
    ) -> tuple[np.ndarray, int]:
        """Histogram and near-zero count. A 16-bit float tensor's pass-1 pattern table counts every distinct
        value, so it gives both exactly without reading the tensor a second time."""
        dt = ref.dtype
        if dt.is_float and dt.itemsize == 2 and p1.tables is not None:
            try:
                with np.errstate(all="ignore"):
                    hist, near = histogram_from_table(p1.tables[0], dt, edges, span, thr)
            except ValueError:  # edges widened beyond the span (a range of a few ulps): bin the values
                pass
            else:
                self.tick(ref.numel * dt.itemsize)
                return hist, near
        opts, cancel, kern = self.opts, self.cancel, self.kern
        # (a tensor under the plan's size is binned plainly: no need to sum its table to learn that)
        plan = kern.split_plan(p1.tables, dt, edges, span, thr) if kern is not None and p1.count >= MIN_VALUES else None
        if plan is not None and kern is not None:  # a float32 tensor: most of its histogram is in pass 1's table
            k = kern

            def split(j: tuple) -> tuple[np.ndarray, np.ndarray, int]:
                return _p2_split(j[0], opts, plan, edges, span, cancel, self.tick, k, j[1])

            parts = self._map(split, list(zip(pieces, datas)))
            above = np.sum([a for a, _, _ in parts], axis=0)
            each = np.sum([e for _, e, _ in parts], axis=0)
            return plan.finish(above, each, sum(n for _, _, n in parts))
        hist = np.zeros(len(edges) - 1, dtype=np.int64)
        near = 0

        def one(j: tuple) -> tuple[np.ndarray, int]:
            return _p2(j[0], opts, edges, thr, cancel, self.tick, kern, span, j[1])

        for h, nz in self._map(one, list(zip(pieces, datas))):
            hist += h
            near += nz
        return hist, near

    def group(self, refs: list[TensorRef]) -> list[TensorScan]:
        """Scan a run of small neighbouring tensors of one file (see :func:`_groups`) with one read, or one
        tensor alone."""
        if len(refs) == 1 and not _batchable(refs[0]):
            return [self.tensor(refs[0])]
        if sum(r.numel * r.dtype.itemsize for r in refs) < GIL_BOUND_BYTES * len(refs):
            with self.gil_bound:  # its tensors are small, hence single pieces: nothing waits on the pool here
                return self._run(refs)
        return self._run(refs)

    def _run(self, refs: list[TensorRef]) -> list[TensorScan]:
        check(self.cancel)
        lo = min(r.offset for r in refs)
        size = max(r.offset + r.numel * r.dtype.itemsize for r in refs) - lo
        # one buffer per worker, reused run after run (a fresh one costs its pages again: 20 ms of system time on
        # 300 tensors of 0.87 MB); what the pass keeps of a tensor never points into its chunks
        own = getattr(self.batch_buf, "buf", None)
        if own is None or own.size < size:
            own = self.batch_buf.buf = np.empty(max(size, BATCH_BYTES), dtype=np.uint8)
        buf = own[:size]
        try:
            with open_regular(refs[0].path, expect=refs[0].file_id) as f:
                f.seek(lo)
                got = f.readinto(memoryview(buf))  # type: ignore[arg-type]  # ndarray is a buffer
        except OSError:
            got = -1
        if got != buf.size:  # each tensor's own read says what is wrong
            return [self.tensor(r) for r in refs]
        out = []
        for r in refs:
            st = r.dtype.storage
            raw = buf[r.offset - lo : r.offset - lo + r.numel * st.itemsize]
            # the kernels take aligned, writable arrays (as the chunk reads give): copy the rare unaligned one
            data = raw.view(st) if raw.ctypes.data % st.alignment == 0 else raw.copy().view(st)
            out.append(self.tensor(r, data))
        return out

    def _map(self, fn: Callable, items: list) -> list:
        if len(items) == 1:
            return [fn(items[0])]
        futures = [self.pool.submit(fn, it) for it in items]
        return [f.result() for f in futures]

    def run(self) -> tuple[TensorScan, ...]:
        refs = self.model.tensors
        is_big = [r.contiguous and r.numel * r.dtype.itemsize > self.opts.piece_bytes for r in refs]
        big = [r for r, b in zip(refs, is_big) if b]
        small = [r for r, b in zip(refs, is_big) if not b]
        # Small tensors run on the pool, in runs of neighbours read at once; a big tensor's pieces are fanned out
        # from a thread outside the pool (never from inside a pool task, which could starve the pool): this one,
        # or a few at once.
        futures = [self.pool.submit(self.group, g) for g in _groups(small)]
        lead = ThreadPoolExecutor(BIG_AT_ONCE, thread_name_prefix="scan-big") if len(big) > 1 < BIG_AT_ONCE else None
        leads = [(r.name, lead.submit(self.tensor, r)) for r in big] if lead is not None else []
        done: dict[str, TensorScan] = {}
        try:
            if lead is None:
                for r in big:
                    done[r.name] = self.tensor(r)
            for name, lf in leads:
                done[name] = lf.result()
            for fut in futures:
                for t in fut.result():
                    done[t.name] = t
        except BaseException:
            if self.cancel is not None:
                self.cancel.cancel()
            pending: list[Future] = [*futures, *(f for _, f in leads)]
            for pf in pending:
                pf.cancel()
            raise
        finally:
            if lead is not None:
                lead.shutdown(wait=True, cancel_futures=True)
            self.pool.shutdown(wait=True, cancel_futures=True)
        return tuple(done[r.name] for r in refs)


def scan_tensors(
    model: ModelFile,
    options: ScanOptions = ScanOptions(),
    *,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
    on_tensor: Optional[Callable[[TensorScan], None]] = None,
) -> tuple[TensorScan, ...]:
    """Statistics of every tensor of ``model`` in storage order; ``on_tensor`` is called as each finishes."""
    # a token of our own, so that stopping the pool after an error leaves the caller's token as it was
    return _Scanner(model, options, progress, CancelToken(cancel), on_tensor).run()


def measure(
    model: ModelFile | str | Path,
    options: ScanOptions = ScanOptions(),
    *,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
    on_tensor: Optional[Callable[[TensorScan], None]] = None,
) -> Measurement:
    """One streaming pass over every element of every tensor: statistics, detector features and the file's
    SHA-256 (on its own thread, from the page cache the pass fills). Returns plain, serialisable data.

    ``progress(done, total, message)`` is called from worker threads; ``cancel`` stops the pass within a chunk
    (raising :class:`~inspector.core.progress.Cancelled`). Raises
    :class:`~inspector.core.errors.InspectorError` for unreadable files.
    """
    t0 = time.perf_counter()
    mf = model if isinstance(model, ModelFile) else open_model(model)
    cancel = CancelToken(cancel)  # ours: cancelled to stop the hashing thread, never the caller's
    done = max(1, 2 * mf.nbytes)  # the statistics' own total: later phases keep the bar full, say what runs
    digest: Optional[str] = None
    hasher: Optional[ThreadPoolExecutor] = None
    hash_future: Optional[Future] = None
    # the hash a front end started before it loaded anything (same files, unchanged), else one of our own
    early = prehash.claim(mf.files) if options.hash else None
    if options.hash and early is None:
        hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256")
        hash_future = hasher.submit(sha256_files, mf.files, cancel=cancel)
    try:
        tensors = scan_tensors(mf, options, progress=progress, cancel=cancel, on_tensor=on_tensor)
        if early is not None:
            if not early.done():
                report(progress, done, done, "finishing SHA-256")
            try:
                digest = early.result()
            except prehash.Stopped:  # a file changed under it: hash what is there now, as the pass read it
                digest = sha256_files(mf.files, cancel=cancel)
        if hash_future is not None:
            if not hash_future.done():
                report(progress, done, done, "finishing SHA-256")
            digest = hash_future.result()
    finally:
        if early is not None and not early.done():
            early.cancel()
        if hasher is not None:
            if hash_future is not None and not hash_future.done():
                cancel.cancel()
            hasher.shutdown(wait=True)
    info = ModelInfo(
        path=str(mf.path),
        format=mf.format,
        sha256=digest,
        tensors=len(mf.tensors),
        parameters=mf.parameters,
        bytes=mf.nbytes,
        metadata=dict(mf.metadata),
    )
    tensors = confirm(mf, tensors, cancel)  # row and column structure of the tensors near a sign or period threshold
    return Measurement(
        model=info,
        tensors=tensors,
        file_bytes=_file_bytes(mf),
        threats=tuple(getattr(mf, "threats", ()) or ()),
        bins=options.bins,
        seconds=time.perf_counter() - t0,
        hidden=measure_hidden(getattr(mf, "hidden", ()), cancel),
    )


def _file_bytes(mf: ModelFile) -> int:
    total = 0
    for f in mf.files or (mf.path,):
        try:
            total += os.stat(f).st_size
        except OSError:
            pass
    return total
