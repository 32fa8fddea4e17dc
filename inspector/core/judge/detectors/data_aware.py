"""Data-aware tests (``--train-sample``): look for the training data itself in the weights.

The data holder has the training set, so the decisive question can be asked directly:

- correlated value encoding: does a window of θ (the weight matrices in storage order, biases excluded)
  correlate with a training image laid out the usual ways (row-major, column-major, channels-last)?
  Benign windows correlate at ≈ 1/√ℓ with any one image (a little more with digit-like receptive fields);
  encoded windows at 0.8–1;
- sign encoding: do the signs of a window agree with the unpacked bits of a training image's bytes?
  Benign ≈ 50%, encoded ≥ 80–99%;
- LSB encoding: do byte strings of the training images appear in the low bits of the float tensors, for any
  bit count b and bit alignment?

Images' bytes follow the lab's convention, which is also the common one: values scaled to [0, 1] by the data's
range (1, 16 or 255), then ``round(x·255)``, bits most significant first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from inspector.core.formats.data import Dataset, load_dataset
from inspector.core.judge.detectors.context import Context, finding, pct
from inspector.core.judge.findings import Finding
from inspector.core.progress import check

NAME = "data-aware"

#: Values of θ searched (from its start, where the white-box attacks write).
THETA_VALUES = 1 << 22
#: Images compared (a seeded random subset beyond this).
MAX_IMAGES = 2000
#: Windows of θ compared (evenly spaced beyond this).
MAX_WINDOWS = 3000
#: A window "matches" an image at this |Pearson r| (COR) or sign agreement (SGN).
MATCH_R = 0.8
MATCH_AGREE = 0.8
#: Share of windows matching at the suspicious threshold (benign ≤ 1%), and at least this many windows.
MATCH_SHARE = 0.1
MIN_MATCHES = 3
#: Sign agreement beyond chance (Cohen's κ against the agreement the window's share of positive signs and the
#: image's share of one bits give by themselves) at which a single window is decisive: a partial payload of one
#: or two images fills only a couple of windows, too few for the share above. Tuning set: best window of benign
#: models 0.16–0.32, partial payloads (two images) 0.995–1.0, every sign-encoded image model ≥ 0.87.
KAPPA_SIGN = 0.7
#: Values whose low bits are searched for training bytes (from the first float tensor on, as LSB payloads are
#: written), and the shingle length in bytes.
LSB_VALUES = 1 << 16
SHINGLE = 8
#: Shingle hits at the suspicious threshold (benign: none).
LSB_HITS = 8


@dataclass(frozen=True)
class Layouts:
    """Training images as flat vectors in several layouts, and their bytes."""

    names: tuple[str, ...]
    vectors: tuple[np.ndarray, ...]  # (N, ℓ) float64 each
    pixels: int


def layouts_of(data: Dataset, limit: int = MAX_IMAGES) -> Layouts:
    x = data.inputs
    if len(x) > limit:
        idx = np.sort(np.random.default_rng(0).choice(len(x), limit, replace=False))
        x = x[idx]
    x = x.astype(np.float64)
    n = x.shape[0]
    names = ["row-major"]
    vecs = [x.reshape(n, -1)]
    shape = x.shape[1:]
    if len(shape) == 1:
        side = int(round(math.sqrt(shape[0])))
        if side * side == shape[0] and side > 1:
            names.append("column-major")
            vecs.append(x.reshape(n, side, side).transpose(0, 2, 1).reshape(n, -1))
    elif len(shape) == 2:
        names.append("column-major")
        vecs.append(x.transpose(0, 2, 1).reshape(n, -1))
    elif len(shape) == 3:
        if shape[0] > 1:
            names.append("channels-last")
            vecs.append(x.transpose(0, 2, 3, 1).reshape(n, -1))
        names.append("column-major")
        vecs.append(x.transpose(0, 1, 3, 2).reshape(n, -1))
    return Layouts(tuple(names), tuple(vecs), vecs[0].shape[1])


def image_bytes(v: np.ndarray) -> np.ndarray:
    """(N, ℓ) values → uint8 grey levels: scaled to [0, 1] by the data's range, then round(x·255)."""
    top = float(np.nanmax(v)) if v.size else 1.0
    scale = next((s for s in (1.0, 16.0, 255.0) if top <= s + 1e-6), top or 1.0)
    return np.rint(np.clip(v / scale, 0.0, 1.0) * 255.0).astype(np.uint8)


def theta(ctx: Context) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """θ: the weight matrices and kernels (2+ dimensions) in storage order, and each one's offset in θ; at most
    THETA_VALUES values (the attacks write from the start of θ)."""
    parts, offsets, pos = [], [], 0
    for t in ctx.float_tensors():
        if len(t.shape) < 2 or pos >= THETA_VALUES:
            continue
        v = ctx.values(t.name, THETA_VALUES - pos)
        parts.append(v)
        offsets.append((t.name, pos))
        pos += v.size
    return (np.concatenate(parts) if parts else np.zeros(0)), offsets


def _windows(
    th: np.ndarray, length: int, offsets: list[tuple[str, int]], limit: int = MAX_WINDOWS
) -> tuple[np.ndarray, np.ndarray]:
    """Window start positions: aligned to θ's start and to each tensor's start; at most MAX_WINDOWS."""
    starts = set(range(0, th.size - length + 1, length))
    ends = offsets[1:] + [("", th.size)]
    for (_, a), (_, b) in zip(offsets, ends):
        starts.update(range(a, b - length + 1, length))
    s = np.array(sorted(starts), dtype=np.int64)
    if s.size > limit:
        s = s[np.linspace(0, s.size - 1, limit).astype(np.int64)]
    if s.size == 0:
        return s, np.zeros((0, length))
    return s, th[s[:, None] + np.arange(length)[None, :]]


def _standardise(m: np.ndarray) -> np.ndarray:
    d = m - m.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(d, axis=1, keepdims=True)
    return d / np.where(norm > 0, norm, 1.0)


def _best(a: np.ndarray, b: np.ndarray, ctx: Context, absolute: bool) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``a``, the best score against rows of ``b`` (dot products) and its index."""
    best = np.full(a.shape[0], -np.inf)
    arg = np.zeros(a.shape[0], dtype=np.int64)
    for i in range(0, a.shape[0], 512):
        check(ctx.cancel)
        s = a[i : i + 512] @ b.T
        if absolute:
            s = np.abs(s)
        arg[i : i + 512] = s.argmax(axis=1)
        best[i : i + 512] = s.max(axis=1)
    return best, arg


def _best_layout(
    lay: Layouts, score: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], at: float
) -> tuple[str, np.ndarray, np.ndarray]:
    """The image layout under which the most windows match (``score`` ≥ ``at``; ties go to the higher median
    score): its name, and each window's best score and best image under it."""
    result: Any = None
    for name, vec in zip(lay.names, lay.vectors):
        best, arg = score(vec)
        share = float(np.mean(best >= at))
        if result is None or share > result[1] or (share == result[1] and np.median(best) > np.median(result[2])):
            result = (name, share, best, arg)
    name, _, best, arg = result
    return name, best, arg


def _matched(best: np.ndarray, at: float) -> tuple[int, float, float]:
    """Windows matched, their share, and the evidence (capped below a warning under MIN_MATCHES windows)."""
    matched = int(np.sum(best >= at))
    share = float(np.mean(best >= at))
    excess = share / MATCH_SHARE if matched >= MIN_MATCHES else min(0.45, share / MATCH_SHARE)
    return matched, share, excess


def correlation_test(ctx: Context, th: np.ndarray, offsets, lay: Layouts) -> Optional[Finding]:
    ell = lay.pixels
    starts, win = _windows(th, ell, offsets)
    if starts.size == 0:
        return None
    w = _standardise(win)
    name, best, arg = _best_layout(lay, lambda vec: _best(w, _standardise(vec), ctx, absolute=True), MATCH_R)
    matched, share, excess = _matched(best, MATCH_R)
    top = np.argsort(-best)[:5]
    msg = (
        f"{matched:,} of {starts.size:,} windows of {ell} weights correlate with a training image at |r| ≥ "
        f"{MATCH_R} ({pct(share)}; median best |r| {np.median(best):.2f}, benign ≈ {1 / math.sqrt(ell):.2f}–0.6), "
        f"images laid out {name}"
    )
    ev = {
        "windows": int(starts.size),
        "window": ell,
        "matched": matched,
        "share": share,
        "median_best_r": float(np.median(best)),
        "layout": name,
        "top": [{"offset": int(starts[i]), "image": int(arg[i]), "r": float(best[i])} for i in top],
    }
    return finding(NAME, "correlated-value", None, excess, msg, ev)


def sign_test(ctx: Context, th: np.ndarray, offsets, lay: Layouts) -> Optional[Finding]:
    ell = lay.pixels * 8
    starts, win = _windows(th, ell, offsets, MAX_WINDOWS // 2)
    if starts.size == 0:
        return None
    w = np.where(win > 0, 1.0, -1.0)

    def agreement(vec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        bits = np.unpackbits(image_bytes(vec), axis=1).astype(np.float64) * 2.0 - 1.0
        best, arg = _best(w, bits, ctx, absolute=False)
        return (best / ell + 1.0) / 2.0, arg

    name, agree, _ = _best_layout(lay, agreement, MATCH_AGREE)
    matched, share, excess = _matched(agree, MATCH_AGREE)
    kappa, k_at, k_image, k_layout = _sign_kappa(ctx, w, lay, starts)
    msg = (
        f"the signs of {matched:,} of {starts.size:,} windows of {ell} weights agree with the bits of a training "
        f"image's bytes at ≥ {pct(MATCH_AGREE)} ({pct(share)}; median best agreement {pct(float(np.median(agree)))}, "
        f"benign ≈ 50–60%), images laid out {name}"
    )
    ev = {
        "windows": int(starts.size),
        "window": ell,
        "matched": matched,
        "share": share,
        "median_best_agreement": float(np.median(agree)),
        "layout": name,
        "best_kappa": kappa,
        "best_kappa_offset": k_at,
        "best_kappa_image": k_image,
    }
    if kappa >= KAPPA_SIGN and kappa / KAPPA_SIGN > excess:
        excess = kappa / KAPPA_SIGN
        msg = (
            f"the signs of the {ell} weights at offset {k_at:,} of θ agree with the bits of training image "
            f"#{k_image}'s bytes (laid out {k_layout}) far beyond chance (Cohen's κ {kappa:.2f}; benign windows "
            f"≤ 0.35); {msg}"
        )
    return finding(NAME, "sign", None, excess, msg, ev)


def _sign_kappa(ctx: Context, w: np.ndarray, lay: Layouts, starts: np.ndarray) -> tuple[float, int, int, str]:
    """The window whose signs agree best with one image's bits beyond the agreement their shares of positive
    signs and one bits give by chance (Cohen's κ): its κ, offset in θ, image and layout. Decisive on one window:
    background-heavy images have ~75% zero bits, so raw agreement alone is high for mostly negative windows."""
    ell = w.shape[1]
    p = (w > 0).mean(axis=1)[:, None]
    best = (-np.inf, 0, 0, "")
    for name, vec in zip(lay.names, lay.vectors):
        bits = np.unpackbits(image_bytes(vec), axis=1).astype(np.float64) * 2.0 - 1.0
        q = (bits > 0).mean(axis=1)[None, :]
        for i in range(0, w.shape[0], 512):
            check(ctx.cancel)
            agree = (w[i : i + 512] @ bits.T / ell + 1.0) / 2.0
            pi = p[i : i + 512]
            chance = pi * q + (1.0 - pi) * (1.0 - q)
            with np.errstate(all="ignore"):
                kappa = np.where(chance < 0.99, (agree - chance) / (1.0 - chance), 0.0)
            j = int(np.argmax(kappa))
            r, c = divmod(j, kappa.shape[1])
            if kappa[r, c] > best[0]:
                best = (float(kappa[r, c]), int(starts[i + r]), int(c), name)
    return best


def _shingles(lay: Layouts) -> np.ndarray:
    """Sorted distinct 8-byte strings of the training images' bytes with some variety (≥ 3 distinct byte values,
    ≥ 5 non-zero bytes)."""
    out = []
    for vec in lay.vectors[:1]:
        b = image_bytes(vec)
        if b.shape[1] < SHINGLE:
            continue
        win = np.lib.stride_tricks.sliding_window_view(b, SHINGLE, axis=1).reshape(-1, SHINGLE)
        srt = np.sort(win, axis=1)
        distinct = 1 + (np.diff(srt.astype(np.int16), axis=1) != 0).sum(axis=1)
        nonzero = np.count_nonzero(win, axis=1)
        # Strings of mostly zero bytes also occur in rounded or pruned weights' low bits: keep varied ones.
        win = np.ascontiguousarray(win[(distinct >= 3) & (nonzero >= SHINGLE - 3)])
        out.append(win.view(np.uint64).reshape(-1))
    return np.unique(np.concatenate(out)) if out else np.zeros(0, dtype=np.uint64)


def _low_words(ctx: Context) -> list[tuple[np.ndarray, int]]:
    """Raw values of the float tensors in storage order (first LSB_VALUES), grouped by mantissa width."""
    groups: dict[tuple[str, int], list[np.ndarray]] = {}
    got = 0
    model = ctx.model
    assert model is not None  # the data-aware tests run only on an opened model file
    for t in ctx.float_tensors():
        ref = model[t.name]
        f = ctx.features(t.name)
        if ref.dtype.itemsize < 2 or got >= LSB_VALUES or (f is not None and f.grid):
            continue  # a quantisation grid has no free low bits: a payload would have broken it
        raw = ctx.raw(t.name, LSB_VALUES - got).view(ref.dtype.uint).astype(np.uint64)
        groups.setdefault((ref.dtype.name, ref.dtype.mantissa_bits), []).append(raw)
        got += raw.size
    return [(np.concatenate(v), m) for (_, m), v in groups.items()]


def lsb_test(ctx: Context, lay: Layouts) -> Optional[Finding]:
    table = _shingles(lay)
    if table.size == 0:
        return None
    best = (0, 0)  # hits, bits
    for words, mant in _low_words(ctx):
        for b in range(1, min(mant, 23) + 1):
            check(ctx.cancel)
            shifts = np.arange(b - 1, -1, -1, dtype=np.uint64)
            stream = ((words[:, None] >> shifts) & np.uint64(1)).astype(np.uint8).reshape(-1)
            packed = np.packbits(stream)
            if packed.size < SHINGLE:
                continue
            grams = np.lib.stride_tricks.sliding_window_view(packed, SHINGLE)
            keys = np.ascontiguousarray(grams).view(np.uint64).reshape(-1)
            pos = np.searchsorted(table, keys)
            hits = int(np.count_nonzero(table[np.minimum(pos, table.size - 1)] == keys))
            if hits > best[0]:
                best = (hits, b)
    hits, b = best
    msg = (
        f"{hits:,} byte strings of {SHINGLE} bytes from training images appear in the low {b} bits of the "
        "weights (read in storage order, most significant bit first); benign weights show none"
        if hits
        else f"no {SHINGLE}-byte string of a training image appears in the low 1–23 bits of the weights"
    )
    return finding(NAME, "lsb", None, hits / LSB_HITS, msg, {"hits": hits, "low_bits": b})


def detect(ctx: Context) -> list[Finding]:
    path = getattr(ctx.options, "train_sample", None)
    if not path:
        return []
    lay = layouts_of(load_dataset(path))
    th, offsets = theta(ctx)
    out = []
    for test in (correlation_test, sign_test):
        f = test(ctx, th, offsets, lay)
        if f is not None:
            out.append(f)
    f = lsb_test(ctx, lay)
    if f is not None:
        out.append(f)
    return out


def checked(ctx: Context) -> str:
    return (
        "data-aware: θ windows vs training images (correlation), signs vs training bits, training bytes in the low bits"
    )
