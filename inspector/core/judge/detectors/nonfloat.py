"""Non-float payloads: integer, bool and fp8 tensors that a model has no reason to hold.

Low-bit scrubbing only touches float mantissas, so the easiest place to hide training data is a tensor that is
not a float at all: 19,200 image bytes as a ``U8`` tensor beside the weights are invisible to every float test.
Each non-float tensor gets a role from its name, shape and neighbours (position ids, masks, step counters,
BatchNorm's ``num_batches_tracked``, quantised weights next to their scales); a tensor with no role that holds
more than a few bytes is reported, and its byte statistics say what it looks like.
"""

from __future__ import annotations

import math
import re
from types import SimpleNamespace
from typing import Any, Optional, Sequence

import numpy as np

from inspector.core.dtypes import DTYPES
from inspector.core.judge.detectors.context import finding
from inspector.core.judge.findings import Finding
from inspector.core.measure.lumps import NEAR_LUMPY, lumpiness
from inspector.core.measure.masks import divergence
from inspector.core.measure.stats import entropy_bits

NAME = "non-float-tensor"

#: An unexplained non-float tensor up to this many bytes is a warning (a label map, a vocabulary index);
#: above it, suspicious: enough room for real data.
SUSPICIOUS_BYTES = 4096
#: Below this, it is not worth a warning (flags, small shapes, counters).
WARNING_BYTES = 256

_MASK = re.compile(r"(attn|attention)?_?mask(ed_bias)?$|(^|\.)bias_mask$|causal|(^|\.)masked_bias$")
_ROLE_PATTERNS = (
    (re.compile(r"(^|\.)num_batches_tracked$"), "BatchNorm step counter"),
    (re.compile(r"(position|token_type|input)_ids$|(^|\.)pos(ition)?_?ids?$"), "position or token ids"),
    (_MASK, "attention mask"),
    (re.compile(r"(^|\.)(step|steps|epoch|global_step|iteration|_step_count)$"), "training counter"),
    (re.compile(r"(relative_position_index|_index|_indices)$"), "index table"),
    (re.compile(r"(_zero_point|zero_points?|_scale|scales?)$"), "quantisation parameter"),
)


#: numpy's legacy generator state (``np.random.get_state()``, saved by training loops for reproducibility): the
#: Mersenne Twister's 624 32-bit words.
MT19937_WORDS = 624
MT19937_ROLE = "random generator state (MT19937)"
#: Entropy a byte (bits) below which the words of a generator's state are not one: a state is uniform (2,496
#: bytes: ≈ 7.93), an image's or a text's bytes fall far below (17 grey levels: 4.1, ASCII prose: 4.5).
MIN_STATE_ENTROPY = 7.0


def named_mask(name: str) -> bool:
    """Whether a tensor's name says it is a mask (attention or pruning): its bits are judged by
    :func:`mask_verdict`, not as a weight's values."""
    return _MASK.search(name.lower()) is not None


def role_of(name: str, shape: tuple[int, ...], dtype: str, names: set[str]) -> Optional[str]:
    """What a non-float tensor is for, or ``None`` when its name and neighbours do not say."""
    low = name.lower()
    for pat, role in _ROLE_PATTERNS:
        if pat.search(low):
            return role
    if math.prod(shape) <= 1:
        return "scalar"
    base = name.rsplit(".", 1)[0] if "." in name else ""
    leaf = name.rsplit(".", 1)[-1]
    if dtype in ("I8", "U8", "I4", "U4") and leaf in ("weight", "qweight", "weight_packed"):
        # the scale beside the weights, or one a parent module keeps for all of them (a quantised TorchScript
        # module's own scale and zero_point)
        parts = base.split(".") if base else []
        owners = [".".join(parts[:k]) for k in range(len(parts), -1, -1)]
        scales = ("scale", "scales", "weight_scale", "weight_scales", "SCB")
        if any((f"{o}.{s}" if o else s) in names for o in owners for s in scales):
            return "quantised weights (with scales)"
    if dtype == "U32" and tuple(shape) == (MT19937_WORDS,):
        return MT19937_ROLE
    if leaf in ("qweight", "qzeros", "g_idx") and any(n.startswith(base + ".") and n.endswith("scales") for n in names):
        return "quantised weights (GPTQ)"
    if dtype in ("I8", "U8", "I32") and name.endswith("_quantized"):
        stem = name[: -len("_quantized")]  # ONNX Runtime's quantiser: X_quantized beside X_scale, X_zero_point
        if any(stem + s in names for s in ("_scale", "_scales", "_quantized_scale")):
            # int32: a bias quantised with scale = input scale × weight scale (QDQ models)
            return "quantised biases (with scales)" if dtype == "I32" else "quantised weights (with scales)"
    return None


#: Fewest rows of a table whose row indices a tensor may hold: a smaller range would fit bytes (0..255) too.
MIN_INDEXED_ROWS = 257


def indexes_rows(t: Any, tables: Sequence[tuple[str, int]]) -> Optional[str]:
    """The table whose rows an integer vector indexes, or ``None``: a 1-D I32/I64 tensor whose values run from 0
    to exactly one less than the first dimension of another tensor of the model (a static embedding model's
    ``mapping`` of 276,326 vocabulary tokens onto the 10,000 rows of its table). Bytes of a payload stored as
    integers do not span a table's rows exactly."""
    if t.dtype not in ("I32", "I64") or len(t.shape) != 1:
        return None
    lo, hi = float(getattr(t.stats, "min", math.nan)), float(getattr(t.stats, "max", math.nan))
    if lo != 0 or not math.isfinite(hi):
        return None
    return next((name for name, rows in tables if name != t.name and rows == hi + 1), None)


#: Fewest values of an 8-bit table judged by its value distribution alone, and the bell it must have.
MIN_TABLE_VALUES = 4096
TABLE_KURTOSIS = (2.5, 10.0)


def looks_quantised(t: Any) -> Optional[str]:
    """Why an 8-bit table with no scale stored beside it looks like quantised weights, or ``None``: a 2-D I8
    tensor of at least :data:`MIN_TABLE_VALUES` values, centred on zero (|mean| < 0.1 σ), spread over at least
    half the type's range, bell-shaped (kurtosis 2.5–10) and smooth (not lumpy: see ``lumpiness``). A static
    embedding model stores its table so (int8, normalised after lookup: no scale needed). Bytes of an image or a
    text stored as int8 are one-signed, spiked at the background or lumpy with their levels."""
    if t.dtype != "I8" or len(t.shape) != 2 or t.numel < MIN_TABLE_VALUES:
        return None
    s = t.stats
    mean, std, lo, hi = (float(getattr(s, k, math.nan)) for k in ("mean", "std", "min", "max"))
    kurt = float(getattr(s, "kurtosis", math.nan))
    if not all(math.isfinite(v) for v in (mean, std, lo, hi, kurt)) or std <= 0:
        return None
    if abs(mean) >= 0.1 * std or hi - lo < 128 or not TABLE_KURTOSIS[0] <= kurt <= TABLE_KURTOSIS[1]:
        return None
    rms, mass = lumpiness(_integer_bins(s, lo, hi))
    if not (math.isfinite(rms) and math.isfinite(mass)) or rms >= NEAR_LUMPY[0] or mass >= NEAR_LUMPY[1]:
        return None
    return f"mean {mean:.2f}, σ {std:.1f}, range {lo:g}..{hi:g}, kurtosis {kurt:.1f}, smooth (lumpiness {rms:.2f})"


#: Share of empty levels between the 2.5th and 97.5th percentiles above which 8-bit "quantised weights" are not.
COMB_SHARE = 0.25


def _empty_share(stats: Any) -> Optional[float]:
    """The share of integer levels between the values' 2.5th and 97.5th percentiles that no value takes."""
    h = getattr(stats, "histogram", None)
    if h is None:
        return None
    return _comb(np.asarray(h.counts, dtype=np.float64))


def _comb(counts: np.ndarray) -> Optional[float]:
    """The share of levels (one count each) between the 2.5th and 97.5th percentiles of the values that no value
    takes, or ``None`` for too few of them."""
    total = counts.sum()
    if total <= 0 or counts.size < 8:
        return None
    cum = np.cumsum(counts) / total
    a, b = int(np.searchsorted(cum, 0.025)), int(np.searchsorted(cum, 0.975))
    middle = counts[a : b + 1]
    return float((middle == 0).mean()) if middle.size >= 8 else None


def _integer_bins(stats: Any, lo: float, hi: float) -> Any:
    """The statistics with their histogram regrouped on the integers (one bin each): 256 bins over a narrower
    integer range leave every third bin empty, a comb the lumpiness test takes for a grid."""
    h = stats.histogram
    if h is None or not h.bins or hi - lo >= h.bins:
        return stats
    edges = np.asarray(h.edges, dtype=np.float64)
    ints = np.round((edges[:-1] + edges[1:]) / 2).astype(np.int64) - int(lo)
    counts = np.bincount(np.clip(ints, 0, int(hi - lo)), weights=np.asarray(h.counts, dtype=np.float64))
    hist = SimpleNamespace(counts=counts, edges=np.arange(lo - 0.5, hi + 1.0, 1.0)[: counts.size + 1])
    return SimpleNamespace(histogram=hist, mean=stats.mean, std=stats.std)


#: How much more the two 4-bit halves of one byte tell of each other than the halves of neighbouring bytes do
#: (mutual information in bits, each less its small-sample bias) above which packed 4-bit weights are not. GPTQ
#: and AWQ pack eight rounded weights of neighbouring inputs (or outputs) into a word: whatever ties them (a
#: group's zero point, a heavy-tailed group squeezed onto a few levels: up to 1.6 bits inside a byte) ties every
#: adjacent pair alike, inside a byte or across two (synthetic GPTQ and AWQ packings of Gaussian, Laplace and
#: Student-t weights with outlier inputs, symmetric or not, groups of 32 or 128: −0.01 to 0.018). An image's or a
#: text's bytes tie the halves of each byte, not the halves of neighbouring bytes: 17 grey levels 3.8 bits more,
#: ASCII prose 0.41, the digits images 0.25.
NIBBLE_MI = 0.1


def _pair_information(row: Any) -> float:
    """Mutual information in bits, less its small-sample bias, between the halves counted by one row of 256
    (high half × 16 + low half)."""
    joint = np.asarray(row, dtype=np.float64).reshape(16, 16)  # [high half, low half]
    n = float(joint.sum())
    if n <= 0:
        return math.nan
    p = joint / n
    indep = np.outer(p.sum(axis=1), p.sum(axis=0))
    live = p > 0
    return float((p[live] * np.log2(p[live] / indep[live])).sum()) - 225.0 / (2.0 * n * math.log(2.0))


def nibble_dependence(stats: Any) -> float:
    """How much more the halves of a byte depend on each other than the halves of neighbouring bytes (see
    :data:`NIBBLE_MI`): mean mutual information of the bytes' pairs of halves less that of the pairs that straddle
    two bytes, from the tensor's ``nibble_pairs``; NaN without them."""
    rows = getattr(stats, "nibble_pairs", ()) or ()
    if len(rows) < 3:
        return math.nan
    within = [_pair_information(r) for r in rows[0::2]]
    across = [_pair_information(r) for r in rows[1::2]]
    within = [v for v in within if math.isfinite(v)]
    across = [v for v in across if math.isfinite(v)]
    if not within or not across:
        return math.nan
    return sum(within) / len(within) - sum(across) / len(across)


def _byte_counts(stats: Any) -> Optional[np.ndarray]:
    """Counts of the 256 byte values of an integer tensor, all its bytes together (the byte rows of its
    ``nibble_pairs``), or ``None`` without them."""
    rows = getattr(stats, "nibble_pairs", ()) or ()
    return np.sum(np.asarray(rows[0::2], dtype=np.float64), axis=0) if rows else None


def _byte_entropy(stats: Any) -> float:
    """Entropy in bits of the bytes of an integer tensor."""
    counts = _byte_counts(stats)
    return entropy_bits(counts) if counts is not None else math.nan


def gptq_bits(name: str, shapes: dict[str, tuple[int, ...]]) -> Optional[int]:
    """The width of the weights a GPTQ/AWQ ``qweight`` packs, from its neighbours' shapes: ``qzeros`` packs the
    zero points of ``scales``'s columns at that width (``bits = 32 × qzeros columns / scales columns``); ``None``
    where they are missing or disagree."""
    base = name.rsplit(".", 1)[0] + "." if "." in name else ""
    zeros, scales = shapes.get(base + "qzeros"), shapes.get(base + "scales")
    if not zeros or not scales or len(zeros) != 2 or len(scales) != 2 or not scales[1]:
        return None
    bits, rest = divmod(32 * zeros[1], scales[1])
    return bits if rest == 0 and bits in (2, 3, 4, 8) else None


def packed_contradiction(t: Any, shapes: dict[str, tuple[int, ...]]) -> Optional[str]:
    """What a GPTQ/AWQ ``qweight`` holds instead of packed weights, or ``None`` when its bytes bear the packing
    out (or a 3-bit packing, whose fields straddle the bytes, leaves nothing to test). 2- and 4-bit packings (and
    one the neighbours' shapes do not tell: GPTQ's default is 4) are judged by the halves of their bytes (see
    :data:`NIBBLE_MI`), an 8-bit one by its bytes' levels, as 8-bit weights beside a scale are (rounded weights
    fill the levels of their middle; an image's bytes, or a text of few letters, leave most of them empty)."""
    if t.name.rsplit(".", 1)[-1] != "qweight" or t.dtype not in ("I32", "U32") or t.numel < MIN_TABLE_VALUES:
        return None
    bits = gptq_bits(t.name, shapes) or 4
    if bits == 8:
        levels = _byte_counts(t.stats)
        gaps = _comb(levels) if levels is not None else None
        if gaps is not None and gaps > COMB_SHARE:
            return (
                f"packed 8-bit weights (GPTQ), whose bytes leave {gaps:.0%} of the levels in their middle empty "
                "(rounded weights fill them): a few levels of their own, as bytes of an image or a text have"
            )
        # (their lumpiness is no evidence: heavy-tailed groups quantised symmetrically pile at the zero point and
        # read 0.6 where a text's bytes read as much)
        return None
    if bits not in (2, 4):
        return None
    mi = nibble_dependence(t.stats)
    if not math.isfinite(mi) or mi < NIBBLE_MI:
        return None
    return (
        f"packed {bits}-bit weights (GPTQ), the two halves of whose bytes tell {mi:.2f} bits more of each other than "
        "halves of neighbouring bytes do (neighbouring rounded weights are tied alike, inside a byte or across "
        "two), as the bytes of an image or a text do"
    )


#: The biggest state a random generator keeps, in bytes: torch's CPU generator (``torch.get_rng_state()``, a uint8
#: tensor of 5,056); numpy's MT19937 keeps 624 uint32 (2,496 bytes), a CUDA generator 16. A checkpoint stacks
#: one a device or worker, a row each.
MAX_RNG_STATE_BYTES = 5056
_RNG_DTYPES = frozenset({"U8", "I8", "U16", "I16", "U32", "I32", "U64", "I64"})


def _row_bytes(shape: tuple[int, ...], dtype: str) -> int:
    """Bytes of one row (the last axis) of a tensor of integers, or of a vector whole."""
    dt = DTYPES.get(dtype)
    return (shape[-1] if shape else 1) * (dt.itemsize if dt is not None else 1)


def contradicts(role: str, shape: tuple[int, ...], stats: Any, dtype: str = "") -> Optional[str]:
    """What a tensor's name claims it is, when its values say otherwise (``None`` when they agree or cannot
    tell). Position ids are 0..L-1 along the last axis; token type ids and masks are small (0/1, a few types);
    counters and BatchNorm's step count are single values. A payload renamed ``position_ids`` fails these."""
    lo, hi, mean = (float(getattr(stats, k, math.nan)) for k in ("min", "max", "mean"))
    if not all(math.isfinite(v) for v in (lo, hi, mean)):
        return None
    n = math.prod(shape)
    if role == "position or token ids":
        length = shape[-1] if shape else n
        if lo == 0 and hi <= 16:  # token type ids (0/1, a few segment types) or a zero buffer
            return None
        if lo == 0 and hi == length - 1 and abs(mean - (length - 1) / 2) <= 1e-6 * max(1, length):
            return None  # 0..L-1 in every row
        return f"position or token ids, whose values are not positions (range {lo:g}..{hi:g}, mean {mean:.4g})"
    if role == "attention mask" and not (lo >= -1 and hi <= 1):
        return f"an attention mask, whose values are not 0/1 (range {lo:g}..{hi:g})"
    if role == "quantised weights (with scales)" and dtype in ("U8", "I8") and n >= MIN_TABLE_VALUES:
        # weights rounded to a grid fill every level of its middle; an image's or a text's bytes sit on a few
        # levels of their own with gaps between (a comb: 17 grey levels, the letters and the space)
        gaps = _empty_share(_integer_bins(stats, lo, hi))
        if gaps is not None and gaps > COMB_SHARE:
            return (
                f"quantised weights, whose values leave {gaps:.0%} of the levels in their middle empty (rounded "
                "weights fill them): a few levels of their own, as bytes of an image or a text have"
            )
    if role == "quantised biases (with scales)" and max(abs(lo), abs(hi)) >= 2**24:
        return f"quantised biases, whose values use more than 24 of their 32 bits (range {lo:g}..{hi:g})"
    if role == "training state (rng)" and dtype in _RNG_DTYPES and _row_bytes(shape, dtype) > MAX_RNG_STATE_BYTES:
        return (
            f"a random generator's state, {_row_bytes(shape, dtype):,} bytes a row: more than any generator keeps "
            f"(torch's CPU generator {MAX_RNG_STATE_BYTES:,}, numpy's MT19937 2,496, a CUDA generator 16)"
        )
    if role == MT19937_ROLE:
        bits = _byte_entropy(stats)
        if math.isfinite(bits) and bits < MIN_STATE_ENTROPY:
            return (
                f"a random generator's state, whose bytes are not random ({bits:.2f} bits of entropy a byte; a "
                "generator's state is uniform: ≈ 7.9)"
            )
    if role in ("BatchNorm step counter", "training counter") and n > 1:
        return f"a {role.lower()}, which holds one value, not {n:,}"
    return None


#: A mask's bytes of bits (see ``measure/masks.py``) farther than this from the nearest model of how masks are
#: made (bits each drawn alike and independently, or each drawn given the one before: runs), in bits of
#: Kullback-Leibler divergence a byte beyond what a sample of its size reads by chance, are not a mask's. Random
#: and magnitude pruning of real weights read up to 0.02 and 0.8 (a layer whose columns have scales of their own:
#: excused by the weight beside it anyway); a causal triangle, whole rows and N:M groups are excused by their
#: form; the bits of digits images written one an element read 1.8-3.9, ASCII text 2.1.
MASK_DIVERGENCE = 1.0
#: The same for a mask that drops exactly the smallest weights beside it: a weight built so that its smallest
#: values spell a payload would explain any mask, so such a mask is still judged, from further off.
MASK_DIVERGENCE_EXPLAINED = 2.0
#: Bytes of 0x00 or 0xFF from which a mask is runs (whole rows, a causal triangle): structure of its own.
MASK_RUNS = 0.9

_HI = np.array([bin(i >> 4).count("1") for i in range(256)])
_LO = np.array([bin(i & 15).count("1") for i in range(256)])


def _by_form(c: np.ndarray) -> bool:
    """Whether bytes of bits (256 counts) have a form pruning gives them: runs (a causal triangle, a band) or N
    ones in every aligned group of 4 (N:4 sparsity)."""
    total = int(c.sum())
    if total <= 0 or (c[0] + c[255]) >= MASK_RUNS * total:
        return True
    return any(int(c[(_HI == k) & (_LO == k)].sum()) == total for k in (1, 2, 3))


def mask_verdict(t: Any) -> Optional[tuple[str, Optional[str]]]:
    """What a two-valued tensor named like a mask holds when its bits are no mask's, and the cap of the finding
    (``None`` when they are a mask's, or were not measured).

    Its bytes of bits (the rows pruned whole left out), whole or in its worst window, are judged against a chain of
    bits each drawn given the one before (:func:`~.measure.masks.divergence`, from :data:`MASK_DIVERGENCE`). Not
    held against it: bytes that have a form of their own (runs, N:4 groups: :func:`_by_form`, the whole and the
    window each), rows kept (two or more) that all repeat the one kept before them (input channels or kernel taps
    pruned; the first, and one in a hundred more, may not). A mask that drops exactly the smallest weights of the
    weight beside it (magnitude pruning) is judged from :data:`MASK_DIVERGENCE_EXPLAINED` and is a warning at most;
    so is one with no weight beside it that shows what it drops (none, or the masked product: magnitude pruning of
    3-tap kernels or an STFT basis reads 1.0-1.5 from the bits alone)."""
    counts = tuple(getattr(t, "mask_bits", ()) or ())
    if len(counts) != 256:
        return None
    c = np.asarray(counts, dtype=np.int64)
    rows = tuple(getattr(t, "mask_rows", ()) or ())
    if len(rows) == 3 and rows[1] >= 2 and rows[1] - rows[2] <= 1 + rows[1] // 100:
        return None  # whole input channels or kernel taps pruned: every unit kept repeats the one before
    mags = tuple(getattr(t, "mask_magnitudes", ()) or ())
    # the weight beside it tells what the mask drops unless it is the masked product (zero wherever it drops)
    informative = len(mags) == 2 and mags[0] > 0
    explained = informative and mags[0] <= mags[1]  # every weight dropped no larger than any kept
    threshold = MASK_DIVERGENCE_EXPLAINED if explained else MASK_DIVERGENCE
    cap = None if informative and not explained else "warning"
    d = math.nan if _by_form(c) else divergence(c)
    where = ""
    window = tuple(getattr(t, "mask_window", ()) or ())
    if len(window) == 256 and not _by_form(np.asarray(window, dtype=np.int64)):
        dw = divergence(window)
        if math.isfinite(dw) and dw >= threshold and not (math.isfinite(d) and d >= dw):
            at = int(getattr(t, "mask_window_at", 0))
            d, where = dw, f" (bits {at:,} to {at + 8 * int(sum(window)):,} of those judged)"
    if not (math.isfinite(d) and d >= threshold):
        return None
    why = (
        "though it drops exactly the smallest weights beside it (magnitude pruning reads under "
        f"{MASK_DIVERGENCE_EXPLAINED:g})"
        if explained
        else f"random and magnitude pruning, whole rows and N:M groups read under {MASK_DIVERGENCE:g}"
    )
    return (
        f"a mask, whose bits are no mask's: their bytes{where} are {d:.2f} bits from bits drawn one given the one "
        f"before ({why}), as an image's or a text's bits written one an element are",
        cap,
    )


def _a(dtype: str) -> str:
    """The article before a dtype's name as it is read aloud ("an I64", "a U8", "a BOOL")."""
    return "an" if dtype[:1] in ("I", "F") else "a"


def detect(tensors: Sequence[Any]) -> tuple[list[Finding], int, int]:
    """Findings for unexplained non-float tensors: ``(findings, tensors checked, bytes checked)``."""
    out: list[Finding] = []
    names = {t.name for t in tensors}
    tables = [(t.name, int(t.shape[0])) for t in tensors if len(t.shape) >= 2 and t.shape[0] >= MIN_INDEXED_ROWS]
    shapes = {t.name: tuple(t.shape) for t in tensors}
    checked = 0
    nbytes = 0
    for t in tensors:
        dt = DTYPES.get(t.dtype)
        if dt is None:
            continue
        size = t.numel * dt.itemsize
        if dt.is_float:  # fp8 included: low-precision floats are judged as floats, but a 0/1 mask's bits here
            if getattr(t, "mask_bits", ()) and named_mask(t.name):
                checked += 1
                nbytes += size
                verdict = mask_verdict(t)
                if verdict is not None:
                    out.append(_claim_finding(t, size, verdict[0], math.nan, "", cap=verdict[1]))
            continue
        checked += 1
        nbytes += size
        state = getattr(t, "role", "weight")
        role = f"training state ({state})" if state not in ("weight", "ema") else None
        role = role or role_of(t.name, tuple(t.shape), t.dtype, names) or getattr(t, "computed", None)
        if role is None and (table := indexes_rows(t, tables)) is not None:
            role = f"row indices into {table}"
        mismatch = (
            contradicts(role, tuple(t.shape), t.stats, t.dtype) if role is not None and size >= WARNING_BYTES else None
        )
        if mismatch is None and role == "quantised weights (GPTQ)" and size >= WARNING_BYTES:
            mismatch = packed_contradiction(t, shapes)
        cap = None
        if mismatch is None and role == "attention mask":
            verdict = mask_verdict(t)
            mismatch, cap = verdict if verdict is not None else (None, None)
        if mismatch is not None:
            role = None  # a name is only a claim: values that contradict it explain nothing
        if role is not None or size < WARNING_BYTES:
            continue
        h = t.stats.histogram
        ent = entropy_bits(np.asarray(h.counts)) if h is not None and h.bins else math.nan
        byte_view = f"; its values have {ent:.2f} bits of entropy over {h.bins} bins" if math.isfinite(ent) else ""
        quantised = looks_quantised(t) if mismatch is None else None
        if quantised is not None:
            out.append(
                finding(
                    NAME,
                    "non-float",
                    t.name,
                    0.6,
                    f"{_a(t.dtype)} {t.dtype} table of {size:,} bytes with no scale stored beside it, whose values have the "
                    f"zero-centred, smooth spread of quantised weights ({quantised}): probably a quantised table "
                    "(a static embedding model stores one so); the float tests do not judge integers, and "
                    "low-bit scrubbing does not touch it",
                    {"bytes": size, "dtype": t.dtype, "shape": list(t.shape), "value_entropy": ent},
                )
            )
            continue
        out.append(_claim_finding(t, size, mismatch, ent, byte_view, cap=cap))
    return out, checked, nbytes


def _claim_finding(
    t: Any, size: int, mismatch: Optional[str], ent: float, byte_view: str, cap: Optional[str] = None
) -> Finding:
    """The finding for a tensor no role explains, or whose values contradict the role its name claims; suspicious
    from :data:`SUSPICIOUS_BYTES` (``cap="warning"``: a warning at most)."""
    excess = 1.0 + math.log2(size / SUSPICIOUS_BYTES) / 4 if size >= SUSPICIOUS_BYTES else 0.6
    return finding(
        NAME,
        "non-float",
        t.name,
        excess,
        (
            f"{_a(t.dtype)} {t.dtype} tensor of {size:,} bytes named like {mismatch}"
            if mismatch
            else f"{_a(t.dtype)} {t.dtype} tensor of {size:,} bytes that no layer explains (not ids, a mask, a counter or "
            "quantised weights)"
        )
        + f"{byte_view}: low-bit scrubbing does not touch it; look at it as an image, and "
        "drop it from the release unless you know what it is",
        {"bytes": size, "dtype": t.dtype, "shape": list(t.shape), "value_entropy": ent, "claimed": mismatch},
        cap=cap,
    )
