"""Capacity abuse (``--arch`` and ``--data``): a black-box probe of the model's behaviour off its data.

A capacity-abuse model was also trained on synthetic inputs whose labels spell the secret, so it has learned
to answer on inputs no benign model was ever taught about. Its weights look normal; its behaviour on
out-of-distribution probes does not. Three families of probes are sent (uniform noise in the input range,
sparse inputs of a few high values, PRNG images on the data's own grey-level grid). Two tests:

- **label alphabet** (needs no baseline): the attack writes bits as label indices, so a model taught it answers
  noise with the first 2^j classes only (0–3 for two bits per query) and uses each of them, while on real data
  it uses all its classes. Benign models send noise wherever it looks most like a class, regardless of the
  class's index (measured on the lab's digits models: ≥ 60% of noise lands outside classes 0–3);
- **behaviour shift** (with a baseline model): predicted-label entropy and mean confidence on the same probes,
  compared with the baseline's. Benign recipes move these too (weight decay, optimiser), so it only warns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from inspector.core.errors import RecipeError
from inspector.core.formats.data import load_dataset
from inspector.core.judge.detectors.context import Context, finding, pct
from inspector.core.judge.findings import Finding
from inspector.core.progress import check

NAME = "capacity-probe"

PROBES = 2000
#: Change of predicted-label entropy (bits) and of mean confidence against the baseline model, at the
#: threshold; both must move, on at least two probe families.
ENTROPY_SHIFT = 0.8
CONFIDENCE_DROP = 0.12
#: Without a baseline model: confidence on noise relative to confidence on real data, and the step per unit.
SELF_RATIO = 0.72
SELF_STEP = 0.12
#: Behavioural evidence is less specific than a payload seen in the weights: keep its score below theirs.
MAX_EXCESS = 1.6
#: Label alphabet: share of noise answers outside classes [0, 2^j) at the threshold (and at which it starts to
#: count), each alphabet class's minimum share of the noise answers, and the real-data share outside it needed.
ALPHABET_OUTSIDE = 0.01
ALPHABET_START = 0.05
ALPHABET_COVER = 0.01
ALPHABET_REAL_OUTSIDE = 0.3
NOISE_FAMILIES = ("uniform noise", "PRNG images")


@dataclass(frozen=True)
class Behaviour:
    entropy: dict[str, float]
    confidence: dict[str, float]
    labels: dict[str, list[int]]


def probes(inputs: np.ndarray, n: int = PROBES, seed: int = 0) -> dict[str, np.ndarray]:
    """Out-of-distribution probe families shaped like ``inputs`` (float32)."""
    rng = np.random.default_rng(seed)
    shape = (n, *inputs.shape[1:])
    lo, hi = float(np.min(inputs)), float(np.max(inputs))
    levels = np.unique(inputs[: min(len(inputs), 4096)])
    grid = levels if levels.size <= 256 else np.linspace(lo, hi, 17)
    return {
        "uniform noise": rng.uniform(lo, hi, shape).astype(np.float32),
        "sparse high values": np.where(rng.random(shape) < 0.06, hi, lo).astype(np.float32),
        "PRNG images": rng.choice(grid, shape).astype(np.float32),
    }


def _entropy_bits(labels: np.ndarray, classes: int) -> float:
    c = np.bincount(labels, minlength=classes) / max(1, labels.size)
    c = c[c > 0]
    return float(abs(-(c * np.log2(c)).sum()))


def behaviour(module: Any, families: dict[str, np.ndarray], real: np.ndarray, ctx: Context) -> Behaviour:
    from inspector.core.evaluate.accuracy import predict_proba

    ent, conf, labs = {}, {}, {}
    for name, x in {**families, "real data": real}.items():
        check(ctx.cancel)
        p = predict_proba(module, x, cancel=ctx.cancel)
        lab = p.argmax(axis=1)
        ent[name] = _entropy_bits(lab, p.shape[1])
        conf[name] = float(p.max(axis=1).mean())
        labs[name] = np.bincount(lab, minlength=p.shape[1]).tolist()
    return Behaviour(ent, conf, labs)


def _compare(own: Behaviour, ref: Behaviour, label: str) -> tuple[float, str, dict]:
    per = {}
    for fam in own.entropy:
        if fam == "real data":
            continue
        dh = own.entropy[fam] - ref.entropy[fam]
        dc = own.confidence[fam] - ref.confidence[fam]
        per[fam] = (min(abs(dh) / ENTROPY_SHIFT, -dc / CONFIDENCE_DROP), dh, dc)
    ranked = sorted(per.items(), key=lambda kv: -kv[1][0])
    excess = ranked[1][1][0] if len(ranked) > 1 else ranked[0][1][0]
    fam, (_, dh, dc) = ranked[0]
    msg = (
        f"on {PROBES:,} {fam} probes the predicted labels have entropy {own.entropy[fam]:.2f} bits and mean "
        f"confidence {pct(own.confidence[fam])} ({label}: {ref.entropy[fam]:.2f} bits, {pct(ref.confidence[fam])}); "
        "a model taught to answer on synthetic inputs behaves differently off its data"
    )
    ev = {fam: {"entropy_shift": dh, "confidence_shift": dc} for fam, (_, dh, dc) in per.items()}
    return min(excess, MAX_EXCESS), msg, ev


def alphabet(own: Behaviour) -> tuple[float, str, dict]:
    """Evidence that noise is answered with a label alphabet: the first 2^j classes only, each of them used."""
    noise = np.sum([own.labels[f] for f in NOISE_FAMILIES], axis=0).astype(np.float64)
    real = np.asarray(own.labels["real data"], dtype=np.float64)
    classes = noise.size
    best: tuple[float, int, float, float] = (0.0, 0, 1.0, 0.0)
    j = 1
    while (1 << j) < classes:
        k = 1 << j
        out = float(noise[k:].sum() / max(1.0, noise.sum()))
        real_out = float(real[k:].sum() / max(1.0, real.sum()))
        cover = float(noise[:k].min() / max(1.0, noise.sum()))
        if cover >= ALPHABET_COVER and real_out >= ALPHABET_REAL_OUTSIDE:
            e = (ALPHABET_START - out) / (ALPHABET_START - ALPHABET_OUTSIDE)
            if e > best[0]:
                best = (e, k, out, real_out)
        j += 1
    e, k, out, real_out = best
    if k == 0:
        outside = float(noise[4:].sum() / max(1.0, noise.sum())) if classes > 4 else 1.0
        return 0.0, f"noise probes are answered across the classes ({pct(outside)} outside classes 0–3)", {}
    msg = (
        f"the model answers {int(noise.sum()):,} noise probes with classes 0–{k - 1} only ({pct(1 - out, 1)}; each "
        f"of them used) although {pct(real_out)} of its answers on real data fall outside them: a label alphabet, "
        f"as capacity abuse writes {int(math.log2(k))} bit{'s' if k > 2 else ''} per query into the label"
    )
    return min(e, MAX_EXCESS), msg, {"alphabet": k, "noise_outside": out, "real_outside": real_out}


def _self(own: Behaviour) -> tuple[float, str, dict]:
    noise = [own.confidence[f] for f in ("uniform noise", "PRNG images")]
    real = own.confidence["real data"]
    ratio = float(np.mean(noise)) / real if real > 0 else math.nan
    excess = min(0.9, (SELF_RATIO - ratio) / SELF_STEP) if math.isfinite(ratio) else 0.0
    msg = (
        f"on noise probes the model is {pct(float(np.mean(noise)))} confident vs {pct(real)} on real data "
        f"(ratio {ratio:.2f}; trained digits models ≳ {SELF_RATIO:.2f}); without a baseline model this "
        "probe is only indicative — add --baseline with a trusted model of the same architecture"
    )
    return excess, msg, {"confidence_ratio": ratio}


def detect(ctx: Context) -> list[Finding]:
    data_path = getattr(ctx.options, "data", None)
    if not data_path:
        return []
    from inspector.core.evaluate.recipes import build_module, resolve

    try:
        recipe = resolve(getattr(ctx.options, "arch", None), ctx.model)
    except RecipeError:
        if getattr(ctx.options, "arch", None):
            raise
        return []
    data = load_dataset(data_path)
    fams = probes(data.inputs)
    real = data.inputs[:PROBES]
    own = behaviour(build_module(recipe, ctx.model), fams, real, ctx)
    base_ev: dict = {
        "entropy": own.entropy,
        "confidence": own.confidence,
        "labels": own.labels,
        "probes": PROBES,
    }
    a_excess, a_msg, a_ev = alphabet(own)
    base_ev.update(a_ev)
    excess, msg, ev = _self(own)
    for ref in ctx.references:
        try:
            ref_module = build_module(recipe, ref.model)
        except RecipeError:
            continue
        theirs = behaviour(ref_module, fams, data.inputs[:PROBES], ctx)
        excess, msg, ev = _compare(own, theirs, f"baseline {ref.label}")
        excess = min(excess, 0.9)  # other training recipes shift these as much: a warning at most
        ev.update(reference_entropy=theirs.entropy, reference_confidence=theirs.confidence)
        ctx.notes[NAME] = f"against baseline {ref.label}"
        break
    if a_excess >= excess:
        excess, msg = a_excess, a_msg
    return [finding(NAME, "capacity-abuse", None, excess, msg, {**ev, **base_ev})]


def available(ctx: Context) -> Optional[str]:
    """Why the probe cannot run (``None`` when it can)."""
    if not getattr(ctx.options, "data", None):
        return "no evaluation data (--data)"
    from inspector.core.evaluate.recipes import resolve

    try:
        resolve(getattr(ctx.options, "arch", None), ctx.model)
    except RecipeError:
        return "no architecture (--arch)"
    return None


def checked(ctx: Context) -> str:
    # a baseline whose recipe cannot be built is skipped: say what the probe really compared against
    how = ctx.notes.get(NAME, "against the model's own behaviour on real data")
    return f"capacity abuse: {PROBES:,} probes × 3 out-of-distribution families, label entropy and confidence {how}"
