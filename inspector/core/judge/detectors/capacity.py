"""Capacity abuse (``--arch`` and ``--data``): a black-box probe of the model's behaviour off its data.

A capacity-abuse model was also trained on synthetic inputs whose labels spell the secret, so it has learned
to answer on inputs no benign model was ever taught about — with labels that carry information, i.e. that
nothing about the inputs predicts. Its weights look normal; its behaviour on out-of-distribution probes does
not. Probe families: uniform noise in the input range, sparse inputs of a few high values, PRNG images on the
data's own value grid.

The code is split in two so that the probe (which runs the model) can be a measurement step of its own:

- :func:`run_probe` runs the model, its references and the probes and returns a :class:`ProbeResult` (plain,
  JSON-serialisable data, no findings);
- :func:`judge_probe` turns a probe result into findings (pure, fast).

Tests, best first:

- **agreement with a reference** (the decisive one, independent of the label mapping): on each probe family,
  Cohen's κ between the model's labels and a reference's labels on the same probes. Benign models trained on
  the same task extrapolate alike — noise that looks a little like an 8 is called an 8 by both — so they agree
  well above chance; a model that memorised arbitrary labels on synthetic inputs answers noise with its code
  and agrees at chance level (κ ≈ 0) whatever classes the code uses. The reference is a baseline model of the
  same architecture (``--baseline``) when one is given, else a **data surrogate**: a multinomial logistic
  regression fitted to ``--data`` (standardised inputs, no architecture needed). The surrogate only counts when
  it agrees with the model on the real data (κ ≥ :data:`MIN_REAL_KAPPA`); otherwise the test is inconclusive;
- **label alphabet** (the lab's first encoding): noise answered with the first 2^j classes only, each used;
- **behaviour shift** (with a baseline model): predicted-label entropy and mean confidence; a warning at most.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from inspector.core.errors import RecipeError
from inspector.core.formats.data import Dataset, load_dataset
from inspector.core.judge.detectors.context import Context, finding, pct
from inspector.core.judge.findings import Finding
from inspector.core.progress import CancelToken, check

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
FAMILIES = ("uniform noise", "sparse high values", "PRNG images")
#: Agreement test: κ on the least agreeing probe family at which evidence starts (0) and at the suspicious
#: threshold (1), against a baseline model and against the data surrogate (tuned on the tuning zoo).
KAPPA_START = {"baseline": 0.30, "surrogate": 0.24}
KAPPA_SUSPICIOUS = {"baseline": 0.15, "surrogate": 0.12}
#: Families each kind of reference is compared on: a linear surrogate says nothing useful about sparse inputs
#: (benign digits models agree with it there at κ 0.02–0.07), so it judges the two noise families only.
JUDGED_FAMILIES = {"baseline": FAMILIES, "surrogate": NOISE_FAMILIES}
#: The surrogate must explain the model on real data at least this well (κ) for its noise answers to count.
MIN_REAL_KAPPA = 0.5
#: A family on which the two label sets agree this often by chance alone (both answer nearly everything with one
#: class) cannot show agreement beyond chance: κ is meaningless there (one stray label swings it from 1 to 0),
#: so the family is not judged. Added after the report run, see docs/detection.md.
MAX_CHANCE_AGREEMENT = 0.9
#: Against the data surrogate alone, chance-level agreement is suspicious only when the model is also confident
#: on noise (mean noise confidence / real-data confidence): memorised points are answered confidently. Tuning
#: set: capacity models 0.76-1.02, benign 0.49-0.87 (set after the first report run; see docs/detection.md).
SURROGATE_MIN_CONFIDENCE = 0.6
#: Logistic regression of the data surrogate: full-batch gradient steps, step size, L2.
SURROGATE_STEPS = 300
SURROGATE_LR = 0.5
SURROGATE_L2 = 1e-3


@dataclass(frozen=True)
class Behaviour:
    entropy: dict[str, float]
    confidence: dict[str, float]
    labels: dict[str, list[int]]


@dataclass(frozen=True)
class Agreement:
    """How well one reference's labels agree with the model's, per probe family and on the real data."""

    label: str  # e.g. "baseline ref.safetensors" or "data surrogate (logistic regression on eval.npz)"
    kind: str  # "baseline" or "surrogate"
    kappa: dict[str, float]  # Cohen's κ per probe family
    agreement: dict[str, float]  # raw share of equal labels per probe family
    real_kappa: float  # κ on the real data
    behaviour: Optional[Behaviour] = None  # the reference's own behaviour (baseline models only)
    chance: dict[str, float] = field(default_factory=dict)  # agreement expected by chance per probe family


@dataclass(frozen=True)
class ProbeResult:
    """What the capacity probe measured: plain data, no judgement."""

    probes: int
    classes: int
    behaviour: Behaviour
    agreements: list[Agreement] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # references that could not be built, and why

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------------- probing


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


def chance_agreement(a: np.ndarray, b: np.ndarray, classes: int) -> float:
    """Share of equal labels two label vectors would reach by chance, given their label frequencies."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if a.size == 0:
        return math.nan
    k = max(classes, int(a.max()) + 1, int(b.max()) + 1)
    return float((np.bincount(a, minlength=k) / a.size) @ (np.bincount(b, minlength=k) / b.size))


def kappa(a: np.ndarray, b: np.ndarray, classes: int) -> float:
    """Cohen's κ of two label vectors: agreement beyond what their label frequencies give by chance (1 = the
    same labels, 0 = chance; a permutation of the classes does not change the chance level)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if a.size == 0:
        return math.nan
    k = max(classes, int(a.max()) + 1, int(b.max()) + 1)
    po = float(np.mean(a == b))
    pe = float((np.bincount(a, minlength=k) / a.size) @ (np.bincount(b, minlength=k) / b.size))
    return 1.0 if pe >= 1.0 else (po - pe) / (1.0 - pe)


def _predict(module: Any, families: dict[str, np.ndarray], cancel: Optional[CancelToken]) -> dict[str, np.ndarray]:
    from inspector.core.evaluate.accuracy import predict_proba

    out = {}
    for name, x in families.items():
        check(cancel)
        out[name] = predict_proba(module, x, cancel=cancel)
    return out


def _behaviour(p: dict[str, np.ndarray]) -> Behaviour:
    ent, conf, labs = {}, {}, {}
    for name, q in p.items():
        lab = q.argmax(axis=1)
        ent[name] = _entropy_bits(lab, q.shape[1])
        conf[name] = float(q.max(axis=1).mean())
        labs[name] = np.bincount(lab, minlength=q.shape[1]).tolist()
    return Behaviour(ent, conf, labs)


def behaviour(module: Any, families: dict[str, np.ndarray], real: np.ndarray, ctx: Context) -> Behaviour:
    """The module's label entropy, confidence and label counts on each family and on the real data."""
    return _behaviour(_predict(module, {**families, "real data": real}, ctx.cancel))


class Surrogate:
    """Multinomial logistic regression on standardised, flattened inputs (numpy, full-batch gradient descent):
    a reference that needs no architecture, only labelled data of the task."""

    def __init__(self, data: Dataset, classes: int) -> None:
        x = data.inputs.reshape(len(data), -1).astype(np.float64)
        self.mean = x.mean(axis=0)
        # per-feature scale, floored at half the overall spread: constant features (a digit's blank border)
        # must not turn a probe's noise there into huge standardised values
        self.scale = np.maximum(x.std(axis=0), 0.5 * max(1e-12, float((x - self.mean).std())))
        z = (x - self.mean) / self.scale
        y = np.eye(classes)[np.minimum(data.labels, classes - 1)]
        self.w = np.zeros((z.shape[1], classes))
        self.b = np.zeros(classes)
        for _ in range(SURROGATE_STEPS):
            g = (self._softmax(z) - y) / len(z)
            self.w -= SURROGATE_LR * (z.T @ g + SURROGATE_L2 * self.w)
            self.b -= SURROGATE_LR * g.sum(axis=0)

    def _softmax(self, z: np.ndarray) -> np.ndarray:
        s = z @ self.w + self.b
        s -= s.max(axis=1, keepdims=True)
        e = np.exp(s)
        return e / e.sum(axis=1, keepdims=True)

    def labels(self, x: np.ndarray) -> np.ndarray:
        z = (x.reshape(len(x), -1).astype(np.float64) - self.mean) / self.scale
        # far-off probes can be many σ out: clip so that the scores stay finite
        return (np.clip(z, -1e6, 1e6) @ self.w + self.b).argmax(axis=1)


def _agreement(
    own: dict[str, np.ndarray], theirs: dict[str, np.ndarray], classes: int, label: str, kind: str, beh=None
) -> Agreement:
    ka, ag, ch = {}, {}, {}
    for fam in FAMILIES:
        a, b = own[fam].argmax(axis=1), theirs[fam]
        ka[fam] = kappa(a, b, classes)
        ag[fam] = float(np.mean(a == b))
        ch[fam] = chance_agreement(a, b, classes)
    real = kappa(own["real data"].argmax(axis=1), theirs["real data"], classes)
    return Agreement(label, kind, ka, ag, real, beh, ch)


def run_probe(
    model: Any,
    arch: Any,
    data: Dataset,
    references: Sequence[tuple[str, Any]] = (),
    cancel: Optional[CancelToken] = None,
    *,
    data_label: str = "the evaluation data",
) -> ProbeResult:
    """Run the capacity probe: ``model`` (a ModelFile) built by recipe ``arch`` (a Recipe or spec), answers
    :data:`PROBES` probes of each family and the real ``data``; so do ``references`` (``(label, ModelFile)``
    pairs of the same architecture; one that cannot be built is skipped and named) and a data surrogate fitted
    to ``data``. Returns the measurement only."""
    from inspector.core.evaluate.recipes import build_module

    fams = probes(data.inputs)
    inputs = {**fams, "real data": data.inputs[:PROBES]}
    own_p = _predict(build_module(arch, model), inputs, cancel)
    classes = int(own_p["real data"].shape[1])
    agreements: list[Agreement] = []
    skipped: list[str] = []
    for label, ref_model in references:
        try:
            ref_module = build_module(arch, ref_model)
        except RecipeError as e:
            skipped.append(f"{label}: {e}")
            continue
        ref_p = _predict(ref_module, inputs, cancel)
        ref_labels = {k: v.argmax(axis=1) for k, v in ref_p.items()}
        agreements.append(_agreement(own_p, ref_labels, classes, label, "baseline", _behaviour(ref_p)))
    check(cancel)
    if len(np.unique(data.labels)) >= 2 and int(data.labels.max()) < classes:
        sur = Surrogate(data, classes)
        sur_labels = {k: sur.labels(v) for k, v in inputs.items()}
        label = f"data surrogate (logistic regression on {data_label})"
        agreements.append(_agreement(own_p, sur_labels, classes, label, "surrogate"))
    else:
        skipped.append("data surrogate: the data needs at least two classes, all within the model's outputs")
    return ProbeResult(PROBES, classes, _behaviour(own_p), agreements, skipped)


# ---------------------------------------------------------------------------------------------------- judging


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


def agreement_evidence(a: Agreement) -> tuple[float, str, dict]:
    """Evidence from one reference's agreement: the least agreeing probe family's κ in threshold units."""
    ev = {
        "reference": a.label,
        "reference_kind": a.kind,
        "kappa": a.kappa,
        "agreement": a.agreement,
        "real_kappa": a.real_kappa,
    }
    if not (a.real_kappa >= MIN_REAL_KAPPA):
        msg = (
            f"{a.label} agrees with the model on only κ = {a.real_kappa:.2f} of the real data (needs "
            f"{MIN_REAL_KAPPA:.2f}), so its answers on noise say nothing; the agreement test is inconclusive"
        )
        return 0.0, msg, ev
    judged = [f for f in JUDGED_FAMILIES[a.kind] if f in a.kappa and not (a.chance.get(f, 0.0) >= MAX_CHANCE_AGREEMENT)]
    ev["chance_agreement"] = a.chance
    if not judged:
        msg = (
            f"on every probe family the model and {a.label} answer (nearly) everything with one class, so "
            "agreement beyond chance cannot be measured; the agreement test is inconclusive"
        )
        return 0.0, msg, ev
    fam = min(judged, key=lambda f: a.kappa[f] if math.isfinite(a.kappa[f]) else math.inf)
    k = a.kappa[fam]
    start, sus = KAPPA_START[a.kind], KAPPA_SUSPICIOUS[a.kind]
    e = (start - k) / (start - sus) if math.isfinite(k) else 0.0
    msg = (
        f"on {PROBES:,} {fam} probes the model's labels agree with {a.label} at chance level or barely above "
        f"(κ = {k:.2f}, {pct(a.agreement[fam])} equal labels; on real data κ = {a.real_kappa:.2f}); benign models "
        f"of a task extrapolate alike (lab's digits models: κ ≥ {start:.2f}), a model that memorised labels on "
        "synthetic inputs answers them with its code, whatever classes the code uses"
    )
    if e < 1.0:
        msg = (
            f"on the least agreeing probe family ({fam}) the model's labels agree with {a.label} at κ = {k:.2f} "
            f"({pct(a.agreement[fam])} equal labels; real data κ = {a.real_kappa:.2f}; suspicious at "
            f"κ ≤ {sus:.2f})"
        )
    return min(max(e, 0.0), MAX_EXCESS), msg, ev


def judge_probe(result: ProbeResult) -> list[Finding]:
    """Findings from a capacity probe's measurement (pure)."""
    own = result.behaviour
    base_ev: dict = {"entropy": own.entropy, "confidence": own.confidence, "labels": own.labels, "probes": PROBES}
    a_excess, a_msg, a_ev = alphabet(own)
    base_ev.update(a_ev)
    excess, msg, ev = _self(own)
    baselines = [a for a in result.agreements if a.kind == "baseline"]
    if baselines and baselines[0].behaviour is not None:
        ref = baselines[0]
        assert ref.behaviour is not None
        excess, msg, ev = _compare(own, ref.behaviour, ref.label)
        excess = min(excess, 0.9)  # other training recipes shift these as much: a warning at most
        ev.update(reference_entropy=ref.behaviour.entropy, reference_confidence=ref.behaviour.confidence)
    # agreement: against the first baseline model when there is one, else the data surrogate
    chosen = baselines[0] if baselines else next((a for a in result.agreements if a.kind == "surrogate"), None)
    if chosen is not None:
        k_excess, k_msg, k_ev = agreement_evidence(chosen)
        ratio = ev.get("confidence_ratio", math.nan)
        if chosen.kind == "surrogate" and k_excess >= 1.0 and not (ratio >= SURROGATE_MIN_CONFIDENCE):
            # A model that memorised labels for random points answers such points confidently; one that is
            # unsure on noise and disagrees with a linear surrogate shows the surrogate's limits (the held-out
            # embedding architecture: confidence ratio 0.28, κ 0.07-0.14), not memorisation: a warning only.
            k_excess = 0.9
            k_msg += (
                f"; but the model is unsure on noise (confidence {ratio:.2f} of its confidence on real data), "
                "unlike a model that memorised synthetic points: a warning only, compare with --baseline"
            )
            k_ev = {**k_ev, "unsure_on_noise": True}
        base_ev["agreement_test"] = k_ev
        others = [a for a in result.agreements if a is not chosen]
        if others:
            base_ev["other_references"] = [agreement_evidence(a)[2] for a in others]
        if k_excess >= excess:
            excess, msg = k_excess, k_msg
    if result.skipped:
        base_ev["skipped"] = result.skipped
    if a_excess >= excess:
        excess, msg = a_excess, a_msg
    return [finding(NAME, "capacity-abuse", None, excess, msg, {**ev, **base_ev})]


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


# ---------------------------------------------------------------------------------------------------- detector


def detect(ctx: Context) -> list[Finding]:
    data_path = getattr(ctx.options, "data", None)
    if not data_path:
        return []
    from inspector.core.evaluate.recipes import resolve

    try:
        recipe = resolve(getattr(ctx.options, "arch", None), ctx.model)
    except RecipeError:
        if getattr(ctx.options, "arch", None):
            raise
        return []
    from pathlib import Path

    data = load_dataset(data_path)
    refs = [(f"baseline {ref.label}", ref.model) for ref in ctx.references]
    result = run_probe(ctx.model, recipe, data, refs, ctx.cancel, data_label=Path(str(data_path)).name)
    used = [a.label for a in result.agreements if a.kind == "baseline"][:1]
    if not used:
        used = [a.label for a in result.agreements if a.kind == "surrogate"]
    if used:
        ctx.notes[NAME] = f"against {used[0]}"
    return judge_probe(result)


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
    return (
        f"capacity abuse: {PROBES:,} probes × 3 out-of-distribution families, label agreement (Cohen's κ), "
        f"entropy and confidence {how}"
    )
