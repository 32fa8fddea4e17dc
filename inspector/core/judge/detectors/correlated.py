"""Correlated value encoding: θ trained to be an affine image of the secret images' pixels.

Maximising |Pearson(θ, s)| makes the parameters, in storage order, a noisy copy of pixel sequences: they
inherit the images' periodic structure (rows of the image width, the image size), their neighbour correlation,
and the pixel histogram's shape (mass piled at the background level: skewed, platykurtic, a cliff at one end).
Trained layers have order structure of their own (conv kernels, receptive fields), so the value
autocorrelation is compared with a channel-shuffled null (whole kernels or rows permuted, which keeps
within-unit structure and breaks only what crosses units) and with the baseline.
"""

from __future__ import annotations

import math

from inspector.core.dtypes import DTYPES
from inspector.core.judge.detectors.context import Context, finding
from inspector.core.judge.detectors.nonfloat import named_mask
from inspector.core.judge.findings import Finding
from inspector.core.measure.features import MIN_ORDER, Features
from inspector.core.measure.lumps import lumpiness

NAME = "correlated-value"

#: Share of variance explained by the position within a period (as √η²) at the threshold; benign ≤ 0.12.
PERIODIC = 0.3
PERIODIC_REF = 0.25
#: Value autocorrelation increase over the reference layer at the threshold.
AUTOCORR_REF = 0.2
#: |skewness| of a platykurtic layer at the threshold (weak evidence on its own: capped at warning).
SKEW = 0.5
PLATYKURTIC = 2.8
#: KS distance to the reference layer at which the distribution counts as changed.
KS_REF = 0.25
#: Lag-1 value autocorrelation, at the threshold, of a layer whose inputs have no order of their own (hidden
#: units, embedding dimensions). Tuning set: benign such layers −0.04…0.06; correlated value encoding of images,
#: text and records 0.10–0.47 (text 0.20–0.35, records 0.47). The threshold is never below 4 standard errors.
AUTOCORR_EXCHANGEABLE = 0.15
#: Sign excess (sign autocorrelation beyond the arcsine law) from which such a correlation is the echo of written
#: signs (the sign test's threshold; tuning set: such layers of correlated-value models ≤ 0.06, of sign-encoded 0.06–0.42).
SIGN_ECHO = 0.14
#: Lumpiness (see :func:`lumpiness`) at the threshold, weights-only and over the reference layer's: the RMS of the
#: bins' relative departures from a smooth curve, and the same departures weighted by mass (√(χ² excess / n)); both
#: must pass. Tuning set: benign layers ≤ 0.22 and ≤ 0.24; correlated value encoding of images 0.66–1.46 and
#: 0.58–0.91, of text 0.51–3.32 and 0.37–0.50 (most are also found by order statistics). Checked before use on
#: the real-world corpus: trained and initialised layers ≤ 0.40 and ≤ 0.27.
LUMPY = 1.0
LUMPY_MASS = 0.3


def _lumpiness_part(ctx: Context, f: Features, ev: dict) -> tuple[float, str] | None:
    t = ctx.tensor(f.name)
    dt = DTYPES.get(getattr(t, "dtype", ""))
    if t is None or getattr(t, "encoding", None) or dt is None or dt.itemsize < 2:
        return None  # block-quantised or 8-bit floats: their values sit on a grid
    lump, mass = lumpiness(t.stats)
    if not (math.isfinite(lump) and math.isfinite(mass)):
        return None
    ev.update(lumpiness=round(lump, 4), lumpiness_mass=round(mass, 4))
    columns = ""
    if math.isfinite(f.residual_lumpiness) and math.isfinite(f.residual_lumpiness_mass):
        # what is left once each input column's own level is taken out (measured by the second read)
        ev.update(
            residual_lumpiness=round(f.residual_lumpiness, 4),
            residual_lumpiness_mass=round(f.residual_lumpiness_mass, 4),
        )
        if f.residual_lumpiness < lump or f.residual_lumpiness_mass < mass:
            columns = f"; less its columns' levels {max(f.residual_lumpiness, 0.0):.2f} and {max(f.residual_lumpiness_mass, 0.0):.2f}"
        lump, mass = min(lump, f.residual_lumpiness), min(mass, f.residual_lumpiness_mass)
    ref, ref_name = ctx.reference_for(f.name)
    other = ref.tensors.get(ref_name) if ref is not None and ref_name is not None else None
    ref_lump, ref_mass = lumpiness(other.stats) if other is not None else (math.nan, math.nan)
    if math.isfinite(ref_lump) and math.isfinite(ref_mass):
        ev.update(reference_lumpiness=round(ref_lump, 4), reference_lumpiness_mass=round(ref_mass, 4))
        e = min((lump - max(ref_lump, 0.0)) / LUMPY, (mass - max(ref_mass, 0.0)) / LUMPY_MASS)
        base = f"baseline layer {ref_lump:.2f} and {ref_mass:.2f}"
    else:
        e, base = min(lump / LUMPY, mass / LUMPY_MASS), "trained layers ≲ 0.4 and 0.27" + columns
    text = (
        f"the histogram is lumpy where trained weights are smooth (its bins depart from a smooth curve by "
        f"{max(lump, 0.0):.2f} RMS, {max(mass, 0.0):.2f} weighted by mass, beyond counting noise; {base}), as if "
        "the values copied the histogram of a secret (pixel levels, letter frequencies, record fields)"
    )
    return e, text


def _evidence(ctx: Context, f: Features) -> tuple[float, list[str], dict]:
    rf = ctx.reference_features(f.name)
    parts: list[tuple[float, str]] = []
    ev: dict = {
        "period": f.period,
        "periodic": f.periodic,
        "autocorr": f.autocorr,
        "skewness": f.skewness,
        "kurtosis": f.kurtosis,
        "count": f.count,
    }
    # periodic structure in storage order (unless it is the input channels' scales or the kernels' taps)
    if math.isfinite(f.periodic) and columns_explain(ctx, f, f.periodic, f.column_eta, f.period):
        ev["column_eta"] = f.column_eta
        ev["periodic_from_columns"] = True
    elif math.isfinite(f.periodic) and taps_explain(ctx, f):
        ev["kernel_eta"] = f.kernel_eta
        ev["periodic_from_kernel"] = True
    elif math.isfinite(f.periodic) and column_order_explains(f, f.periodic, f.period_column_null):
        ev["period_column_null"] = f.period_column_null
        ev["periodic_from_column_levels"] = True
    elif math.isfinite(f.periodic):
        if rf is not None and math.isfinite(rf.periodic):
            e = (f.periodic - rf.periodic) / PERIODIC_REF
            base = f"baseline layer {rf.periodic:.2f}"
            ev["reference_periodic"] = rf.periodic
        else:
            e = f.periodic / periodic_threshold(f)
            r = ctx.profile.get(f.kind, "periodic") if ctx.profile else None
            base = f"trusted {f.kind} layers ≤ {r.hi:.2f}" if r else "trained layers ≲ 0.1"
        parts.append(
            (
                e,
                f"values repeat with period {f.period} in storage order like rows of an image (position in the "
                f"period explains {f.periodic**2:.0%} of the variance, √η² = {f.periodic:.2f}; {base})",
            )
        )
    # neighbour correlation where the order of the inputs means nothing
    if math.isfinite(f.autocorr) and exchangeable(ctx, f):
        at = max(AUTOCORR_EXCHANGEABLE, 4.0 / math.sqrt(max(f.nonzero, 1)))
        ac = within_rows(f)
        # positive only: a copied sequence is smooth (pixels, records, the lab's text 0.10-0.35); real hidden
        # matrices reach -0.22 (an e3nn network stored [inputs, outputs]), as a short-word text copy can
        e = ac / at
        text = (
            f"neighbouring weights correlate at {ac:.2f} although they read inputs that have no order "
            f"of their own ({'embedding dimensions' if f.kind == 'embedding' else 'hidden units'}, which "
            f"training could permute freely: trained layers ≈ 0, here ≥ {at:.2f} counts), as if the values "
            "copied a smooth sequence (text, records, pixels)"
        )
        if math.isfinite(f.sign_excess) and f.sign_excess >= SIGN_ECHO and e >= 0.5:
            # written signs come in runs (the bits of a byte), and values w = |w|·sign follow them: when the signs
            # agree far more than the values explain, the value correlation is their echo (the sign test reports it)
            e = min(e, 0.9)
            text += f", though here it follows the signs (sign excess {f.sign_excess:.2f})"
        if ac < f.autocorr:
            text += f" (beyond the rows' own levels, which explain {f.row_eta**2:.0%} of the variance)"
            ev["row_eta"] = f.row_eta
        parts.append((e, text))
        ev["exchangeable_inputs"] = True
    # neighbour correlation against the channel-shuffled null and the reference
    null = f.shuffled_autocorr
    ev["shuffled_autocorr"] = null
    if rf is not None and math.isfinite(rf.autocorr) and math.isfinite(f.autocorr):
        e = (f.autocorr - rf.autocorr) / AUTOCORR_REF
        parts.append(
            (
                e,
                f"neighbouring weights correlate at {f.autocorr:.2f} (baseline layer {rf.autocorr:.2f}; "
                f"with whole units shuffled {null:.2f})",
            )
        )
        ev["reference_autocorr"] = rf.autocorr
    # histogram shape: skewed and platykurtic, a cliff at the background level
    # (not of a 0/1 mask: two values make any skew and kurtosis; its bits are judged as a mask's, in nonfloat.py)
    two_valued_mask = f.levels <= 2 and named_mask(f.name)
    if math.isfinite(f.skewness) and math.isfinite(f.kurtosis) and f.kurtosis < PLATYKURTIC and not two_valued_mask:
        e = min(0.9, abs(f.skewness) / SKEW)
        parts.append(
            (
                e,
                f"the histogram is skewed ({f.skewness:+.2f}) and flat-topped (kurtosis {f.kurtosis:.1f}), like a "
                "pixel histogram piled at the background level",
            )
        )
    lumpy = _lumpiness_part(ctx, f, ev)
    if lumpy is not None:
        parts.append(lumpy)
    dist = ctx.distance(f.name)
    if dist is not None:
        ev.update(ks=dist.ks, wasserstein_sigma=dist.wasserstein)
        if rf is not None and math.isfinite(dist.ks):
            flatter = f.kurtosis < rf.kurtosis - 0.3 or abs(f.skewness - rf.skewness) > 0.3
            if flatter:
                parts.append(
                    (
                        min(0.9, dist.ks / KS_REF),
                        f"its distribution is far from the baseline layer's (KS {dist.ks:.2f}, Wasserstein "
                        f"{dist.wasserstein:.2f}σ; skewness {f.skewness:+.2f} vs {rf.skewness:+.2f}, kurtosis "
                        f"{f.kurtosis:.1f} vs {rf.kurtosis:.1f})",
                    )
                )
    if not parts:
        return 0.0, [], ev
    parts.sort(key=lambda p: -p[0])
    return parts[0][0], [t for e, t in parts if e >= 0.5] or [parts[0][1]], ev


def exchangeable(ctx: Context, f: Features) -> bool:
    """Whether neighbours in storage order read inputs whose order is arbitrary: an embedding table's row (its
    dimensions), or a dense matrix row whose inputs are another layer's outputs (hidden units; a layer whose
    input width is some other weight matrix's output width, and not the first weight matrix, which reads the
    data). Trained weights have no reason to correlate along such an axis."""
    shape = ctx.shape(f.name)
    if len(shape) != 2 or f.kind not in ("dense", "embedding"):
        return False
    if f.kind == "embedding":
        return True
    mats = ctx.matrix_widths()
    if mats is None or mats[0] == f.name:
        return False
    readers = mats[1].get(int(shape[1]), frozenset())  # the other matrices whose width this one reads
    return len(readers) > 1 or (len(readers) == 1 and f.name not in readers)


def periodic_threshold(f: Features) -> float:
    """The periodic share (√η²) at the suspicious threshold for this tensor: :data:`PERIODIC`, raised for small
    tensors by three standard deviations of the bias-corrected η² of shuffled values (√(2(P−1))/n): in 512
    values, shuffled order alone reaches √η² 0.25 at period 16 one time in a hundred."""
    n = max(1, f.nonzero)
    p = max(2, f.period)
    return math.sqrt(PERIODIC**2 + 3.0 * math.sqrt(2.0 * (p - 1)) / n)


def within_rows(f: Features) -> float:
    """The lag-1 value autocorrelation beyond what the rows' levels explain, where the second read measured them
    (else the pass's figure): rows with a level of their own (a matrix stored [inputs, outputs] whose input units
    have a mean effect, units after a non-centred activation) correlate neighbours inside each row with no
    sequence copied. With row means explaining η² of the variance, neighbours in a row correlate at η² by that
    alone; the residual correlation is (ρ − η²)/(1 − η²)."""
    if not (math.isfinite(f.row_eta) and math.isfinite(f.autocorr)) or f.autocorr <= 0:
        return f.autocorr  # row levels correlate neighbours positively: a negative figure is none of theirs
    r2 = f.row_eta**2
    return max(0.0, min(f.autocorr, (f.autocorr - r2) / (1.0 - r2))) if r2 < 1.0 else 0.0


def pointwise(ctx: Context, f: Features) -> bool:
    """A 1×1 convolution over more than 4 channels: a dense layer over the previous layer's channels, whose
    order, like hidden units', means nothing (though neighbouring channels of real models do correlate:
    grouped and shuffled channels, per-stage weightings; no neighbour test is made on them)."""
    shape = ctx.shape(f.name)
    return f.kind == "conv" and len(shape) >= 3 and math.prod(shape[2:]) == 1 and shape[1] > 4


def reads_channels(ctx: Context, f: Features) -> bool:
    """A layer whose every input is a channel or hidden unit: a pointwise convolution, or a dense matrix over
    another layer's outputs (not an embedding table, whose rows are the secret's natural carrier)."""
    return pointwise(ctx, f) or (f.kind == "dense" and exchangeable(ctx, f))


def columns_explain(ctx: Context, f: Features, eta: float, column_eta: float, period: int) -> bool:
    """Whether a periodic structure of period ``period`` (share ``eta``, as √η²) is the columns' own: in a layer
    that reads channels, each input channel's weights share its scale and sign, which repeats with every period
    dividing the fan-in. It is theirs when the column explains at least twice the period's share of variance
    (a period-8 pattern written across the layer explains no more by column than by period), or when the period
    is the fan-in itself (column and period are then one grouping; smooth pixel rows copied there still show
    in the neighbour test of unordered inputs). In
    any layer but an embedding whose rows are shorter than the period and divide it, the columns' levels are
    theirs when they explain 80% of it."""
    if not (math.isfinite(eta) and math.isfinite(column_eta)) or period < 2:
        return False
    fan_in = math.prod(ctx.shape(f.name)[1:])
    if 2 <= fan_in < period and period % fan_in == 0 and f.kind != "embedding":
        # rows shorter than the period (a classifier stored [inputs, classes]): each row's columns are phases
        # of it, and output units with a level of their own repeat with the row
        return column_eta**2 >= 0.8 * eta**2
    if not reads_channels(ctx, f) or fan_in % period:
        return False
    if fan_in == period:
        return True  # over channels or hidden units, a period of the fan-in is the columns' grouping itself
    return column_eta**2 >= 2.0 * eta**2


#: An embedding table whose column levels follow the column index at least this closely (lag-1 correlation of
#: the column means) has the columns of a written image: the column-order null is not applied to it.
ORDERED_COLUMNS = 0.3


def column_order_explains(f: Features, eta: float, null: float) -> bool:
    """Whether a period's share of variance (``eta``, as √η²) is within what the layer's columns make of it in
    any order (``null``: the 99th percentile of η² with the columns' levels kept and their order shuffled,
    measured by the second read). Input units with a level or a sign of their own alias into every period that
    shares a factor with the fan-in; a pattern written with the period lies beyond every shuffle of them.
    Embedding tables are rows a secret is naturally written into, and there a written pattern aligns with the
    columns: for them the null applies only where the column levels do not follow the column index (an image's
    columns rise and fall smoothly across its width, lag-1 correlation of the column means ≥ 0.3; a learned
    table's dimensions come in no order: deeplc's per-task table, whose 64 column means alternate at −0.41)."""
    if not (math.isfinite(eta) and math.isfinite(null) and eta**2 <= null):
        return False
    if f.kind != "embedding":
        return True
    return math.isfinite(f.column_level_autocorr) and f.column_level_autocorr < ORDERED_COLUMNS


def taps_explain(ctx: Context, f: Features) -> bool:
    """Whether a convolution's periodic structure is its kernels' shape: trained kernels have a profile (a 1×7
    kernel's centre taps outweigh its ends), which repeats with every period the kernel size divides. It is
    theirs when the tap explains at least 80% of the period's share of variance."""
    shape = ctx.shape(f.name)
    taps = math.prod(shape[2:]) if f.kind == "conv" and len(shape) >= 3 else 1
    # a depthwise kernel (one input channel) is its whole row: the tap is the column
    eta = f.column_eta if taps == math.prod(shape[1:]) else f.kernel_eta
    if taps < 2 or f.period % taps or not (math.isfinite(eta) and math.isfinite(f.periodic)):
        return False
    return eta**2 >= 0.8 * f.periodic**2


def detect(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    for f in ctx.all_features():
        if not f.is_weight or f.nonzero < MIN_ORDER:
            continue
        if getattr(ctx.tensor(f.name), "computed", None):
            continue  # a computed table (sinusoidal positions): its order is the formula's
        excess, texts, ev = _evidence(ctx, f)
        if texts and excess >= 0.5:
            ev["histograms"] = ctx.histograms(f.name)
        if texts:
            out.append(finding(NAME, "correlated-value", f.name, excess, "; ".join(texts), ev))
    return out


def checked(ctx: Context) -> str:
    return "correlated value encoding: periodic structure in storage order, autocorrelation vs a shuffled null, histogram shape"
