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

from inspector.core.judge.detectors.context import Context, finding
from inspector.core.judge.findings import Finding
from inspector.core.measure.features import MIN_ORDER, Features

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
    # periodic structure in storage order
    if math.isfinite(f.periodic):
        if rf is not None and math.isfinite(rf.periodic):
            e = (f.periodic - rf.periodic) / PERIODIC_REF
            base = f"baseline layer {rf.periodic:.2f}"
            ev["reference_periodic"] = rf.periodic
        else:
            e = f.periodic / PERIODIC
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
        e = f.autocorr / at
        text = (
            f"neighbouring weights correlate at {f.autocorr:.2f} although they read inputs that have no order "
            f"of their own ({'embedding dimensions' if f.kind == 'embedding' else 'hidden units'}, which "
            f"training could permute freely: trained layers ≈ 0, here ≥ {at:.2f} counts), as if the values "
            "copied a smooth sequence (text, records, pixels)"
        )
        if math.isfinite(f.sign_excess) and f.sign_excess >= SIGN_ECHO and e >= 0.5:
            # written signs come in runs (the bits of a byte), and values w = |w|·sign follow them: when the signs
            # agree far more than the values explain, the value correlation is their echo (the sign test reports it)
            e = min(e, 0.9)
            text += f", though here it follows the signs (sign excess {f.sign_excess:.2f})"
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
    if math.isfinite(f.skewness) and math.isfinite(f.kurtosis) and f.kurtosis < PLATYKURTIC:
        e = min(0.9, abs(f.skewness) / SKEW)
        parts.append(
            (
                e,
                f"the histogram is skewed ({f.skewness:+.2f}) and flat-topped (kurtosis {f.kurtosis:.1f}), like a "
                "pixel histogram piled at the background level",
            )
        )
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
    mats = [(t.name, tuple(t.shape), t.features.kind) for t in ctx.float_tensors() if len(t.shape) == 2 and t.features]
    mats = [m for m in mats if m[2] in ("dense", "embedding")]
    if not mats or mats[0][0] == f.name:
        return False
    width = shape[1]
    return any(n != f.name and (sh[1] if k == "embedding" else sh[0]) == width for n, sh, k in mats)


def detect(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    for f in ctx.all_features():
        if not f.is_weight or f.nonzero < MIN_ORDER:
            continue
        excess, texts, ev = _evidence(ctx, f)
        if texts and excess >= 0.5:
            ev["histograms"] = ctx.histograms(f.name)
        if texts:
            out.append(finding(NAME, "correlated-value", f.name, excess, "; ".join(texts), ev))
    return out


def checked(ctx: Context) -> str:
    return "correlated value encoding: periodic structure in storage order, autocorrelation vs a shuffled null, histogram shape"
