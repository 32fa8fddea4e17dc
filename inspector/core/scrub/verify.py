"""Reading a scrubbed export back: every tensor checked against its source, and the file's SHA-256 taken from
the same read. Copies must be bit-identical; scrubbed tensors may differ only in their low ``k`` bits
(``random``) or must equal the correctly rounded source (``round``)."""

from __future__ import annotations

import hashlib
import queue
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np

from inspector.core.dtypes import DType, widen
from inspector.core.formats import iter_chunks
from inspector.core.formats.safetensors import open_safetensors
from inspector.core.progress import CancelToken, ProgressCallback, report
from inspector.core.scrub.bits import TensorPlan, aligned_chunk_bytes, scrub_chunk


@dataclass(frozen=True)
class TensorChange:
    """What scrubbing did to one tensor (measured on the file read back)."""

    name: str
    dtype: str
    bits: int
    scrubbed: bool
    max_abs_change: float = 0.0
    mean_rel_change: float = 0.0  # over finite, normal (not zero or subnormal) source elements
    changed_fraction: float = 0.0  # elements whose raw value changed


@dataclass(frozen=True)
class Verification:
    """The read-back check: every tensor's name, dtype and shape; copies bit-identical; scrubbed tensors
    equal to the source outside the low ``k`` bits (``random``) or to the correctly rounded source (``round``)."""

    ok: bool
    tensors_checked: int
    bytes_checked: int
    problems: tuple[str, ...] = ()


class _Hasher:
    """SHA-256 of the buffers handed to :meth:`update`, in order, computed on a thread (``hashlib`` releases
    the GIL) so that it overlaps the caller's work. A buffer belongs to the hasher once handed over."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self._q: queue.Queue = queue.Queue(maxsize=8)
        self.nbytes = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._q.get()) is not None:
            self._h.update(item)

    def update(self, data: bytes | np.ndarray) -> None:
        self._q.put(data)
        self.nbytes += len(data) if isinstance(data, bytes) else data.nbytes

    def close(self) -> None:
        """Wait for every queued buffer (safe to call twice)."""
        if self._thread.is_alive():
            self._q.put(None)
            self._thread.join()

    def hexdigest(self) -> str:
        self.close()
        return self._h.hexdigest()


# ------------------------------------------------------------------------------------------ read-back


#: Elements per verification step: the float work stays in cache and its buffers are reused.
VERIFY_ELEMENTS = 1 << 18


class ChangeStats:
    """Max |Δw| and Σ |Δw|/|w| of one tensor, chunk by chunk, in reused float buffers (bf16/fp16/fp8 are
    widened one chunk at a time). Elements whose source or result is not finite are left out; the relative
    change counts only normal source values (a subnormal's low bits are its whole value)."""

    def __init__(self, dt: DType, n: int) -> None:
        self.dt = dt
        ft = np.float64 if dt.name == "F64" else np.float32
        self.a = np.empty(n, ft)
        self.b = np.empty(n, ft)
        self.tiny = 2.0 ** (2 - (1 << (dt.exponent_bits - 1)))  # smallest normal: 2^(1 - bias)
        self.max = 0.0
        self.rel_sum = 0.0
        self.rel_n = 0

    def _widen(self, u: np.ndarray, buf: np.ndarray) -> np.ndarray:
        name = self.dt.name
        if name in ("F32", "F64"):
            return u.view(buf.dtype)
        if name == "BF16":
            np.left_shift(u, np.uint32(16), out=buf.view(np.uint32))
        elif name == "F16":
            np.copyto(buf, u.view(np.float16))
        else:
            np.take(widen(np.arange(256, dtype=np.uint8), self.dt), u, out=buf)
        return buf

    def add(self, ua: np.ndarray, ub: np.ndarray) -> None:
        n = ua.size
        a_buf, b_buf = self.a[:n], self.b[:n]
        a = self._widen(ua, a_buf)
        b = self._widen(ub, b_buf)
        with np.errstate(all="ignore"):
            np.subtract(b, a, out=b_buf)
            d = np.abs(b_buf, out=b_buf)
            aa = np.abs(a, out=a_buf)
            mx = d.max()
            if np.isfinite(mx) and aa.min() >= self.tiny:  # the usual case: no mask needed
                self.max = max(self.max, float(mx))
                np.divide(d, aa, out=d)
                self.rel_sum += float(d.sum(dtype=np.float64))
                self.rel_n += n
                return
            ok = np.isfinite(d)
            d, aa = d[ok], aa[ok]
            if d.size:
                self.max = max(self.max, float(d.max()))
            normal = aa >= self.tiny
            d, aa = d[normal], aa[normal]
            if d.size:
                self.rel_sum += float((d / aa).sum(dtype=np.float64))
                self.rel_n += int(d.size)

    @property
    def mean_rel(self) -> float:
        return self.rel_sum / self.rel_n if self.rel_n else 0.0


def verify_export(
    tmp: Path,
    plan: Sequence[TensorPlan],
    metadata: Mapping[str, str],
    mode: str,
    chunk_bytes: int,
    progress: Optional[ProgressCallback],
    done: int,
    total: int,
    cancel: Optional[CancelToken],
) -> tuple[Verification, list[TensorChange], Optional[str]]:
    """Read ``tmp`` back and compare it with the source; also returns the file's SHA-256 (``None`` when the
    check failed), hashed from the same read: the header, then every tensor's bytes in storage order (the
    reader has checked that they tile the rest of the file, and the byte count is checked at the end)."""
    problems: list[str] = []
    changes: list[TensorChange] = []
    checked = 0
    written = open_safetensors(tmp)
    if dict(written.metadata) != dict(metadata):
        problems.append("metadata differs from what was written")
    if written.names != [p.ref.name for p in plan]:
        problems.append("tensor names or order differ from the source")
        return Verification(False, 0, 0, tuple(problems)), changes, None
    tied = {p.tie for p in plan if p.tie}
    tie_digest: dict[str, str] = {}  # the written bytes of every tensor in a tie, which must all be equal
    out_hash = _Hasher()
    try:
        with open(tmp, "rb") as f:
            head = f.read(8)
            out_hash.update(head + f.read(struct.unpack("<Q", head)[0]))
        for p, w in zip(plan, written.tensors, strict=True):
            src, dt, k = p.ref, p.ref.dtype, p.bits
            if w.dtype.name != dt.name or w.shape != src.shape:
                problems.append(
                    f"{src.name}: {w.dtype.name}{list(w.shape)} written, {dt.name}{list(src.shape)} expected"
                )
                continue
            cb = aligned_chunk_bytes(dt, min(chunk_bytes, VERIFY_ELEMENTS * dt.itemsize))
            high = dt.uint.type(~((1 << k) - 1) & ((1 << dt.bits) - 1)) if k else None
            step = min(src.numel, cb // dt.itemsize)
            stats = ChangeStats(dt, step) if k else None
            xbuf = np.empty(step, dt.uint)
            bad = changed = 0
            own = hashlib.sha256() if (p.tie or src.name in tied) else None
            pairs = zip(
                iter_chunks(src, cb, reuse=True, cancel=cancel),
                iter_chunks(w, cb, cancel=cancel),  # fresh buffers: each one goes on to the hasher
                strict=True,
            )
            for a, b in pairs:
                out_hash.update(b)
                if own is not None:
                    own.update(memoryview(b).cast("B"))  # type: ignore[arg-type]
                ua, ub = a.view(dt.uint), b.view(dt.uint)
                x = np.bitwise_xor(ua, ub, out=xbuf[: ua.size])
                n_changed = int(np.count_nonzero(x))
                if not k:
                    bad += n_changed
                else:
                    changed += n_changed
                    if mode == "random":
                        x &= high
                        if x.any():
                            bad += int(np.count_nonzero(x))
                    else:
                        expect = scrub_chunk(ua, dt, k, None, mode="round")
                        if not np.array_equal(expect, ub):
                            bad += int(np.count_nonzero(expect != ub))
                    assert stats is not None
                    stats.add(ua, ub)
                done += a.nbytes
                checked += a.nbytes
                report(progress, done, total, f"verifying {src.name}")
            if bad:
                what = "differ from the source" if not k else f"changed outside the low {k} bits"
                if k and mode == "round":
                    what = "differ from the correctly rounded source"
                problems.append(f"{src.name}: {bad} element(s) {what}")
            if own is not None:
                tie_digest[src.name] = own.hexdigest()
                if p.tie and tie_digest.get(p.tie) != tie_digest[src.name]:
                    problems.append(f"{src.name}: not identical to {p.tie}, the tensor it is tied to")
            n = max(1, src.numel)
            mx, rel = (stats.max, stats.mean_rel) if stats is not None else (0.0, 0.0)
            changes.append(TensorChange(src.name, dt.name, k, p.scrubbed, mx, rel, changed / n))
        size = tmp.stat().st_size
        if out_hash.nbytes != size and not problems:
            problems.append(f"the read-back covered {out_hash.nbytes:,} of the file's {size:,} bytes")
        digest = out_hash.hexdigest()
    finally:
        out_hash.close()
    return Verification(not problems, len(changes), checked, tuple(problems)), changes, None if problems else digest
