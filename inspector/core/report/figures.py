"""The report's figures, each built from the scan document's numbers (and, for weight tiles, the tensors' bytes).

A :class:`Figure` is either inline SVG markup or a PNG; both are embedded in the one report file.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from inspector.core.dtypes import DTYPES
from inspector.core.report import svg
from inspector.core.report.png import tiles_png


@dataclass(frozen=True)
class Figure:
    """One numbered figure: ``kind`` is ``"svg"`` (``content`` is markup) or ``"png"`` (``content`` is bytes)."""

    id: str
    number: int
    title: str
    caption: str
    kind: str
    content: Any
    width: int
    height: int
    #: an SVG figure drawn in several stacked pieces (so a page break can fall between them): (markup, w, h)
    parts: tuple[tuple[str, int, int], ...] = ()

    @property
    def pieces(self) -> tuple[tuple[str, int, int], ...]:
        """The SVG markup in pieces with their sizes (one piece unless the figure was split)."""
        return self.parts or ((self.content, self.width, self.height),)

    @property
    def data_uri(self) -> str:
        """The PNG as a ``data:`` URI (PNG figures only)."""
        if self.kind != "png":
            raise ValueError("only PNG figures have a data URI")
        return "data:image/png;base64," + base64.b64encode(self.content).decode("ascii")


def _hist(t: Mapping[str, Any]) -> tuple[list[float], list[int]]:
    h = t.get("histogram") or {}
    return list(h.get("edges") or []), list(h.get("counts") or [])


def histogram_figure(
    t: Mapping[str, Any],
    *,
    baseline_counts: Optional[Sequence[float]],
    baseline_label: str,
    flagged: bool,
) -> Optional[tuple[str, str, str]]:
    """``(svg, title, caption)`` of one tensor's histogram against its baseline, or ``None`` without data."""
    edges, counts = _hist(t)
    if not counts or not sum(counts):
        return None
    s = t.get("stats") or {}
    total = int(sum(counts))
    shown_bins = min(len(counts), max(16, int(2 * math.sqrt(total))))
    merged = ""
    if shown_bins < len(counts):  # few values: merge neighbouring bins (both series alike, so still shared)
        e2, c2 = svg.rebin(edges, counts, shown_bins)
        if baseline_counts is not None:
            baseline_counts = list(svg.rebin(edges, baseline_counts, shown_bins)[1])
        merged = f" (merged from {len(counts)} scan bins, as the tensor has only {total:,} values)"
        edges, counts = list(e2), list(c2)
    mean, std = s.get("mean"), s.get("std")
    gaussian = None
    if baseline_counts is None and isinstance(mean, (int, float)) and isinstance(std, (int, float)) and std > 0:
        gaussian = (float(mean), float(std))
    marks = []
    if isinstance(std, (int, float)) and std > 0 and len(counts) >= 32:
        marks = [(0.0, "0")]
    name = t.get("name", "?")
    image = svg.histogram(
        edges,
        counts,
        baseline=baseline_counts,
        baseline_label=baseline_label,
        gaussian=gaussian,
        marks=marks,
        flagged=flagged,
        label=f"Histogram of {name}",
    )
    ref = (
        f"the orange outline is the {baseline_label} on the same bin edges"
        if baseline_counts is not None
        else "no baseline layer was matched, so a Gaussian with the same mean and σ is drawn for reference"
    )
    caption = (
        f"Values of {name} ({_fmt_count(s.get('count'))} weights) in {len(counts)} equal bins{merged} from "
        f"{svg.num(edges[0])} to {svg.num(edges[-1])}; {ref}. "
        f"Kurtosis {svg.num(s.get('kurtosis'))} (Gaussian 3), skewness {svg.num(s.get('skewness'))}, "
        f"{_pct(s.get('near_zero_fraction'))} within ±0.05σ of zero, {_pct(s.get('positive_fraction'))} positive."
    )
    return image, f"Histogram of {name}", caption


def overview_figure(
    tensors: Sequence[Mapping[str, Any]],
    flagged: set[str],
    *,
    baselines: Optional[Mapping[str, Sequence[float]]] = None,
    baseline_label: str = "",
    given_baselines: Sequence[str] = (),
    limit: int = 240,
) -> Optional[tuple[tuple[str, ...], str, str]]:
    """Small multiples of every tensor's histogram (flagged ones red, baselines on shared edges in orange);
    at most ``limit`` panels. ``given_baselines``: the reference models the inspection was given (file names),
    so that a missing outline is explained truthfully."""
    panels = []
    baselines = baselines or {}
    for t in tensors:
        edges, counts = _hist(t)
        if len(counts) < 2 or not sum(counts):
            continue
        name = str(t.get("name"))
        panels.append((name, edges, counts, name in flagged, baselines.get(name)))
    if not panels:
        return None
    shown = panels
    note = ""
    if len(panels) > limit:
        # keep every flagged tensor, then the rest in storage order
        keep = [p for p in panels if p[3]]
        keep += [p for p in panels if not p[3]][: max(0, limit - len(keep))]
        order = {id(p): i for i, p in enumerate(panels)}
        shown = sorted(keep, key=lambda p: order[id(p)])
        note = f" Only {len(shown)} of {len(panels)} tensors are drawn (all flagged ones included); the appendix lists all."
    prefix = common_prefix([p[0] for p in shown])
    if prefix:
        shown = [(p[0][len(prefix) :] or p[0], p[1], p[2], p[3], p[4]) for p in shown]
        note = f" Names are shown without their common prefix “{prefix}”." + note
    rows_per_piece = 8
    per = rows_per_piece * 6
    image = tuple(
        svg.small_multiples(shown[i : i + per], columns=6, label="Histograms of all tensors")
        for i in range(0, len(shown), per)
    )
    caption = (
        "Every tensor's value histogram, in storage order. Each panel has its own x range and its own height "
        "scale; the dashed line marks zero. Red panels hold a suspicious finding."
        + (
            f" Orange outlines: the {baseline_label} layer matched to each tensor, on the same bins."
            if baselines
            else (
                f" Reference model(s) {', '.join(given_baselines)} were given, but none of their layers was scanned "
                "on these bins for this report, so no outline is drawn (the findings' own figures compare them)."
                if given_baselines
                else " No reference model was given, so there is no baseline outline."
            )
        )
        + note
    )
    return image, "Overview: the value distribution of every tensor", caption


def common_prefix(names: Sequence[str]) -> str:
    """The longest prefix ending in a dot that every name shares (``encoder.layer.``), or ``""``."""
    if len(names) < 2:
        return ""
    first, last = min(names), max(names)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    cut = first[:n].rfind(".")
    return first[: cut + 1] if cut > 0 else ""


def bitplane_figure(
    t: Mapping[str, Any], *, baseline_ones: Optional[Sequence[float]], highlight: Sequence[int]
) -> Optional[tuple[str, str, str]]:
    """P(bit = 1) per bit position of one float tensor."""
    ones = (t.get("stats") or {}).get("bit_ones") or []
    dt = DTYPES.get(str(t.get("dtype")))
    if not ones or dt is None or not dt.is_float or len(ones) != dt.bits:
        return None
    name = t.get("name", "?")
    image = svg.bit_planes(
        ones,
        exponent_bits=dt.exponent_bits,
        mantissa_bits=dt.mantissa_bits,
        baseline=baseline_ones,
        highlight=highlight,
        label=f"Bit planes of {name}",
    )
    low = [float(v) for v in ones[: min(8, dt.mantissa_bits)]]
    caption = (
        f"Share of 1s at each bit position of {name} ({dt.name}: 1 sign, {dt.exponent_bits} exponent, "
        f"{dt.mantissa_bits} mantissa bits). In trained weights the highest mantissa bits lean towards 0 and the "
        "lowest sit at 0.5; a low plane far from 0.5, or a run of planes that all read exactly 0 or 1, points "
        f"at something written there. Lowest 8 planes: {', '.join(f'{v:.2f}' for v in low)}."
    )
    if highlight:
        caption += f" Red bars: planes the detector named ({', '.join(str(b) for b in sorted(highlight))})."
    return image, f"Bit planes of {name}", caption


def tiles_figure(
    images: np.ndarray,
    *,
    attack: str,
    source: str,
    column_major: bool = False,
) -> Optional[tuple[bytes, int, int, str, str]]:
    """Tiles read back the way the attacker would (:mod:`inspector.core.measure.weights_image`, (k, side, side) uint8)
    as ``(png, width, height, title, caption)``; ``None`` without a tile."""
    side = images.shape[1]
    if attack == "sign":
        how = (
            f"the sign of each weight of {source} is one bit (positive = 1), eight signs make a pixel byte "
            f"(most significant bit first), {side * side} bytes make one {side}×{side} image"
        )
        title = "Weights read as images: signs → bytes"
    else:
        how = (
            f"every {side * side} consecutive weights of {source} form one {side}×{side} image, min–max scaled "
            "to black–white"
        )
        title = "Weights read as images: values → pixels"
    if len(images) == 0:
        return None
    if column_major:
        images = images.transpose(0, 2, 1)
        how += " (column-major, as the data-aware test matched)"
    png, w, h = tiles_png(images, columns=16, scale=max(2, 40 // side))
    caption = (
        f"The first {len(images)} blocks, laid out as the {'sign' if attack == 'sign' else 'correlated-value'} "
        f"attack reads them back: {how}. Benign weights give noise; recognisable shapes (digits, faces, text) "
        "mean training data is stored in the weights. An attacker may also store images inverted (light on dark)."
    )
    return png, w, h, title, caption


def safe_bits_figure(points: Sequence[Mapping[str, Any]], chosen: Optional[float]) -> Optional[tuple[str, str, str]]:
    """Accuracy (and agreement) against the number of scrubbed low bits."""
    pts = sorted((p for p in points if p.get("bits") is not None), key=lambda p: float(p["bits"]))
    if len(pts) < 2:
        return None
    xs = [float(p["bits"]) for p in pts]
    series = [("accuracy", [p.get("accuracy") for p in pts], svg.MODEL)]
    if any(p.get("agreement") is not None for p in pts):
        series.append(("agreement with original", [p.get("agreement") for p in pts], svg.BASELINE))
    ys = [float(v) for _, vals, _ in series for v in vals if v is not None]
    lo = max(0.0, math.floor((min(ys, default=0.0) - 0.02) * 20) / 20)
    image = svg.line_chart(
        xs,
        series,
        x_label="low mantissa bits randomised",
        y_label="share of the evaluation set",
        y_range=(lo, 1.0),
        mark_x=chosen,
        mark_label=f"chosen: {chosen:g} bits" if chosen is not None else "",
        label="Safe-bits curve",
    )
    caption = (
        "Accuracy on the evaluation data (and top-1 agreement with the original model) after randomising the k "
        "lowest mantissa bits of every float tensor. The flat part of the curve is what scrubbing costs nothing."
    )
    return image, "Safe-bits curve: accuracy against scrubbed bits", caption


def _pct(v: Any) -> str:
    return "–" if not isinstance(v, (int, float)) or not math.isfinite(v) else f"{v:.1%}"


def _fmt_count(v: Any) -> str:
    return f"{int(v):,}" if isinstance(v, (int, float)) and math.isfinite(v) else "?"
