"""``build_report``: the scan document (plus scrub and evaluation results) turned into :class:`ReportData`."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from inspector._version import __version__
from inspector.core.errors import InspectorError
from inspector.core.formats import ModelFile, open_model
from inspector.core.measure.weights_image import minmax_tiles, source_values, theta_tensors
from inspector.core.pipeline import SCHEMA as SCAN_SCHEMA
from inspector.core.progress import CancelToken, check
from inspector.core.report import figures as figs
from inspector.core.report.figures import Figure
from inspector.core.report.model import ATTACK_LABELS, FindingView, ReportData, Row, Section, SignOff, TensorRow
from inspector.core.report.sections import (
    PLAIN_LIMITS,
    coverage_rows,
    delta_rows,
    evaluation_section,
    family_rows,
    file_rows,
    inputs_rows,
    near_zero_note,
    scrub_exported,
    scrub_section,
    value_text,
)
from inspector.core.report.svg import num

#: Findings beyond this many (or of severity info) go to a compact table without figures.
MAX_DETAILED = 12
#: Tile images drawn per attack (4 rows of 16).
TILE_COUNT = 64


def scan_document(scan: Any) -> dict[str, Any]:
    """The scan/1 document of a :class:`~inspector.core.measure.scan.ScanResult` or of an already-loaded JSON dict."""
    doc = scan.to_json() if hasattr(scan, "to_json") else dict(scan)
    if doc.get("schema") != SCAN_SCHEMA:
        raise InspectorError(
            f"not a scan document (schema {doc.get('schema')!r}, expected {SCAN_SCHEMA!r})",
            hint="Write one with `model-inspector scan MODEL --json SCAN.json`",
        )
    return doc


def build_report(
    scan: Any,
    *,
    model: ModelFile | str | Path | None = None,
    scrub: Any = None,
    evaluation: Any = None,
    safe_bits_curve: Optional[Sequence[Any]] = None,
    baseline_scans: Sequence[Any] = (),
    inputs: Optional[Mapping[str, Any]] = None,
    created: Optional[datetime] = None,
    cancel: Optional[CancelToken] = None,
    signoff: Optional[SignOff] = None,
    eval_data: Optional[str] = None,
) -> ReportData:
    """Everything the report shows, from a scan (a ``ScanResult`` or its scan/1 JSON dict).

    ``model`` is the scanned file (a ``ModelFile`` or path); it is needed only to lay weights out as image tiles
    when a correlated-value or sign finding exists, and is checked against the scan's SHA-256 when a path is
    given. ``scrub`` and ``evaluation`` are a scrub result and an evaluation result (objects with ``to_json()``,
    dataclasses or dicts); ``safe_bits_curve`` is a sequence of points with ``bits``, ``accuracy`` and
    optionally ``agreement``. ``baseline_scans`` are scans of reference models made with shared histogram
    ranges; their matching layers are overlaid. ``inputs`` overrides what the scan was given (taken from
    ``ScanResult.options`` or the document's ``inputs``); they are the one source every section words its
    inputs from. ``eval_data`` names the data the accuracy check ran on when the scan was not given it.
    ``signoff`` is the reviewer's sign-off (checked against the findings; also settable later with
    :meth:`ReportData.with_signoff`, as the app does).
    """
    with np.errstate(all="ignore"):  # plotting values near the float limit overflows harmlessly
        data = _build_report(
            scan, model, scrub, evaluation, safe_bits_curve, baseline_scans, inputs, created, cancel, eval_data
        )
    return data.with_signoff(signoff) if signoff is not None else data


def _build_report(
    scan: Any,
    model: ModelFile | str | Path | None,
    scrub: Any,
    evaluation: Any,
    safe_bits_curve: Optional[Sequence[Any]],
    baseline_scans: Sequence[Any],
    inputs: Optional[Mapping[str, Any]],
    created: Optional[datetime],
    cancel: Optional[CancelToken],
    eval_data: Optional[str] = None,
) -> ReportData:
    doc = scan_document(scan)
    created = created or datetime.now(timezone.utc)
    given = dict(inputs) if inputs is not None else _inputs_of(scan, doc)
    if isinstance(doc.get("profile"), Mapping):  # which profile judged the model, and how well it matched
        given.setdefault("profile_match", doc["profile"])
    m = doc.get("model") or {}
    tensors = list(doc.get("tensors") or [])
    by_name = {t.get("name"): t for t in tensors}
    raw_findings = list(doc.get("findings") or [])
    severity_of: dict[str, str] = {}
    for f in raw_findings:
        if f.get("tensor") and f.get("severity") in ("warning", "suspicious"):
            if severity_of.get(f["tensor"]) != "suspicious":
                severity_of[f["tensor"]] = f["severity"]
    flagged = {n for n, s in severity_of.items() if s == "suspicious"}
    baselines = [_baseline_lookup(b) for b in baseline_scans]

    reg = _Figures()
    views: list[FindingView] = []
    for i, f in enumerate(raw_findings, start=1):
        detailed = f.get("severity") != "info" and len([v for v in views if v.detailed]) < MAX_DETAILED
        fids: list[str] = []
        refers: list[int] = []
        t = by_name.get(f.get("tensor"))
        if detailed and t is not None:
            fid = _finding_figure(reg, f, t, baselines, flagged)
            if fid is not None:
                if fid in reg.shown:
                    refers.append(reg.figures[fid].number)
                else:
                    fids.append(fid)
                    reg.shown.add(fid)
        views.append(
            FindingView(
                rank=i,
                severity=str(f.get("severity")),
                attack=str(f.get("attack")),
                attack_label=_attack_label(f),
                detector=str(f.get("detector")),
                tensor=f.get("tensor"),
                score=float(f.get("score") or 0.0),
                message=str(f.get("message") or ""),
                evidence=_evidence_rows(f.get("evidence") or {}),
                figures=tuple(fids),
                refers_to=tuple(refers),
                detailed=detailed,
            )
        )

    overlay: dict[str, list] = {}
    overlay_label = ""
    for t in tensors:
        bcounts, lab = _baseline_histogram({}, t, baselines)
        if bcounts is not None:
            overlay[str(t.get("name"))] = bcounts
            overlay_label = overlay_label or lab
    given_names = [Path(str(b)).name for b in given.get("baselines") or ()]
    overview = figs.overview_figure(
        tensors, flagged, baselines=overlay, baseline_label=overlay_label, given_baselines=given_names
    )
    overview_id = reg.add("overview", "svg", overview) if overview else None

    check(cancel)
    tiles, tiles_note = _tiles(reg, raw_findings, doc, model, cancel)

    sections: list[Section] = []
    scrub_doc = _as_dict(scrub)
    eval_doc = _as_dict(evaluation)
    chosen: Optional[float] = None
    if scrub_doc is not None:  # a `scrub --json` document may carry its --auto curve and its --check result
        auto = scrub_doc.pop("auto", None)
        check_doc = scrub_doc.pop("check", None)
        if safe_bits_curve is None and isinstance(auto, Mapping):
            safe_bits_curve = auto.get("curve") or ()
            chosen = auto.get("bits")
        if eval_doc is None and isinstance(check_doc, Mapping):
            eval_doc = dict(check_doc)
    if safe_bits_curve is not None and hasattr(safe_bits_curve, "to_json"):
        auto_doc = safe_bits_curve.to_json()
        safe_bits_curve, chosen = auto_doc.get("curve") or (), auto_doc.get("bits")
    curve = [_as_dict(p) or _point(p) for p in (safe_bits_curve or ())]
    if scrub_doc is not None or curve:
        chosen = float(chosen) if isinstance(chosen, (int, float)) else None
        curve_fig = figs.safe_bits_figure(curve, chosen) if curve else None
        fid = reg.add("safe-bits", "svg", curve_fig) if curve_fig else None
        sections.append(scrub_section(scrub_doc, fid))
    if eval_doc is not None:
        sections.append(evaluation_section(eval_doc, scrubbed=scrub_doc is not None))

    counts = Counter(str(f.get("severity")) for f in raw_findings)
    verdict = str(doc.get("verdict", "clean"))
    score = float(doc.get("score") or 0.0)
    families = family_rows(doc)
    headline, summary = _headline(verdict, score, views, counts, flagged, families)
    file_name = Path(str(m.get("path", "model"))).name
    limits = list(doc.get("limits") or [])
    probed = any(str(c).startswith("capacity abuse:") for c in doc.get("checked") or ())
    limits += [x for x in PLAIN_LIMITS if x not in limits]
    delta_base, delta = delta_rows(doc)
    return ReportData(
        title=f"Model inspection report: {file_name}",
        file_name=file_name,
        created=created.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        tool_version=str((doc.get("tool") or {}).get("version", __version__)),
        verdict=verdict,
        score=score,
        headline=headline,
        summary=summary,
        identity=_identity(doc, tensors, created),
        inputs=inputs_rows(
            given,
            evaluation=eval_doc is not None,
            scrub=scrub_doc is not None,
            probed=probed,
            eval_data=eval_data or (str(eval_doc["data"]) if eval_doc and eval_doc.get("data") else None),
            exported=scrub_exported(scrub_doc),
        ),
        findings=tuple(views),
        figures=dict(reg.figures),
        overview=overview_id,
        tiles=tuple(tiles),
        tiles_note=tiles_note,
        sections=tuple(sections),
        checked=tuple(str(c) for c in doc.get("checked") or ()),
        limits=tuple(limits),
        tensors=tuple(_tensor_row(t, severity_of.get(t.get("name"), "")) for t in tensors),
        counts=dict(counts),
        scan_json=doc,
        files=file_rows(
            doc,
            given,
            scrub_doc,
            eval_data or (str(eval_doc["data"]) if eval_doc and eval_doc.get("data") else None),
        ),
        families=families,
        coverage=coverage_rows(doc),
        delta_base=delta_base,
        delta=delta,
        near_zero_note=near_zero_note(tensors, set(severity_of)),
    )


# --------------------------------------------------------------------------------------------------------------


class _Figures:
    """Numbers figures in order of first appearance and keeps each (kind, tensor) figure once."""

    def __init__(self) -> None:
        self.figures: dict[str, Figure] = {}
        self.shown: set[str] = set()

    def add(self, fid: str, kind: str, made: tuple, width: int = 600, height: int = 0) -> str:
        if fid in self.figures:
            return fid
        n = len(self.figures) + 1
        parts: tuple[tuple[str, int, int], ...] = ()
        if kind == "svg":
            content, title, caption = made
            if isinstance(content, tuple):  # pieces stacked vertically
                parts = tuple((c, *_svg_size(c)) for c in content)
                content = "".join(content)
                w, h = max(p[1] for p in parts), sum(p[2] for p in parts)
            else:
                w, h = _svg_size(content)
        else:
            content, w, h, title, caption = made
        self.figures[fid] = Figure(fid, n, title, caption, kind, content, w, h, parts)
        return fid


def _svg_size(markup: str) -> tuple[int, int]:
    head = markup[: markup.index(">")]
    w = float(head.split(' width="', 1)[1].split('"', 1)[0])
    h = float(head.split(' height="', 1)[1].split('"', 1)[0])
    return int(math.ceil(w)), int(math.ceil(h))


def _baseline_lookup(b: Any) -> tuple[str, dict[str, Mapping[str, Any]]]:
    """``(label, {inspected tensor name: baseline tensor JSON})`` from a baseline ``ScanResult``, its scan/1
    document (matched by tensor name), or a :class:`~inspector.core.judge.baselines.Reference` (its layer matches)."""
    if hasattr(b, "matches") and hasattr(b, "tensors") and hasattr(b, "label"):
        table = {m.name: b.tensors[m.ref_name].to_json() for m in b.matches if m.ref_name in b.tensors}
        return f"baseline {b.label}", table
    doc = scan_document(b)
    path = (doc.get("model") or {}).get("path", "baseline")
    return f"baseline {Path(str(path)).name}", {t.get("name"): t for t in doc.get("tensors") or ()}


def _finding_figure(reg: _Figures, f: Mapping, t: Mapping, baselines, flagged: set[str]) -> Optional[str]:
    name = t.get("name")
    ev = f.get("evidence") or {}
    if f.get("attack") == "lsb":
        fid = f"bits:{name}"
        if fid in reg.figures:
            return fid
        base_ones = ev.get("baseline_bit_ones")
        if base_ones is None:
            for _, table in baselines:
                bt = table.get(name)
                if bt is not None and (bt.get("stats") or {}).get("bit_ones"):
                    base_ones = bt["stats"]["bit_ones"]
                    break
        bits = list(ev.get("bits") or ev.get("planes") or ev.get("constant_planes") or ())
        if isinstance(ev.get("plane"), int):
            bits.append(ev["plane"])
        made = figs.bitplane_figure(
            t, baseline_ones=base_ones, highlight=[int(b) for b in bits if isinstance(b, (int, float))]
        )
        if made is not None:
            return reg.add(fid, "svg", made)
    fid = f"hist:{name}"
    if fid in reg.figures:
        return fid
    shared = next(
        (v for v in ev.values() if isinstance(v, Mapping) and {"edges", "counts", "ref_counts"} <= set(v)), None
    )
    if shared is not None:  # the detector's own histograms of both layers on a joint range (shared edges)
        # detectors share one histogram per layer (its baseline layer's, else the fitted Gaussian's): draw it once
        fid = f"hist:{name}:shared"
        if fid in reg.figures:
            return fid
        view = {**t, "histogram": {"edges": shared["edges"], "counts": shared["counts"]}}
        label = str(shared.get("baseline_label") or ev.get("baseline_label") or ev.get("baseline_name") or "baseline")
        made = figs.histogram_figure(
            view, baseline_counts=list(shared["ref_counts"]), baseline_label=label, flagged=name in flagged
        )
        return reg.add(fid, "svg", made) if made is not None else None
    base_counts, base_label = _baseline_histogram(ev, t, baselines)
    made = figs.histogram_figure(t, baseline_counts=base_counts, baseline_label=base_label, flagged=name in flagged)
    return reg.add(fid, "svg", made) if made is not None else None


def _baseline_histogram(ev: Mapping, t: Mapping, baselines) -> tuple[Optional[list], str]:
    """Baseline counts on exactly this tensor's bin edges, from (in order) the finding's evidence, the tensor's
    own entry in the scan document, or a baseline scan; ``(None, label)`` when none shares the edges."""
    edges = (t.get("histogram") or {}).get("edges") or []
    label = str(ev.get("baseline_label") or ev.get("baseline_name") or "baseline")
    if isinstance(ev.get("baseline"), str):
        label = f"baseline {Path(ev['baseline']).name}"
    candidates: list[tuple[Any, str]] = []
    for key in ("baseline_histogram", "reference_histogram"):
        candidates.append((ev.get(key), label))
    for key in ("baseline", "reference"):
        entry = t.get(key)
        if isinstance(entry, Mapping):
            name = entry.get("label") or entry.get("model") or entry.get("path")
            candidates.append((entry.get("histogram"), f"baseline {Path(str(name)).name}" if name else label))
    for key in ("baseline_histogram", "reference_histogram"):
        candidates.append((t.get(key), label))
    for cand, lab in candidates:
        if isinstance(cand, Mapping) and _same_edges(cand.get("edges"), edges):
            counts = cand.get("ref_counts") if "ref_counts" in cand else cand.get("counts")
            if counts is not None and len(counts) == len(edges) - 1:
                return list(counts), lab
    for blabel, table in baselines:
        bt = table.get(t.get("name"))
        if bt is not None and _same_edges((bt.get("histogram") or {}).get("edges"), edges):
            return list(bt["histogram"]["counts"]), blabel
    return None, label


def _same_edges(a: Any, b: Sequence[float]) -> bool:
    if not a or len(a) != len(b):
        return False
    return bool(np.allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), rtol=1e-6, atol=0))


def _tiles(reg: _Figures, findings, doc, model, cancel) -> tuple[list[str], str]:
    attacks = [
        a
        for a in ("correlated-value", "sign")
        if any(f.get("attack") == a and f.get("severity") in ("warning", "suspicious") for f in findings)
    ]
    if not attacks:
        return [], ""
    try:
        mf = _open_checked(model, doc)
    except InspectorError as e:
        return [], f"The weights could not be laid out as images: {e}."
    if mf is None:
        return [], (
            "The weights could not be laid out as images: the report was built from the scan JSON without the "
            "model file. Run the report on the model itself to see them."
        )
    theta = theta_tensors(mf)
    if not theta:
        return [], "No weight matrices or kernels to lay out as images."
    source = (
        f"θ, the weight matrices and kernels concatenated in storage order, biases excluded ({len(theta)} "
        f"tensors, starting with {theta[0].name})"
    )
    ids = []
    for attack in attacks:
        side, column_major = _tile_layout(findings, attack)
        what = "sign bytes" if attack == "sign" else "values"
        values = source_values(theta, what, 0, TILE_COUNT * side * side, cancel=cancel)
        images = minmax_tiles(values, side, TILE_COUNT)
        made = figs.tiles_figure(images, attack=attack, source=source, column_major=column_major)
        if made is not None:
            ids.append(reg.add(f"tiles:{attack}", "png", made))
    return ids, ""


def _tile_layout(findings: Sequence[Mapping], attack: str) -> tuple[int, bool]:
    """Image side and layout from a data-aware finding's evidence (``window`` weights per image, ``layout``);
    8×8 row-major (the digits) otherwise."""
    for f in findings:
        ev = f.get("evidence") or {}
        if f.get("attack") != attack or not isinstance(ev.get("window"), int) or f.get("severity") == "info":
            continue
        if isinstance(ev.get("matched"), int) and ev["matched"] == 0:
            continue
        pixels = ev["window"] // 8 if attack == "sign" else ev["window"]
        side = int(round(math.sqrt(pixels)))
        if side * side == pixels and 2 <= side <= 64:
            return side, ev.get("layout") == "column-major"
    return 8, False


def _open_checked(model: Any, doc: Mapping) -> Optional[ModelFile]:
    if model is None:
        return None
    if isinstance(model, ModelFile):
        return model
    mf = open_model(model)
    want = (doc.get("model") or {}).get("sha256")
    if want:
        from inspector.core.formats import sha256_files

        if sha256_files(mf.files) != want:
            raise InspectorError("the model file's SHA-256 differs from the scanned one", path=mf.path)
    return mf


def _as_dict(obj: Any) -> Optional[dict[str, Any]]:
    if obj is None:
        return None
    if hasattr(obj, "to_json"):
        return dict(obj.to_json())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    return None


def _point(p: Any) -> dict[str, Any]:
    if isinstance(p, (tuple, list)):
        keys = ("bits", "accuracy", "agreement", "mean_kl")
        return dict(zip(keys, p))
    return {k: getattr(p, k, None) for k in ("bits", "accuracy", "agreement", "mean_kl")}


def _inputs_of(scan: Any, doc: Mapping) -> dict[str, Any]:
    opts = getattr(scan, "options", None)
    if opts is not None:
        return {
            "baselines": list(opts.baselines),
            "profile": opts.profile,
            "arch": opts.arch,
            "data": opts.data,
            "train_sample": opts.train_sample,
        }
    recorded = doc.get("inputs") or doc.get("options")
    return dict(recorded) if isinstance(recorded, Mapping) else {"unknown": True}


#: Friendlier names of evidence keys the detectors record; unknown keys are shown with underscores as spaces.
EVIDENCE_LABELS = {
    "count": "values",
    "nonzero": "non-zero values",
    "dtype": "element type",
    "plane": "mantissa bit",
    "plane_ones": "share of 1s at that bit",
    "plane_expected": "expected share in trained weights",
    "low_entropy": "low-byte entropy (bits/byte)",
    "low_entropy_expected": "expected for random low bytes",
    "reference_low_entropy": "baseline layer's low-byte entropy",
    "chi_effect": "χ² effect size of the low byte",
    "low_compress": "zlib size of the low bytes",
    "near_zero": "share within ±0.05σ of zero",
    "positive": "share of positive weights",
    "ks": "Kolmogorov–Smirnov distance",
    "wasserstein_sigma": "Wasserstein distance (baseline σ)",
    "excess": "strength (1 = detection threshold)",
    "window": "weights per window",
    "windows": "windows tested",
    "matched": "windows matched",
    "share": "share of windows matched",
    "probes": "probes per family",
    "sign_excess": "sign autocorrelation excess (≤ 0: none)",
}
_PERCENT_KEYS = (
    "plane_ones",
    "plane_expected",
    "low_compress",
    "near_zero",
    "near_zero_baseline",
    "positive",
    "positive_baseline",
    "share",
    "median_best_agreement",
)


def _evidence_rows(ev: Mapping[str, Any]) -> tuple[Row, ...]:
    rows = []
    for k, v in ev.items():
        if isinstance(v, Mapping) or k.startswith("baseline_histogram") or k == "baseline_bit_ones":
            continue
        label = EVIDENCE_LABELS.get(k, k.replace("_", " "))
        if isinstance(v, float) and (k in _PERCENT_KEYS or k.endswith(("fraction", "_share", "_rate"))) and 0 <= v <= 1:
            rows.append(Row(label, f"{v:.1%}"))
            continue
        if isinstance(v, (list, tuple)):
            if len(v) > 12 or any(isinstance(x, (list, dict)) for x in v):
                continue
            text = ", ".join(num(x) if isinstance(x, float) else str(x) for x in v)
        else:
            text = value_text(v)
        rows.append(Row(label, text))
    return tuple(rows)


def _identity(doc: Mapping, tensors: Sequence[Mapping], created: datetime) -> tuple[Row, ...]:
    m = doc.get("model") or {}
    dtypes = Counter(str(t.get("dtype")) for t in tensors)
    params_by: Counter[str] = Counter()
    for t in tensors:
        params_by[str(t.get("dtype"))] += int((t.get("stats") or {}).get("count") or 0)
    dtype_text = ", ".join(f"{d} ({n} tensors, {params_by[d]:,} values)" for d, n in dtypes.most_common())
    meta = m.get("metadata") or {}
    rows = [
        Row("File", Path(str(m.get("path", "?"))).name, note=str(m.get("path", "")), mono=True),
        Row("Format", str(m.get("format", "?"))),
        Row("SHA-256", str(m.get("sha256") or "not computed"), mono=True, missing=not m.get("sha256")),
        Row("Tensor data", _bytes(m.get("bytes"))),
        Row("Tensors", f"{int(m.get('tensors') or len(tensors)):,}"),
        Row("Parameters", f"{int(m.get('parameters') or 0):,}"),
        Row("Element types", dtype_text or "–"),
    ]
    if meta:
        shown = ", ".join(f"{k}={_clip(str(v), 60)}" for k, v in list(meta.items())[:8])
        more = f" … and {len(meta) - 8} more" if len(meta) > 8 else ""
        rows.append(Row("File metadata", shown + more, mono=True))
    tool = doc.get("tool") or {}
    rows.append(Row("Inspected with", f"{tool.get('name', 'model-inspector')} {tool.get('version', __version__)}"))
    secs = doc.get("seconds")
    rows.append(
        Row(
            "Report written",
            created.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            note=f"scan took {secs:.2f} s" if isinstance(secs, (int, float)) else "",
        )
    )
    return tuple(rows)


def _headline(
    verdict: str, score: float, views: Sequence[FindingView], counts: Counter, flagged, families=()
) -> tuple[str, str]:
    if verdict == "incomplete":
        missing = [f for f in families if f.status == "not-assessed"]
        what = "; ".join(f"{f.family} ({f.text})" if f.text else f.family for f in missing) or "see below"
        return (
            "Incomplete: not every family was assessed",
            f"No family was detected (model score {score:.2f} of 1), but the model cannot be called clean: "
            f"not assessed: {what}. Give the missing inputs and inspect again before release.",
        )
    if verdict == "suspicious":
        top = next((v for v in views if v.severity == "suspicious"), None)
        n = counts.get("suspicious", 0)
        where = f"{len(flagged)} tensor{'s' if len(flagged) != 1 else ''}" if flagged else "the model as a whole"
        lead = f" The strongest: {top.attack_label[0].lower()}{top.attack_label[1:]}" if top else ""
        lead += f" in {top.tensor}" if top and top.tensor else ""
        return (
            "Suspicious: the weights show non-natural structure",
            f"{n} suspicious finding{'s' if n != 1 else ''} in {where} (model score {score:.2f} of 1).{lead}. "
            "Structure of this kind is what training-data hiding leaves behind; legitimate watermarks can leave "
            "it too. Do not release the model until every suspicious finding is explained.",
        )
    w = counts.get("warning", 0)
    extra = f" {w} warning{'s' if w != 1 else ''} below deserve{'s' if w == 1 else ''} a look." if w else ""
    return (
        "Clean: no check found non-natural structure",
        f"No finding reached 'suspicious' (model score {score:.2f} of 1).{extra} Clean means that none of the "
        "checks listed below fired; it is not proof that nothing is hidden — see what this inspection cannot "
        "rule out.",
    )


def _attack_label(f: Mapping[str, Any]) -> str:
    """The family label of a finding; a sign-detector finding whose signs show no structure (sign excess ≤ 0)
    is named for what fired: the value distribution's shape."""
    attack = str(f.get("attack"))
    label = ATTACK_LABELS.get(attack, attack)
    ev = f.get("evidence") or {}
    excess = ev.get("sign_excess")
    if attack == "sign" and isinstance(excess, (int, float)) and excess <= 0:
        return "Weight-distribution shape (sign-encoding check; the signs themselves show no structure)"
    return label


def _tensor_row(t: Mapping, flag: str) -> TensorRow:
    s = t.get("stats") or {}
    shape = t.get("shape") or []

    def pct(v, spec=".1%"):
        return num(v, spec) if isinstance(v, (int, float)) else "–"

    return TensorRow(
        name=str(t.get("name")),
        dtype=str(t.get("dtype")),
        shape="×".join(str(d) for d in shape) or "scalar",
        kind=str(t.get("kind", "")),
        params=f"{int(s.get('count') or 0):,}",
        mean=num(s.get("mean")),
        std=num(s.get("std")),
        kurtosis=num(s.get("kurtosis"), ".2f"),
        near_zero=pct(s.get("near_zero_fraction")),
        positive=pct(s.get("positive_fraction"), ".0%"),
        low_entropy=num(s.get("low_byte_entropy"), ".2f"),
        autocorr=num(s.get("autocorr_value"), ".2f"),
        flag=flag,
    )


def _bytes(n: Any) -> str:
    if not isinstance(n, (int, float)):
        return "?"
    v = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if v < 1024 or unit == "TB":
            return f"{int(v):,} bytes" if unit == "bytes" else f"{v:.1f} {unit} ({int(n):,} bytes)"
        v /= 1024
    return str(n)


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"
