"""Low-bit scrubbing: the paper's countermeasure, done safely and provably.

Song et al. (CCS 2017): "replace the lower bits of the parameters with random noise. This will destroy any
information potentially encoded in these bits". :func:`scrub_model` streams a model to a new safetensors file,
replacing the ``k`` lowest mantissa bits of every selected float tensor, then reads the file back and checks
that it changed nothing else.

Bit rules (raw little-endian integer view, bit 0 = lowest mantissa bit):

* ``random`` (default): bits ``0..k-1`` become uniformly random; sign, exponent and the higher mantissa bits
  are never touched. Exact zeros stay zero (no payload can sit in a zero; this keeps sparsity and creates no
  subnormals). Inf stays the same Inf. A NaN stays NaN: if the new mantissa would be all zero (an Inf), bit 0
  is set. In fp8 E4M3FN, where the exponent 1111 is finite and only S.1111.111 is NaN, the NaN code is left
  alone and an element that would turn into it keeps its old value.
* ``round``: round to nearest, ties to even, at ``mantissa_bits - k`` bits (what a cast to bf16/fp16 does,
  e.g. fp32 ``k=16`` is the fp32→bf16→fp32 round trip). A carry may reach the exponent; a value that would
  round to Inf (or the E4M3 NaN code) is truncated instead. Inf stays Inf; NaN becomes the canonical quiet NaN
  of its sign. Zeroed low bits are a visible signature, which is why ``random`` is the default.

Integer and bool tensors, unselected tensors and dtypes with ``k = 0`` are copied bit for bit.

Randomness. Each tensor draws from its own PCG64 stream seeded by ``SeedSequence(seed,
spawn_key=<4 little-endian uint32 words of sha256(tensor name)>)``, so the output depends on the seed and the
tensor's name only, never on tensor order, chunk size or threads. Element ``i`` takes lane ``i`` of the raw
stream viewed as little-endian unsigned integers of the smallest width of 1, 2, 4 or 8 bytes that holds ``k``
bits (at most the element's width), masked to ``k`` bits.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import queue
import re
import secrets
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

from inspector import __version__
from inspector.core.dtypes import DTYPES, DType, widen
from inspector.core.errors import ExportError, InspectorError
from inspector.core.formats import ModelFile, TensorRef, iter_chunks, open_model, sha256_files
from inspector.core.formats.safetensors import open_safetensors
from inspector.core.formats.writer import SafetensorsWriter, TensorEntry
from inspector.core.progress import CancelToken, ProgressCallback, report

SCHEMA = "model-inspector/scrub/1"
MODES = ("random", "round")
#: The fp32 ``k`` of ``--bits`` when none is given: 16 low bits are free in fp32 (RESEARCH.md; EvilModel).
DEFAULT_BITS = 16
#: Chunk size of the scrub and verification passes (rounded down to a multiple of 8 elements).
SCRUB_CHUNK_BYTES = 4 << 20

FLOAT_DTYPES = tuple(d.name for d in DTYPES.values() if d.is_float)
_ALIASES = {
    "FP64": "F64", "FLOAT64": "F64", "DOUBLE": "F64",
    "FP32": "F32", "FLOAT32": "F32", "FLOAT": "F32",
    "FP16": "F16", "FLOAT16": "F16", "HALF": "F16",
    "BFLOAT16": "BF16",
    "E4M3": "F8_E4M3", "FP8_E4M3": "F8_E4M3", "F8_E4M3FN": "F8_E4M3",
    "E5M2": "F8_E5M2", "FP8_E5M2": "F8_E5M2",
}  # fmt: skip


# ------------------------------------------------------------------------------------------------- bits


def scaled_bits(fp32_bits: int) -> dict[str, int]:
    """Per-dtype ``k`` for ``--bits K``: fp32 gets ``K``; the others keep the same relative precision
    (fp32 keeps ``23 - K`` mantissa bits, so fp64 gets ``K + 29``, fp16 ``K - 13``, bf16 ``K - 16``), but
    fp16 and bf16 get at least 1 bit so that no float tensor is left unscrubbed. fp8 gets 0: a single bit of
    an 8-bit float is a 6-12% change; ask for it explicitly (``F8_E4M3=1``). ``K = 0`` scrubs nothing.

    ``--bits 16`` → F32 16, F64 45, F16 3, BF16 1 (mean relative change ≈ 0.2%, 0.2%, 0.2%, 0.3%)."""
    k = int(fp32_bits)
    if not 0 <= k <= 23:
        raise InspectorError(f"--bits {k}: fp32 has 23 mantissa bits; give 0..23", hint="16 is the usual choice")
    if k == 0:
        return dict.fromkeys(FLOAT_DTYPES, 0)
    out = {"F64": k + 29, "F32": k, "F16": min(10, max(1, k - 13)), "BF16": min(7, max(1, k - 16))}
    out.update({"F8_E4M3": 0, "F8_E5M2": 0})
    return out


def dtype_name(text: str) -> str:
    """A float dtype name from user text (``bf16``, ``F32``, ``fp16``, ``float32``...)."""
    key = text.strip().upper()
    key = _ALIASES.get(key, key)
    if key not in DTYPES or not DTYPES[key].is_float:
        raise InspectorError(
            f"unknown float type {text!r}", hint=f"Use one of {', '.join(FLOAT_DTYPES)} (or fp32, fp16, bf16...)"
        )
    return key


def parse_bits(text: str | int | Mapping[str, int]) -> dict[str, int]:
    """Per-dtype bits from ``--bits``: ``16`` (fp32 k, others scaled, see :func:`scaled_bits`),
    ``F32=16,BF16=2`` or ``16,bf16=2``. Without a bare number the base is the F32 value if given, else 0
    (only the named types are scrubbed). Checks every ``k`` against its type's mantissa width."""
    if isinstance(text, Mapping):
        items = [(str(k), int(v)) for k, v in text.items()]
        base: Optional[int] = None
    elif isinstance(text, int):
        items, base = [], text
    else:
        items, base = [], None
        for part in (p.strip() for p in str(text).split(",")):
            if not part:
                continue
            if re.fullmatch(r"\d+", part):
                if base is not None:
                    raise InspectorError(f"--bits {text!r}: more than one bare number")
                base = int(part)
                continue
            m = re.fullmatch(r"([A-Za-z0-9_]+)\s*=\s*(\d+)", part)
            if not m:
                raise InspectorError(f"--bits {text!r}: cannot read {part!r}", hint="Write e.g. 16 or F32=16,BF16=2")
            items.append((m.group(1), int(m.group(2))))
    named = {dtype_name(n): k for n, k in items}
    if base is None:
        base = named.get("F32", 0)
    out = scaled_bits(base)
    out.update(named)
    for name, k in out.items():
        width = DTYPES[name].mantissa_bits
        if not 0 <= k <= width:
            raise InspectorError(f"--bits {name}={k}: {name} has {width} mantissa bits; give 0..{width}")
    return out


# ------------------------------------------------------------------------------------------- randomness


def tensor_seed(seed: int, name: str) -> np.random.SeedSequence:
    """The seed sequence of one tensor's random stream (depends on the seed and the name only)."""
    words = struct.unpack("<4I", hashlib.sha256(name.encode("utf-8")).digest()[:16])
    return np.random.SeedSequence(int(seed), spawn_key=words)


def tensor_rng(seed: int, name: str) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(tensor_seed(seed, name)))


def lane_bytes(dt: DType, bits: int) -> int:
    """Bytes of random stream each element consumes for ``bits`` random bits."""
    need = max(1, math.ceil(bits / 8))
    width = 1
    while width < need:
        width *= 2
    return min(width, dt.itemsize)


def _draw(rng: np.random.Generator, n: int, width: int, bits: int) -> np.ndarray:
    words = (n * width + 7) // 8
    raw = rng.bit_generator.random_raw(words).astype("<u8", copy=False)
    lanes = raw.view(f"<u{width}")[:n]
    lanes &= lanes.dtype.type((1 << bits) - 1)
    return lanes


# ------------------------------------------------------------------------------------------ one chunk


def _layout(dt: DType) -> tuple[int, int, int, int]:
    """(abs mask, sign bit, exponent mask, mantissa mask) of a float type's raw view."""
    nbits = dt.bits
    absmask = (1 << (nbits - 1)) - 1
    expmask = ((1 << dt.exponent_bits) - 1) << dt.mantissa_bits
    return absmask, 1 << (nbits - 1), expmask, (1 << dt.mantissa_bits) - 1


def _danger(dt: DType, bits: int, mode: str) -> int:
    """Smallest absolute raw value that may need per-element care (beside zero) in this mode."""
    _, _, expmask, _ = _layout(dt)
    if dt.name == "F8_E4M3":  # the only NaN is S.1111.111; exponent 1111 is otherwise finite
        return 0x80 - (1 << bits) if mode == "random" else 0x7F - (1 << bits)
    return expmask if mode == "random" else expmask - (1 << bits)


def _candidates(u: np.ndarray, dt: DType, bits: int, mode: str) -> Optional[np.ndarray]:
    """Flat indices of zeros and of elements at or above the danger threshold, or ``None`` (the usual case)."""
    absmask = u.dtype.type(_layout(dt)[0])
    tmp = np.bitwise_and(u, absmask)
    tmp -= u.dtype.type(1)  # zero wraps to the top, so one comparison finds zeros and large values
    thr = u.dtype.type(_danger(dt, bits, mode) - 1)
    if tmp.max() < thr:
        return None
    return np.flatnonzero(tmp >= thr)


def _fix_random(out: np.ndarray, orig: np.ndarray, idx: np.ndarray, dt: DType) -> None:
    absmask, _, expmask, manmask = _layout(dt)
    t = out.dtype.type
    new = out[idx]
    a = orig & t(absmask)
    keep_old = a == 0
    if dt.name == "F8_E4M3":
        keep_old |= (a == 0x7F) | ((new & t(absmask)) == 0x7F)
    else:
        keep_old |= a == expmask  # Inf keeps its zero mantissa
        nan = (a > expmask) & ((new & t(manmask)) == 0)
        new[nan] |= t(1)
    new[keep_old] = orig[keep_old]
    out[idx] = new


def _fix_round(out: np.ndarray, orig: np.ndarray, idx: np.ndarray, dt: DType, bits: int) -> None:
    absmask, sign, expmask, _ = _layout(dt)
    t = out.dtype.type
    keep = t(~((1 << bits) - 1) & ((1 << dt.bits) - 1))
    a = orig & t(absmask)
    s = orig & t(sign)
    r = (a + ((a >> t(bits)) & t(1)) + t((1 << (bits - 1)) - 1)) & keep  # exact on |x|: no carry into sign
    if dt.name == "F8_E4M3":
        over = r >= 0x7F
        r[over] = t(0x7E) & keep
        res = s | r
        nan = a == 0x7F
        res[nan] = orig[nan]
    else:
        over = (r >= expmask) & (a < expmask)
        r[over] = t(expmask - 1) & keep  # the largest finite value with zero low bits
        res = s | r
        inf = a == expmask
        res[inf] = orig[inf]
        nan = a > expmask
        res[nan] = s[nan] | t(expmask | (1 << (dt.mantissa_bits - 1)))
    out[idx] = res


def scrub_chunk(
    raw: np.ndarray,
    dtype: DType,
    bits: int,
    rng: Optional[np.random.Generator],
    *,
    mode: str = "random",
    out: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Scrub the ``bits`` low mantissa bits of a chunk of raw storage (any shape; native floats or the raw
    unsigned view) and return it in the raw unsigned view (``dtype.uint``), same shape.

    ``out`` may be ``raw`` itself (in place). In ``random`` mode the chunk draws ``ceil(n·w/8)`` words from
    ``rng.bit_generator.random_raw`` (``w`` = :func:`lane_bytes`). Non-float dtypes and ``bits = 0`` copy."""
    u = np.ascontiguousarray(raw).view(dtype.uint)
    if out is None:
        out = np.empty_like(u)
    else:
        out = out.view(dtype.uint)
        if out.shape != u.shape:
            raise ValueError(f"out has shape {out.shape}, the chunk {u.shape}")
    if not dtype.is_float or bits == 0 or u.size == 0:
        if out is not u:
            np.copyto(out, u)
        return out
    if not 0 < bits <= dtype.mantissa_bits:
        raise InspectorError(f"{dtype.name} has {dtype.mantissa_bits} mantissa bits; cannot scrub {bits}")
    if mode not in MODES:
        raise InspectorError(f"unknown scrub mode {mode!r}", hint=f"Use one of {', '.join(MODES)}")
    flat_u, flat_out = u.reshape(-1), out.reshape(-1)
    t = u.dtype.type
    idx = _candidates(flat_u, dtype, bits, mode)
    orig = flat_u[idx] if idx is not None else None  # a copy (fancy indexing): survives an in-place scrub
    keep = t(~((1 << bits) - 1) & ((1 << dtype.bits) - 1))
    if mode == "random":
        if rng is None:
            raise ValueError("random mode needs a numpy Generator")
        lanes = _draw(rng, flat_u.size, lane_bytes(dtype, bits), bits)
        np.bitwise_and(flat_u, keep, out=flat_out)
        np.bitwise_or(flat_out, lanes, out=flat_out)
        if idx is not None:
            assert orig is not None
            _fix_random(flat_out, orig, idx, dtype)
    else:
        step = flat_u >> t(bits)
        step &= t(1)
        step += t((1 << (bits - 1)) - 1)
        np.add(flat_u, step, out=flat_out)
        flat_out &= keep
        if idx is not None:
            assert orig is not None
            _fix_round(flat_out, orig, idx, dtype, bits)
    return out


# ------------------------------------------------------------------------------------------- results


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


@dataclass(frozen=True)
class ScrubResult:
    """A finished, verified export."""

    output: Path
    sha256: Optional[str]
    source: Path
    source_sha256: str
    bits: Mapping[str, int]  # per dtype present among float tensors
    seed: int
    mode: str
    tensors_scrubbed: int
    tensors_copied: int
    elements_scrubbed: int
    bytes_written: int
    max_abs_change: Optional[float]
    mean_rel_change: Optional[float]
    verification: Optional[Verification]
    tensors: tuple[TensorChange, ...] = ()
    seconds: float = 0.0
    metadata: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        v = self.verification
        return {
            "schema": SCHEMA,
            "tool": {"name": "model-inspector", "version": __version__},
            "source": {"path": str(self.source), "sha256": self.source_sha256},
            "output": {"path": str(self.output), "sha256": self.sha256, "bytes": self.bytes_written},
            "mode": self.mode,
            "seed": self.seed,
            "bits": dict(self.bits),
            "tensors_scrubbed": self.tensors_scrubbed,
            "tensors_copied": self.tensors_copied,
            "elements_scrubbed": self.elements_scrubbed,
            "max_abs_change": _finite(self.max_abs_change),
            "mean_rel_change": _finite(self.mean_rel_change),
            "verification": None
            if v is None
            else {"ok": v.ok, "tensors": v.tensors_checked, "bytes": v.bytes_checked, "problems": list(v.problems)},
            "tensors": [
                {
                    "name": t.name,
                    "dtype": t.dtype,
                    "bits": t.bits,
                    "scrubbed": t.scrubbed,
                    "max_abs_change": _finite(t.max_abs_change),
                    "mean_rel_change": _finite(t.mean_rel_change),
                    "changed_fraction": t.changed_fraction,
                }
                for t in self.tensors
            ],
            "seconds": round(self.seconds, 3),
        }


def _finite(x: Optional[float]) -> Optional[float]:
    return None if x is None or not math.isfinite(x) else float(x)


# --------------------------------------------------------------------------------------- whole model


@dataclass(frozen=True)
class _Plan:
    ref: TensorRef
    bits: int  # 0: copied

    @property
    def scrubbed(self) -> bool:
        return self.bits > 0


def select_tensors(model: ModelFile, tensors: Sequence[str] = ()) -> set[str]:
    """Names matching any glob of ``tensors`` (all names when empty); a glob matching nothing is an error."""
    if not tensors:
        return set(model.names)
    chosen: set[str] = set()
    for glob in tensors:
        hits = {n for n in model.names if fnmatch.fnmatchcase(n, glob)}
        if not hits:
            sample = ", ".join(model.names[:4])
            raise InspectorError(
                f"--tensors {glob!r} matches no tensor", path=model.path, hint=f"Names look like: {sample}"
            )
        chosen |= hits
    return chosen


def plan_scrub(model: ModelFile, bits: int | str | Mapping[str, int], tensors: Sequence[str] = ()) -> list[_Plan]:
    per_dtype = parse_bits(bits)
    chosen = select_tensors(model, tensors)
    return [
        _Plan(r, per_dtype.get(r.dtype.name, 0) if (r.dtype.is_float and r.name in chosen and r.numel) else 0)
        for r in model.tensors
    ]


_PROVENANCE = ("inspector.version", "inspector.source_sha256", "inspector.scrub")


def _chunk_bytes(dt: DType, chunk_bytes: int) -> int:
    unit = 8 * dt.itemsize  # whole random words per chunk: the stream does not depend on the chunk size
    return max(unit, chunk_bytes // unit * unit)


class _Background:
    """Run ``fn`` in a thread; ``result()`` joins and re-raises."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._value: Any = None
        self._error: Optional[BaseException] = None

        def run() -> None:
            try:
                self._value = fn()
            except BaseException as e:  # noqa: BLE001 - re-raised in result()
                self._error = e

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


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


def scrub_model(
    model: ModelFile,
    output: str | Path,
    *,
    bits: int | str | Mapping[str, int] = DEFAULT_BITS,
    seed: Optional[int] = None,
    tensors: Sequence[str] = (),
    mode: str = "random",
    verify: bool = True,
    chunk_bytes: int = SCRUB_CHUNK_BYTES,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
) -> ScrubResult:
    """Scrub ``model`` into a new safetensors file at ``output``, verified by reading it back.

    ``bits``: an fp32 ``k`` (others scaled, :func:`scaled_bits`), a ``--bits`` string or a per-dtype mapping.
    ``seed``: same seed, same bytes (a fresh random seed when ``None``; it is recorded in the metadata).
    ``tensors``: globs selecting the tensors to scrub (the rest are copied). Memory stays bounded (a few
    chunks of ``chunk_bytes``) whatever the model's size. The output is written to a temporary file beside
    ``output``, verified, then renamed: on an error, a failed verification or a cancel, nothing appears at
    ``output`` and a file already there is left as it was. Progress is in bytes (scrub, then verify).
    """
    t0 = time.perf_counter()
    if mode not in MODES:
        raise InspectorError(f"unknown scrub mode {mode!r}", hint=f"Use one of {', '.join(MODES)}")
    seed = secrets.randbits(63) if seed is None else int(seed)
    if seed < 0:
        raise InspectorError(f"--seed {seed}: the seed must be a non-negative integer")
    plan = plan_scrub(model, bits, tensors)
    per_dtype = parse_bits(bits)
    float_dtypes = sorted({p.ref.dtype.name for p in plan if p.ref.dtype.is_float})
    bits_used = {d: per_dtype[d] for d in float_dtypes}
    scrubbed = [p for p in plan if p.scrubbed]
    output = Path(output)

    # the original metadata, minus the provenance of an earlier scrub (it would describe another file)
    meta = {str(k): str(v) for k, v in model.metadata.items() if not str(k).startswith(_PROVENANCE)}
    meta.update(
        {
            "inspector.version": __version__,
            "inspector.scrub_bits": json.dumps(bits_used, sort_keys=True),
            "inspector.scrub_seed": str(seed),
            "inspector.scrub_mode": mode,
            "inspector.scrubbed_tensors": str(len(scrubbed)),
        }
    )
    if tensors:
        meta["inspector.scrub_tensors"] = json.dumps(list(tensors))
    entries = [TensorEntry(p.ref.name, p.ref.dtype, p.ref.shape) for p in plan]
    total = 2 * model.nbytes if verify else model.nbytes
    inner = CancelToken(cancel)  # stops the hashing thread when we stop, or when the caller cancels
    done = 0

    writer = SafetensorsWriter(
        output, entries, meta, protect=model.files, reserve={"inspector.source_sha256": 64}, cancel=cancel
    )
    source_hash = _Background(lambda: sha256_files(list(model.files), cancel=inner))
    try:
        with writer:
            for p in plan:
                ref, k = p.ref, p.bits
                cb = _chunk_bytes(ref.dtype, chunk_bytes)
                rng = tensor_rng(seed, ref.name) if (k and mode == "random") else None
                for chunk in iter_chunks(ref, cb, cancel=cancel):
                    if k:
                        chunk = scrub_chunk(chunk, ref.dtype, k, rng, mode=mode, out=chunk)
                    writer.write(chunk)
                    done += chunk.nbytes
                    report(progress, done, total, f"scrubbing {ref.name}")
            src_sha = source_hash.result()
            writer.set_metadata("inspector.source_sha256", src_sha)
            meta["inspector.source_sha256"] = src_sha
            tmp = writer.finish()
            out_sha: Optional[str] = None
            verification: Optional[Verification] = None
            changes: list[TensorChange] = [TensorChange(p.ref.name, p.ref.dtype.name, p.bits, p.scrubbed) for p in plan]
            if verify:
                verification, changes, out_sha = _verify(
                    tmp,
                    plan,
                    meta,
                    mode,
                    chunk_bytes,
                    progress,
                    done,
                    total,
                    cancel,
                )
                if not verification.ok:
                    raise ExportError(
                        "the export did not verify: " + "; ".join(verification.problems[:3]),
                        path=output,
                        hint="Nothing was written. Report this as a bug",
                    )
            writer.commit()
    except BaseException:
        inner.cancel()
        try:
            source_hash.result()
        except BaseException:  # noqa: BLE001 - the first error is the one to report
            pass
        raise

    scr = [c for c in changes if c.scrubbed]
    n_scr = sum(p.ref.numel for p in scrubbed)
    max_abs = max((c.max_abs_change for c in scr), default=0.0) if verify else None
    mean_rel = None
    if verify:
        weights = [(c.mean_rel_change, model[c.name].numel) for c in scr if math.isfinite(c.mean_rel_change)]
        wsum = sum(w for _, w in weights)
        mean_rel = sum(m * w for m, w in weights) / wsum if wsum else 0.0
    return ScrubResult(
        output=output,
        sha256=out_sha,
        source=model.path,
        source_sha256=src_sha,
        bits=bits_used,
        seed=seed,
        mode=mode,
        tensors_scrubbed=len(scrubbed),
        tensors_copied=len(plan) - len(scrubbed),
        elements_scrubbed=n_scr,
        bytes_written=output.stat().st_size,
        max_abs_change=max_abs,
        mean_rel_change=mean_rel,
        verification=verification,
        tensors=tuple(changes),
        seconds=time.perf_counter() - t0,
        metadata=meta,
    )


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


def _verify(
    tmp: Path,
    plan: Sequence[_Plan],
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
            cb = _chunk_bytes(dt, min(chunk_bytes, VERIFY_ELEMENTS * dt.itemsize))
            high = dt.uint.type(~((1 << k) - 1) & ((1 << dt.bits) - 1)) if k else None
            step = min(src.numel, cb // dt.itemsize)
            stats = ChangeStats(dt, step) if k else None
            xbuf = np.empty(step, dt.uint)
            bad = changed = 0
            pairs = zip(
                iter_chunks(src, cb, reuse=True, cancel=cancel),
                iter_chunks(w, cb, cancel=cancel),  # fresh buffers: each one goes on to the hasher
                strict=True,
            )
            for a, b in pairs:
                out_hash.update(b)
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


def scrub_file(
    path: str | Path,
    output: str | Path,
    **kwargs: Any,
) -> ScrubResult:
    """:func:`scrub_model` on a path (opened with :func:`~inspector.core.formats.open_model`)."""
    return scrub_model(open_model(path), output, **kwargs)


__all__ = [
    "DEFAULT_BITS",
    "ChangeStats",
    "MODES",
    "ScrubResult",
    "TensorChange",
    "Verification",
    "lane_bytes",
    "parse_bits",
    "scaled_bits",
    "scrub_chunk",
    "scrub_file",
    "scrub_model",
    "select_tensors",
    "tensor_rng",
    "tensor_seed",
]
