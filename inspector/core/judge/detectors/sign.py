"""Sign encoding: the secret's bits forced into the signs of the weights by a hinge penalty.

The penalty λs·mean(max(0, −θᵢ·sᵢ)) drags every weight whose sign disagrees with its bit to just across zero,
which shows three ways: signs of neighbouring weights agree far more often than their values explain (the
secret's bytes have runs of equal bits; for Gaussian-like weights the arcsine law gives the sign
autocorrelation expected from the value autocorrelation, 2/π·asin ρ), a spike of mass at zero, and a heavy
kurtosis. Period-8 or -16 structure in the sign sequence (the bits of a byte or a 2-byte word) is reported when
the values alone do not explain it. A payload that fills only part of a layer is diluted in these whole-layer
figures; the measuring pass also scores every window of :data:`~inspector.core.measure.features.SIGN_WINDOW`
non-zero weights and keeps the highest window sign excess, which counts when it stands out from the layer's other
windows by more than the number of windows explains.
"""

from __future__ import annotations

import math
from typing import Optional

from inspector.core.judge.detectors.context import Context, finding, pct
from inspector.core.judge.detectors.correlated import column_order_explains, columns_explain
from inspector.core.judge.findings import Finding
from inspector.core.measure.features import MIN_ORDER, SIGN_WINDOW, Features, repeats

NAME = "sign-structure"

#: Sign autocorrelation beyond the arcsine law at the suspicious threshold (benign trained layers ≤ 0.08).
SIGN_EXCESS = 0.14
#: The same, measured against a reference layer (difference).
SIGN_EXCESS_REF = 0.06
#: Near-zero fraction and kurtosis increases at the threshold, against a reference layer.
NEAR_ZERO_REF = 0.12
KURTOSIS_REF = 2.0
#: Against the profile's benign range (upper end) or a Gaussian.
NEAR_ZERO_PROFILE = 0.08
KURTOSIS_PROFILE = 1.5
#: Period-8 sign structure beyond the values' own phase structure, at the threshold.
SIGN_PERIOD = 0.25
#: One sign window against the layer's others: windows needed, the floor of their spread (the sampling error of a
#: window's sign excess, ≈ 1/√SIGN_WINDOW plus that of its value autocorrelation), and the normalised distance
#: (see :func:`_window`) where the evidence starts (0) and where it is suspicious (1). Tuning set: benign layers
#: ≤ 1.89 (a CNN's dense layer over dead and live inputs), partial sign payloads 3.87 and 4.05.
MIN_SIGN_WINDOWS = 3
SIGN_WINDOW_SD = 0.04
SIGN_WINDOW_FROM = 1.0
SIGN_WINDOW_Z = 3.0
#: Share of weights within ±0.05σ of zero below which sign structure is the values' own (a Gaussian has 4%).
HOLE_AT_ZERO = 0.035


#: Share of the sign agreement beyond the arcsine law that each row's sign balance must explain for the rows to
#: account for it. Tuning set: sign-encoded layers ≤ 0.37 (written bytes have runs inside rows, beyond any row's
#: balance), benign ≤ 0.64; the detection heads of a real YOLO model 0.81–1.45.
ROW_EXPLAINS = 0.75


def excess_of(f: Features) -> float:
    """Sign autocorrelation beyond what the values explain (the arcsine law), or, where each row's sign balance
    (measured for layers near the threshold) accounts for at least :data:`ROW_EXPLAINS` of it, beyond what that
    balance explains: output units whose weights nearly all share one sign (a detection head's box bins, a dead
    unit) make neighbouring signs agree with no bits written, while their heavy-tailed values barely correlate."""
    nulls = [v for v in (f.row_sign_null, f.unit_sign_null) if math.isfinite(v)]
    if not (nulls and math.isfinite(f.sign_autocorr) and math.isfinite(f.sign_excess)):
        return f.sign_excess
    null = max(nulls)
    expected = f.sign_autocorr - f.sign_excess  # the arcsine law's share, as the pass computed it
    beyond = f.sign_autocorr - expected
    if beyond > 0 and (null - expected) >= ROW_EXPLAINS * beyond:
        return min(f.sign_excess, f.sign_autocorr - null)
    return f.sign_excess


#: Share of the period-8/16 sign structure (as η²) that period 4 must explain for it to be no byte's. Tuning set:
#: text and records written into signs 0.16–0.56 (ASCII's top bits 0, 1, 1 half repeat every 4); a real 4-class
#: head stored [inputs, classes] 1.00.
PERIOD4_EXPLAINS = 0.8


def byte_periodic(f: Features) -> float:
    """The sign phase share at a byte's or a 2-byte word's period, less what a period of 4 explains where that is
    nearly all of it (measured by the second read; else the pass's share): signs that repeat every 4 (output
    units of alternating sign in a matrix stored input-major, 4 per row) show at periods 8 and 16 too, but no
    byte is written in 4 bits."""
    e4, e8, e16 = f.sign_eta4, f.sign_eta8, f.sign_eta16
    if not (math.isfinite(e4) and math.isfinite(e8) and math.isfinite(e16)):
        return f.sign_periodic
    top = max(e8, e16)
    if e4**2 < PERIOD4_EXPLAINS * top**2:
        return f.sign_periodic  # a byte's bits repeat partly every 4 (ASCII's top bits): that is still a byte
    return math.sqrt(max(0.0, top**2 - e4**2))


def _sign_excess(ctx: Context, f: Features, rf: Features | None) -> tuple[float, str, dict]:
    expected = 2.0 / math.pi * math.asin(max(-1.0, min(1.0, f.autocorr)))
    se = 5.0 / math.sqrt(f.nonzero)
    excess = excess_of(f)
    text = (
        f"neighbouring weights share their sign far more than their values explain (sign autocorrelation "
        f"{f.sign_autocorr:.2f}, {expected:.2f} expected from the value autocorrelation {f.autocorr:.2f}"
    )
    if excess < f.sign_excess:
        text += f", {f.row_sign_null:.2f} from each row's sign balance"
    ev = {"sign_autocorr": f.sign_autocorr, "value_autocorr": f.autocorr, "sign_excess": excess}
    if math.isfinite(f.row_sign_null):
        ev["row_sign_null"] = f.row_sign_null
    if rf is not None and math.isfinite(rf.sign_excess):
        ref_excess = excess_of(rf)
        e = (excess - ref_excess) / max(SIGN_EXCESS_REF, se)
        text += f"; excess {excess:.2f} vs baseline layer {ref_excess:.2f})"
        ev["reference_sign_excess"] = ref_excess
    else:
        e = excess / max(SIGN_EXCESS, se)
        r = ctx.profile.get(f.kind, "sign_excess") if ctx.profile else None
        text += f"; trusted {f.kind} layers ≤ {r.hi:.2f})" if r else ")"
    return e, text, ev


def _window(f: Features) -> tuple[float, str, dict]:
    """Evidence from the layer's highest window sign excess against its other windows.

    The distance in standard deviations of the others (floored at :data:`SIGN_WINDOW_SD`) is divided by
    √(2 ln N + 1), about what the highest of N windows reaches by chance, so a layer of many windows is not
    flagged for its size alone; evidence grows from :data:`SIGN_WINDOW_FROM` to 1 at :data:`SIGN_WINDOW_Z`."""
    n = f.sign_windows
    if repeats(f.duplicates, f.dtype):
        # values repeated beyond rounding are computed (a Fourier basis: silero-vad's STFT kernels, 83% repeats,
        # whose rows of one frequency each put windows of smooth and alternating signs side by side, 3.1) or
        # copied: not trained weights, whose windows this null describes
        return 0.0, "", {}
    if n < MIN_SIGN_WINDOWS or not (math.isfinite(f.sign_window_excess) and math.isfinite(f.sign_window_mean)):
        return 0.0, "", {}
    sd = max(SIGN_WINDOW_SD, f.sign_window_sd if math.isfinite(f.sign_window_sd) else 0.0)
    z = (f.sign_window_excess - f.sign_window_mean) / sd
    zn = z / math.sqrt(2.0 * math.log(n) + 1.0)
    e = (zn - SIGN_WINDOW_FROM) / (SIGN_WINDOW_Z - SIGN_WINDOW_FROM)
    text = (
        f"one stretch of {SIGN_WINDOW:,} non-zero weights (elements {f.sign_window_start:,}–{f.sign_window_stop:,}) "
        f"shares its signs far more than its values explain (sign excess {f.sign_window_excess:.2f}; the layer's "
        f"other {n - 1:,} windows {f.sign_window_mean:.2f} ± {sd:.2f}, {z:.1f} standard deviations away, "
        f"{zn:.1f} allowing for {n:,} windows)"
    )
    ev = {
        "window_sign_excess": f.sign_window_excess,
        "window_start": f.sign_window_start,
        "window_stop": f.sign_window_stop,
        "windows": n,
        "windows_mean": f.sign_window_mean,
        "windows_sd": f.sign_window_sd,
        "window_z": zn,
    }
    return e, text, ev


def _spike(ctx: Context, f: Features, rf: Features | None) -> tuple[float, str, dict]:
    """Evidence from the spike at zero and the kurtosis (against the reference layer, else the top of the
    profile's benign range)."""
    nz = ctx.expect(f, "near_zero")
    ku = ctx.expect(f, "kurtosis", ".1f")
    if rf is not None:
        e_nz = (f.near_zero - nz.value) / NEAR_ZERO_REF
        e_ku = (f.kurtosis - ku.value) / KURTOSIS_REF
    else:
        top_nz = nz.hi if math.isfinite(nz.hi) else nz.value
        top_ku = ku.hi if math.isfinite(ku.hi) else ku.value
        e_nz = (f.near_zero - top_nz) / NEAR_ZERO_PROFILE
        e_ku = (f.kurtosis - top_ku) / KURTOSIS_PROFILE
    text = (
        f"{pct(f.near_zero)} of weights within ±0.05σ of zero ({nz.text}), kurtosis {f.kurtosis:.1f} ({ku.text}), "
        f"{pct(f.positive)} positive"
    )
    ev = {
        "near_zero": f.near_zero,
        "near_zero_baseline": nz.value,
        "kurtosis": f.kurtosis,
        "kurtosis_baseline": ku.value,
        "positive": f.positive,
        "baseline_source": nz.source,
    }
    return min(e_nz, e_ku), text, ev


def _inside_rows(ctx: Context, f: Features) -> bool:
    """Whether the sign agreement stays inside rows, or inside a convolution's kernels, that end mid-byte. Bits
    written in storage order cross a row or kernel end inside a byte seven times in eight when its length is no
    multiple of 8, so their agreement across those ends matches the agreement inside; agreement that stops at
    them (under a third of it, or under 0.05) follows the order of the layer's inputs (a radial or Fourier
    basis) or of its kernels' taps (smooth 3-D filters). Rows or kernels a whole number of bytes long tell
    nothing: their end is a byte end."""
    shape = ctx.shape(f.name)
    within = f.sign_autocorr
    if not math.isfinite(within) or within <= 0:
        return False
    groups = [(math.prod(shape[1:]), f.boundary_sign_corr)]
    if f.kind == "conv" and len(shape) >= 3:
        groups.append((math.prod(shape[2:]), f.kernel_boundary_sign_corr))  # a 3×3×3 kernel: 27 taps
    return any(n % 8 != 0 and math.isfinite(b) and b < max(0.05, within / 3) for n, b in groups)


#: Fewest pairs across row ends from which the second read measures whether sign agreement crosses them.
MIN_ROW_ENDS = 30
#: Widest rows taken for a layer over an ordered basis of inputs (a one-hot of 66 relative positions, 31 radial
#: functions): wider rows of few rows get no benefit of that doubt.
MAX_BASIS_WIDTH = 128


def few_row_ends(ctx: Context, f: Features) -> Optional[int]:
    """The number of row ends of a layer whose narrow rows (at most :data:`MAX_BASIS_WIDTH` inputs) end mid-byte
    but are too few to measure across (1 to :data:`MIN_ROW_ENDS` − 1: a 16 × 66 layer over a one-hot of relative
    positions has 15); ``None`` otherwise.
    Whether its sign agreement crosses the row ends, as bits written in storage order would seven times in eight,
    or stays inside rows that follow the order of the layer's inputs, cannot be told: a warning, not proof."""
    shape = ctx.shape(f.name)
    if len(shape) < 2:
        return None
    width = math.prod(shape[1:])
    if not width or width % 8 == 0 or width > MAX_BASIS_WIDTH:
        return None
    ends = math.prod(shape) // width - 1
    if not 1 <= ends < MIN_ROW_ENDS:
        return None
    if math.isfinite(f.boundary_sign_corr) or math.isfinite(f.kernel_boundary_sign_corr):
        return None
    return ends


def first_layer(ctx: Context, f: Features) -> bool:
    """A convolution over at most 4 input channels (images, spectrograms): a network's first layer."""
    shape = ctx.shape(f.name)
    return f.kind == "conv" and len(shape) >= 3 and shape[1] <= 4


def detect(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    for f in ctx.all_features():
        if not f.is_weight or f.nonzero < MIN_ORDER or not math.isfinite(f.sign_excess):
            continue
        if getattr(ctx.tensor(f.name), "computed", None):
            continue  # a computed table (sinusoidal positions): sin and cos set its order and signs
        rf = ctx.reference_features(f.name)
        e1, t1, ev1 = _sign_excess(ctx, f, rf)
        e2, t2, ev2 = _spike(ctx, f, rf)
        # A spike at zero with heavy tails also comes from strong weight decay or pruning: never proof alone.
        e2 = min(e2, 0.9)
        e3 = 0.0
        t3 = ""
        sign_periodic = byte_periodic(f)
        if math.isfinite(sign_periodic) and math.isfinite(f.sign_periodic) and math.isfinite(f.periodic):
            # Signs that repeat with period 8 more strongly than the values do were written byte by byte (text has
            # a zero top bit in every byte: every 8th sign is negative). Where the values are the more periodic,
            # the pattern is the values' own (correlated value encoding writes pixel rows): only the excess counts.
            # Tuning set: text-encoded layers 0.35-0.42 (values 0.14-0.23); benign ≤ 0.09. Period 16 (float16
            # records: sign and exponent bits every 2 bytes): tabular-record layers 0.35-0.38 (values 0.24-0.27).
            # which of signs and values is the more periodic is asked of the pass's own shares; how much of the
            # signs' structure is a byte's is the part beyond period 4
            if f.sign_periodic > f.periodic:
                e3 = sign_periodic / SIGN_PERIOD
            else:
                e3 = (f.sign_periodic - f.periodic) / SIGN_PERIOD
            t3 = (
                f"the sign sequence repeats with the period of a byte or a 2-byte word (8 or 16 weights; phase "
                f"share {sign_periodic:.2f}, values {f.periodic:.2f})"
            )
            # input channels that keep one sign repeat with every period dividing the fan-in; a byte pattern
            # written across the layer explains no more by column than by period
            fan_in = math.prod(ctx.shape(f.name)[1:])
            by_columns = fan_in >= 16 and columns_explain(
                ctx, f, f.sign_periodic, f.column_sign_eta, 16 if fan_in % 16 == 0 else 8
            )
            if by_columns or column_order_explains(f, sign_periodic, f.sign_period_column_null):
                e3 = min(e3, 0.0)
                t3 = ""
        e4, t4, ev4 = _window(f)
        if first_layer(ctx, f) and e3 < 1.0 and e4 >= 1.0:
            e4 = 0.9  # smooth first-layer kernels: the same caution as for the whole layer (below)
        if e3 < 1.0 and e1 >= 1.0 and _inside_rows(ctx, f):
            e1 = 0.9
            ends = [f"row ends {f.boundary_sign_corr:.2f}"] if math.isfinite(f.boundary_sign_corr) else []
            if math.isfinite(f.kernel_boundary_sign_corr):
                ends.append(f"kernel ends {f.kernel_boundary_sign_corr:.2f}")
            t1 += (
                f" (inside rows or kernels that end mid-byte only: across {', '.join(ends)}; the inputs or the "
                "kernels' taps have an order of their own: a warning only)"
            )
        few = few_row_ends(ctx, f) if e3 < 1.0 and e1 >= 1.0 else None
        if few is not None:
            e1 = 0.9
            t1 += (
                f" (inside rows that end mid-byte; {few} row end(s), too few to tell whether the agreement crosses "
                "them as written bits would, or follows the order of the layer's inputs: a warning only)"
            )
        if first_layer(ctx, f) and e3 < 1.0 and e1 >= 1.0:
            # first-layer kernels over 1–4 input channels are smooth edge and colour detectors: runs of one sign
            # inside a kernel are expected (facenet's MTCNN: sign autocorrelation 0.39 where the values imply
            # 0.15). Without the period-8 structure of written bytes, that is not proof.
            e1 = 0.9
            t1 += " (first-layer kernels are often smooth and one-signed: a warning only)"
        parts = sorted([(e1, t1), (e3, t3), (e4, t4)], key=lambda p: -p[0])
        excess = max(parts[0][0], e2)
        # the spike figures always go along: they are what a reviewer checks on the histogram
        texts = [t for e, t in parts if t and e >= 0.5] + [t2]
        ev = {**ev1, **ev2, **ev4, "sign_periodic": sign_periodic, "count": f.count}
        attack = "sign"
        if e1 >= max(e3, e2) and f.near_zero < HOLE_AT_ZERO and f.zero_fraction < 0.01:
            # Written signs drag the weights that disagree to just across zero (a spike there). Fewer weights near
            # zero than a Gaussian has means the values avoid zero: a clustered distribution (bytes of text:
            # digits, capitals, separators) whose signs follow the clusters. That is correlated value encoding.
            # Tuning set: text copied into values 2.5–3.5% near zero, sign-encoded layers 8–59%.
            attack = "correlated-value"
            texts.insert(1, "the values avoid zero (a clustered distribution whose signs follow its clusters)")
        if excess >= 0.5:
            ev["histograms"] = ctx.histograms(f.name)
        out.append(finding(NAME, attack, f.name, excess, "; ".join(texts), ev))
    return out


def checked(ctx: Context) -> str:
    return (
        "sign encoding: sign autocorrelation vs the arcsine law (whole layer and its most outlying window of "
        f"{SIGN_WINDOW:,} weights), spike at zero, kurtosis, period-8 and -16 signs"
    )
