"""The worded parts of a report: what the inspection was given, the scrub and accuracy sections, the limits."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Optional

from inspector.core.judge.detectors import WATERMARKS
from inspector.core.report.model import Row, Section
from inspector.core.report.svg import num

#: Limits stated in every report, in plain words (docs/architecture.md, "Limits"); the scan adds its own (the
#: watermark one is the scan's own text, so a report of a recent scan states it once).
PLAIN_LIMITS = (
    WATERMARKS,
    "On small models accuracy is a coarse signal (one test sample can move it by a fraction of a point); "
    "prediction agreement and the KL divergence of the outputs say more about whether scrubbing changed "
    "the model.",
)


def inputs_rows(given: Mapping[str, Any], *, evaluation: bool, scrub: bool, probed: bool = False) -> tuple[Row, ...]:
    """What the inspection was given and, for what it was not, what that leaves unchecked; ``probed`` says the
    capacity-abuse probe ran (without ``--arch`` when the model file names its recipe)."""
    if given.get("unknown"):
        return (
            Row(
                "Inputs",
                "not recorded",
                note="the scan document does not say which baselines or data were given",
                missing=True,
            ),
        )
    rows = []
    baselines = [str(b) for b in given.get("baselines") or ()]
    if baselines:
        rows.append(Row("Reference model(s)", ", ".join(Path(b).name for b in baselines), mono=True))
    else:
        rows.append(
            Row(
                "Reference model(s)",
                "not given",
                note=f"layers were compared with the {'given' if given.get('profile') else 'built-in'} profile "
                "of trained weights and with a Gaussian of the same σ, not with a trusted model of the same "
                "architecture",
                missing=True,
            )
        )
    profile = given.get("profile")
    rows.append(Row("Baseline profile", Path(str(profile)).name if profile else "built-in profile", mono=bool(profile)))
    if not given.get("arch") and probed:
        rows.append(Row("Architecture recipe (--arch)", "not given", note="the model file names its recipe"))
    else:
        rows.append(_given("Architecture recipe (--arch)", given.get("arch"), "the capacity-abuse probe could not run"))
    rows.append(
        _given(
            "Evaluation data (--data)",
            given.get("data"),
            "the model's behaviour was not probed (capacity abuse leaves the weights looking normal)",
        )
    )
    rows.append(
        _given(
            "Training-data sample (--train-sample)",
            given.get("train_sample"),
            "the decisive data-aware tests (correlation and sign agreement between the weights and training "
            "examples) did not run",
        )
    )
    if scrub:
        rows.append(Row("Scrub", "done, see below"))
    else:
        rows.append(Row("Scrub", "not done", note="no sanitized copy is described in this report", missing=True))
    if evaluation:
        rows.append(Row("Accuracy check", "done, see below"))
    return tuple(rows)


def _given(label: str, value: Any, consequence: str) -> Row:
    if value:
        return Row(label, Path(str(value)).name if "/" in str(value) else str(value), mono=True)
    return Row(label, "not given", note=consequence, missing=True)


def scrub_section(doc: Optional[Mapping[str, Any]], curve_figure: Optional[str]) -> Section:
    """Settings and outcome of a scrub (a ``model-inspector/scrub/1`` document, or an equivalent dict)."""
    doc = doc or {}
    rows = []
    src, out = doc.get("source"), doc.get("output")
    bits = doc.get("bits")
    if isinstance(bits, Mapping) and bits:
        rows.append(Row("Low mantissa bits randomised", ", ".join(f"{k}: {v}" for k, v in bits.items())))
    elif bits is not None:
        rows.append(Row("Low mantissa bits randomised", value_text(bits)))
    if doc.get("mode"):
        rows.append(Row("Mode", str(doc["mode"]), note=_MODES.get(str(doc["mode"]), "")))
    if doc.get("seed") is not None:
        rows.append(Row("Random seed", str(doc["seed"]), note="the same seed reproduces the same file"))
    if doc.get("tensors_scrubbed") is not None:
        copied = doc.get("tensors_copied")
        rows.append(
            Row(
                "Tensors",
                f"{value_text(doc['tensors_scrubbed'])} scrubbed"
                + (f" ({value_text(doc.get('elements_scrubbed'))} values)" if doc.get("elements_scrubbed") else "")
                + (f", {value_text(copied)} copied bit for bit" if copied is not None else ""),
            )
        )
    if doc.get("max_abs_change") is not None:
        rows.append(Row("Largest change |Δw|", num(doc.get("max_abs_change"), ".3g")))
    if doc.get("mean_rel_change") is not None:
        rows.append(Row("Mean relative change", num(100 * float(doc["mean_rel_change"]), ".3g") + "%"))
    ver = doc.get("verification")
    if isinstance(ver, Mapping):
        ok = "passed" if ver.get("ok") else "FAILED"
        rows.append(
            Row(
                "Read-back verification",
                f"{ok}: {value_text(ver.get('tensors'))} tensors read back",
                note="; ".join(str(p) for p in ver.get("problems") or ())
                or "copies identical, scrubbed tensors changed only in the low bits",
                missing=not ver.get("ok"),
            )
        )
    if isinstance(src, Mapping):
        rows.append(Row("Source file", Path(str(src.get("path"))).name, note=str(src.get("sha256") or ""), mono=True))
    if isinstance(out, Mapping):
        rows.append(Row("Exported file", Path(str(out.get("path"))).name, note=str(out.get("path") or ""), mono=True))
        rows.append(Row("Exported file SHA-256", str(out.get("sha256") or "not computed"), mono=True))
    intro = (
        "Scrubbing replaced the lowest mantissa bits of every float tensor with random bits. Whatever was stored "
        "there (LSB payloads, encrypted or not) is gone; sign and correlated-value encodings live in the high "
        "bits and survive it."
    )
    if not doc:
        intro = "A safe-bits curve was measured, but no scrubbed copy is described here."
    return Section("Scrub", intro, tuple(rows), (curve_figure,) if curve_figure else ())


_MODES = {
    "random": "low bits replaced by random bits",
    "round": "low bits cleared by rounding to nearest",
}


def evaluation_section(doc: Mapping[str, Any], *, scrubbed: bool) -> Section:
    acc = doc.get("accuracy")
    before = doc.get("against_accuracy")
    samples = doc.get("samples")
    rows = []
    if before is not None:
        rows.append(
            Row("Accuracy of the reference (before)", _pct(before), note=str(Path(str(doc.get("against"))).name))
        )
        rows.append(Row("Accuracy of this model (after)" if scrubbed else "Accuracy", _pct(acc)))
        if isinstance(acc, (int, float)) and isinstance(before, (int, float)):
            rows.append(Row("Change", f"{(acc - before) * 100:+.2f} points"))
    else:
        rows.append(Row("Accuracy", _pct(acc)))
    if doc.get("agreement") is not None:
        rows.append(Row("Prediction agreement", _pct(doc.get("agreement")), note="same top-1 class as the reference"))
    if doc.get("mean_kl") is not None:
        rows.append(
            Row(
                "Mean KL divergence",
                f"{num(doc.get('mean_kl'), '.3g')} nats",
                note="0 = identical output distributions",
            )
        )
    if isinstance(samples, int) and samples:
        rows.append(Row("Evaluation samples", f"{samples:,}", note=f"one sample = {100 / samples:.2f} points"))
    if doc.get("device_name") or doc.get("device"):
        rows.append(Row("Device", str(doc.get("device_name") or doc.get("device"))))
    if doc.get("arch"):
        rows.append(Row("Architecture recipe", str(doc.get("arch")), mono=True))
    intro = "The model was run on the evaluation data" + (
        " and compared with the model before scrubbing." if before is not None else "."
    )
    return Section("Accuracy and agreement", intro, tuple(rows))


def _pct(v: Any) -> str:
    return f"{v:.2%}" if isinstance(v, (int, float)) and math.isfinite(v) else "–"


def value_text(v: Any) -> str:
    """A scalar, mapping or list as report text: ints with thousands separators, floats to 4 figures."""
    if isinstance(v, bool) or v is None:
        return str(v).lower()
    if isinstance(v, float):
        return num(v, ".4g")
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, Mapping):
        return ", ".join(f"{k}: {value_text(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(value_text(x) for x in v)
    return str(v)
