"""The worded parts of a report: what the inspection was given, the scrub and accuracy sections, the limits."""

from __future__ import annotations

import hashlib
import math
import re
import tempfile
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from inspector.core.judge.detectors import WATERMARKS
from inspector.core.judge.families import TITLES
from inspector.core.report.model import CoverageRow, DeltaRow, FamilyRow, FileRow, Row, Section
from inspector.core.report.svg import num

#: Limits stated in every report, in plain words (docs/architecture.md, "Limits"); the scan adds its own (the
#: watermark one is the scan's own text, so a report of a recent scan states it once).
PLAIN_LIMITS = (
    WATERMARKS,
    "On small models accuracy is a coarse signal (one test sample can move it by a fraction of a point); "
    "prediction agreement and the KL divergence of the outputs say more about whether scrubbing changed "
    "the model.",
)


def profile_note(match: Mapping[str, Any]) -> str:
    """How the baseline profile was chosen and how well it fits the model (the scan's ``profile`` object)."""
    score = match.get("score")
    how = "given with --profile" if match.get("how") == "given" else "matched by architecture among the built-in ones"
    text = f"{how}; match {score:.2f}" if isinstance(score, (int, float)) else how
    text += f", {match.get('layers_matched', 0)} of {match.get('layers', 0)} weight layers covered"
    lent = match.get("kinds_from") or {}
    if isinstance(lent, Mapping) and lent:
        text += "; " + ", ".join(f"{k} layers from {v}" for k, v in sorted(lent.items()))
    if match.get("note"):
        text += f" ({match['note']})"
    return text


def inputs_rows(
    given: Mapping[str, Any],
    *,
    evaluation: bool,
    scrub: bool,
    probed: bool = False,
    eval_data: Optional[str] = None,
    exported: bool = False,
) -> tuple[Row, ...]:
    """What the inspection was given and, for what it was not, what that leaves unchecked; ``probed`` says the
    capacity-abuse probe ran (without ``--arch`` when the model file names its recipe). ``eval_data``: the data
    the accuracy check ran on, when the scan itself was not given any; ``exported``: the scrub section describes
    a file that was really exported (not a temporary working copy)."""
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
    match = given.get("profile_match")
    if isinstance(match, Mapping) and match.get("name"):
        rows.append(Row("Baseline profile", str(match["name"]), mono=True, note=profile_note(match)))
    else:
        rows.append(
            Row("Baseline profile", Path(str(profile)).name if profile else "built-in profile", mono=bool(profile))
        )
    if not given.get("arch") and probed:
        rows.append(Row("Architecture recipe (--arch)", "not given", note="the model file names its recipe"))
    else:
        rows.append(_given("Architecture recipe (--arch)", given.get("arch"), "the capacity-abuse probe could not run"))
    if not given.get("data") and evaluation:
        rows.append(
            Row(
                "Evaluation data (--data)",
                f"{Path(eval_data).name} (accuracy check only)" if eval_data else "given to the accuracy check only",
                note="the scan was not given it, so its capacity-abuse probe did not run on it",
                mono=bool(eval_data),
                missing=True,
            )
        )
    else:
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
        rows.append(Row("Scrub", "done and exported, see below" if exported else "applied, not exported; see below"))
    else:
        rows.append(Row("Scrub", "not done", note="no sanitized copy is described in this report", missing=True))
    if evaluation:
        rows.append(Row("Accuracy check", "done, see below"))
    return tuple(rows)


def _name(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return ", ".join(Path(str(x)).name for x in v)
    return Path(str(v)).name


def _given(label: str, value: Any, consequence: str) -> Row:
    if value:
        return Row(label, Path(str(value)).name if "/" in str(value) else str(value), mono=True)
    return Row(label, "not given", note=consequence, missing=True)


#: The name the app gives a scrub it applied but did not export (a working copy in a temporary folder).
_WORKING_COPY = re.compile(r"scrubbed-\d+\.safetensors")


def scrub_exported(doc: Optional[Mapping[str, Any]]) -> bool:
    """Whether a scrub document describes a file that was exported and still exists: not one marked
    ``"exported": false``, not the app's temporary working copy, not a file that is gone."""
    if not doc:
        return False
    out = doc.get("output")
    if not isinstance(out, Mapping) or not out.get("path") or doc.get("exported") is False:
        return False
    p = Path(str(out["path"]))
    in_temp = str(p.resolve().parent).startswith(str(Path(tempfile.gettempdir()).resolve()))
    if in_temp and _WORKING_COPY.fullmatch(p.name) and doc.get("exported") is not True:
        return False
    return p.is_file()


def scrub_section(doc: Optional[Mapping[str, Any]], curve_figure: Optional[str]) -> Section:
    """Settings and outcome of a scrub (a ``model-inspector/scrub/1`` document, or an equivalent dict)."""
    doc = doc or {}
    rows = []
    status = doc.get("status")
    rejudged = doc.get("rejudged")
    if isinstance(rejudged, Mapping):
        detected = [str(x) for x in rejudged.get("detected") or ()]
        inputs = rejudged.get("inputs") or {}
        given = ", ".join(f"{k} {_name(v)}" for k, v in inputs.items() if v) or "no baseline, data or training sample"
        incomplete = not detected and (rejudged.get("not_assessed") or rejudged.get("verdict") != "clean")
        if detected:
            value = "scrubbed, still suspicious: " + ", ".join(detected)
        elif incomplete:
            value = "scrubbed, incomplete: nothing detected, but not every family was assessed"
        else:
            value = "sanitized: every family assessed, none detected"
        rows.append(
            Row(
                "Verdict on the scrubbed model",
                value,
                note=f"re-judged {rejudged.get('verdict')} {num(rejudged.get('score'), '.2f')} with the same inputs "
                f"as the original ({given})"
                + (
                    "; not assessed: " + "; ".join(str(x) for x in rejudged["not_assessed"])
                    if rejudged.get("not_assessed")
                    else ""
                )
                + (
                    "; warnings remain: " + ", ".join(str(x) for x in rejudged["warnings"])
                    if rejudged.get("warnings")
                    else ""
                ),
                missing=bool(detected or incomplete),
            )
        )
    elif doc:
        rows.append(
            Row(
                "Verdict on the scrubbed model",
                "not re-judged",
                note="the scrub result carries no verdict on its output; it may not be called sanitized",
                missing=True,
            )
        )
    policy = doc.get("policy")
    if isinstance(policy, Mapping):
        dropped = [t for t in policy.get("tensors") or () if isinstance(t, Mapping) and t.get("action") == "drop"]
        tied = [t for t in policy.get("tensors") or () if isinstance(t, Mapping) and t.get("action") == "tie"]
        meta_drop = [m for m in policy.get("metadata") or () if isinstance(m, Mapping) and m.get("action") == "drop"]
        meta_keep = [m for m in policy.get("metadata") or () if isinstance(m, Mapping) and m.get("action") == "keep"]
        names = ", ".join(str(t.get("name")) for t in dropped[:6]) + (" …" if len(dropped) > 6 else "")
        rows.append(
            Row(
                "Tensors dropped by the export policy",
                f"{len(dropped)}" + (f": {names}" if dropped else ""),
                note=f"{sum(int(t.get('bytes') or 0) for t in dropped):,} bytes; non-float tensors and training "
                "state are dropped unless confirmed with --keep-tensor",
            )
        )
        if tied:
            rows.append(
                Row(
                    "Tied tensors",
                    ", ".join(f"{t.get('name')} = {t.get('tied_to')}" for t in tied[:6]),
                    note="written as identical copies, scrubbed with one random stream",
                )
            )
        rows.append(
            Row(
                "Metadata",
                f"{len(meta_keep)} key(s) kept"
                + (f" ({', '.join(str(m.get('key')) for m in meta_keep)})" if meta_keep else "")
                + f", {len(meta_drop)} dropped",
                note="only known conventions survive; the export adds its own inspector.* provenance",
            )
        )
    if status and not isinstance(rejudged, Mapping):
        rows.append(Row("Status", str(status)))
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
    if isinstance(out, Mapping) and scrub_exported(doc):
        rows.append(Row("Exported file", Path(str(out.get("path"))).name, note=str(out.get("path") or ""), mono=True))
        rows.append(Row("Exported file SHA-256", str(out.get("sha256") or "not computed"), mono=True))
    elif isinstance(out, Mapping):
        rows.append(
            Row(
                "Exported file",
                "not exported",
                note="the scrub was applied to a temporary working copy that is not part of this release; export "
                "it and write the report again to cite its file and SHA-256",
                missing=True,
            )
        )
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


# ------------------------------------------------------------------------------------ files, families, coverage

#: Files larger than this are not re-hashed for the report when the scan recorded their SHA-256.
REHASH_LIMIT = 256 << 20


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


def file_row(role: str, path: Any, recorded: Optional[str] = None) -> Optional[FileRow]:
    """A row for ``path`` when it is an existing regular file (else ``None``), with its SHA-256: computed, or
    the recorded one for a file over :data:`REHASH_LIMIT`. A file that no longer matches its recorded digest
    says so."""
    if not path:
        return None
    p = Path(str(path))
    try:
        if not p.is_file():
            return None
        size = p.stat().st_size
    except OSError:
        return None
    if recorded and size > REHASH_LIMIT:
        return FileRow(role, p.name, str(p), recorded, size, "as recorded when it was read (not re-hashed)")
    try:
        digest = sha256_of(p)
    except OSError:
        return None
    note = ""
    if recorded and recorded != digest:
        note = f"changed since it was read (then {recorded[:16]}…): the figures describe the earlier file"
    return FileRow(role, p.name, str(p), digest, size, note)


def file_rows(
    doc: Mapping[str, Any],
    given: Mapping[str, Any],
    scrub: Optional[Mapping[str, Any]],
    eval_data: Optional[str] = None,
) -> tuple[FileRow, ...]:
    """Every file the report refers to that exists now: the model, its inputs, the scrub's source and export."""
    m = doc.get("model") or {}
    rows: list[Optional[FileRow]] = [file_row("model inspected", m.get("path"), m.get("sha256"))]
    rows += [file_row("reference model", b) for b in given.get("baselines") or ()]
    rows.append(file_row("baseline profile", given.get("profile")))
    rows.append(file_row("evaluation data", given.get("data") or eval_data))
    rows.append(file_row("training-data sample", given.get("train_sample")))
    if scrub:
        src, out = scrub.get("source"), scrub.get("output")
        if isinstance(src, Mapping) and str(src.get("path")) != str(m.get("path")):
            rows.append(file_row("scrub source", src.get("path"), src.get("sha256")))
        if isinstance(out, Mapping) and scrub_exported(scrub):
            rows.append(file_row("exported file", out.get("path"), out.get("sha256")))
    seen: set[str] = set()
    unique = []
    for r in rows:
        if r is not None and (r.role, r.path) not in seen:
            seen.add((r.role, r.path))  # type: ignore[arg-type]
            unique.append(r)
    return tuple(unique)


def family_rows(doc: Mapping[str, Any]) -> tuple[FamilyRow, ...]:
    """The scan's per-family status (``families``), when it carries one."""
    out = []
    for f in doc.get("families") or ():
        if not isinstance(f, Mapping) or not f.get("family"):
            continue
        status = str(f.get("status") or "")
        text = next((str(f[k]) for k in ("by", "needs", "why") if f.get(k)), "")
        if status == "not-assessed" and f.get("needs"):
            text = f"needs {f['needs']}"
        warning = float(f.get("score") or 0.0) if f.get("warning") else None
        out.append(FamilyRow(TITLES.get(str(f["family"]), str(f["family"])), status, text, warning))
    return tuple(out)


def coverage_rows(doc: Mapping[str, Any]) -> tuple[CoverageRow, ...]:
    """The scan's coverage table (``coverage``: bytes per class and the checks that read them), when present."""
    out = []
    cov = doc.get("coverage")
    rows = cov.get("rows") if isinstance(cov, Mapping) else cov  # {"file_bytes", "rows"} or the rows alone
    for c in rows or ():
        if not isinstance(c, Mapping) or not c.get("class"):
            continue
        checks = c.get("checks")
        text = ", ".join(str(x) for x in checks) if isinstance(checks, (list, tuple)) else str(checks or "")
        b = c.get("bytes")
        size = f"{b:,}" if isinstance(b, int) and not isinstance(b, bool) else str(b if b is not None else "–")
        out.append(CoverageRow(str(c["class"]), size, text or "none", unchecked=not text))
    return tuple(out)


def delta_rows(doc: Mapping[str, Any], limit: int = 40) -> tuple[str, tuple[DeltaRow, ...]]:
    """The fine-tune audit's layers (``delta``), most changed first, when the scan compared with a base model."""
    d = doc.get("delta")
    if not isinstance(d, Mapping):
        return "", ()
    flagged = {
        f.get("tensor")
        for f in doc.get("findings") or ()
        if isinstance(f, Mapping) and str(f.get("detector", "")).startswith("delta-") and f.get("severity") != "info"
    }

    def pct(v: Any) -> str:
        return f"{100 * v:.2f}%" if isinstance(v, (int, float)) and not isinstance(v, bool) else "–"

    layers = [x for x in d.get("layers") or () if isinstance(x, Mapping) and x.get("name")]
    layers.sort(key=lambda x: -(x.get("relative_change") or 0.0))
    rows = tuple(
        DeltaRow(
            str(x["name"]),
            pct(x.get("relative_change")),
            f"{int(x.get('flips') or 0):,}",
            pct(x.get("flip_mass")),
            pct(x.get("chance_mass")),
            x["name"] in flagged,
        )
        for x in layers[:limit]
    )
    return str(d.get("base") or ""), rows


def near_zero_note(tensors: Sequence[Mapping[str, Any]], flagged: set[str]) -> str:
    """The appendix's explanation of the ±0.05σ column, with this model's own range instead of a fixed figure."""
    base = (
        "±.05σ: share of weights within 0.05 standard deviations of zero (sign encoding piles weights there). "
        "A Gaussian holds 4.0%; trained layers are heavier-tailed and usually hold more"
    )
    vals: list[float] = []
    for t in tensors:
        st = t.get("stats") or {}
        v = st.get("near_zero_fraction")
        if t.get("name") in flagged or t.get("kind") not in ("dense", "conv", "embedding"):
            continue
        if isinstance(v, (int, float)) and int(st.get("count") or 0) >= 256:
            vals.append(float(v))
    if vals:
        lo, hi = min(vals), max(vals)
        span = f"{lo:.0%}" if f"{lo:.0%}" == f"{hi:.0%}" else f"{lo:.0%}–{hi:.0%}"
        base += f"; this model's unflagged weight matrices hold {span}"
    return base + "."
