"""Charts as inline SVG, drawn straight from the scan's numbers: crisp at any zoom, small, and printable.

Only plain SVG 1.1 / Tiny 1.2 features are used (paths, rects, lines, text with presentation attributes, no
CSS, no scripts, no external references), so the same markup renders in every browser and in Qt's SVG renderer
(the PDF path). Every function returns one ``<svg>`` element as a string.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence
from xml.sax.saxutils import escape

import numpy as np

#: Colours shared by every chart (the app uses the same roles).
MODEL = "#1f4e9c"
MODEL_FILL = "#9db6de"
BASELINE = "#d9730d"
REFERENCE = "#6b6b6b"
FLAGGED = "#c62828"
FLAGGED_FILL = "#f2b8b5"
GRID = "#d8d8d8"
TEXT = "#222222"
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"


def _n(v: float) -> str:
    """A coordinate with one decimal, without trailing zeros."""
    s = f"{v:.1f}"
    return s[:-2] if s.endswith(".0") else s


def num(v: Optional[float], spec: str = ".3g") -> str:
    """A number for a label; '–' for missing or non-finite values."""
    if v is None or not isinstance(v, (int, float)) or not math.isfinite(v):
        return "–"
    if spec == ".3g" and v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
        return f"{v:.2e}"
    return format(v, spec)


def _open(width: float, height: float, label: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{_n(width)}" height="{_n(height)}" '
        f'viewBox="0 0 {_n(width)} {_n(height)}" role="img" aria-label="{escape(label, {chr(34): "&quot;"})}" '
        f'font-family="{FONT}" font-size="11" fill="{TEXT}">',
        f"<title>{escape(label)}</title>",
    ]


def _text(x: float, y: float, s: str, *, anchor: str = "start", size: float = 11, color: str = TEXT, bold=False):
    weight = ' font-weight="bold"' if bold else ""
    return (
        f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" font-size="{_n(size)}" fill="{color}"{weight}>'
        f"{escape(s)}</text>"
    )


def _step_path(x: np.ndarray, y: np.ndarray, base: float, closed: bool) -> str:
    """An outline over bins: ``x`` has one more element than ``y`` (bin edges, pixel space)."""
    parts = [f"M{_n(x[0])} {_n(base)}"]
    for i, yi in enumerate(y):
        parts.append(f"V{_n(yi)}H{_n(x[i + 1])}")
    parts.append(f"V{_n(base)}")
    if closed:
        parts.append("Z")
    return "".join(parts)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    ticks = []
    v = first
    while v <= hi + step * 1e-9:
        ticks.append(0.0 if abs(v) < step * 1e-9 else v)
        v += step
    return ticks


def _fractions(counts: Sequence[float] | np.ndarray) -> np.ndarray:
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    return c / total if total > 0 else c


def rebin(edges: Sequence[float], counts: Sequence[float], bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge adjacent bins into at most ``bins`` (exact: every new edge is an old edge)."""
    e = np.asarray(edges, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    if len(c) <= bins:
        return e, c
    step = math.ceil(len(c) / bins)
    idx = np.arange(0, len(c), step)
    return np.append(e[idx], e[-1]), np.add.reduceat(c, idx)


def histogram(
    edges: Sequence[float],
    counts: Sequence[float],
    *,
    baseline: Optional[Sequence[float]] = None,
    baseline_label: str = "baseline",
    gaussian: Optional[tuple[float, float]] = None,
    marks: Sequence[tuple[float, str]] = (),
    flagged: bool = False,
    label: str = "histogram",
    width: float = 600,
    height: float = 220,
) -> str:
    """Share of weights per bin, with an optional baseline on the same edges (orange outline), a Gaussian of
    the given (mean, σ) for reference (grey dashes) and vertical marks (value, text)."""
    e = np.asarray(edges, dtype=np.float64)
    f = _fractions(counts)
    fb = _fractions(baseline) if baseline is not None and len(baseline) == len(f) else None
    left, right, top, bottom = 52, 12, 22, 34
    pw, ph = width - left - right, height - top - bottom
    lo, hi = float(e[0]), float(e[-1])
    span = hi - lo if hi > lo else 1.0
    g = None
    if gaussian is not None and all(math.isfinite(v) for v in gaussian) and gaussian[1] > 0:
        mu, sd = gaussian
        xs = np.linspace(lo, hi, 161)
        width_bin = span / max(1, len(f))
        g = (xs, width_bin * np.exp(-0.5 * ((xs - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi)))
    ymax = max(float(f.max()) if f.size else 0.0, float(fb.max()) if fb is not None and fb.size else 0.0)
    if g is not None:
        ymax = max(ymax, float(g[1].max()))
    ymax = ymax * 1.08 if ymax > 0 else 1.0

    def px(v):
        return left + (np.asarray(v) - lo) / span * pw

    def py(v):
        return top + ph - np.asarray(v) / ymax * ph

    out = _open(width, height, label)
    for t in nice_ticks(0, ymax, 4):
        y = float(py(t))
        out.append(f'<line x1="{left}" y1="{_n(y)}" x2="{_n(left + pw)}" y2="{_n(y)}" stroke="{GRID}"/>')
        out.append(_text(left - 5, y + 4, f"{t:.0%}" if ymax >= 0.05 else f"{t:.1%}", anchor="end", size=10))
    stroke, fill = (FLAGGED, FLAGGED_FILL) if flagged else (MODEL, MODEL_FILL)
    xs = px(e)
    out.append(f'<path d="{_step_path(xs, py(f), top + ph, True)}" fill="{fill}" stroke="{stroke}" stroke-width="1"/>')
    if fb is not None:
        out.append(
            f'<path d="{_step_path(xs, py(fb), top + ph, False)}" fill="none" stroke="{BASELINE}" stroke-width="1.6"/>'
        )
    if g is not None:
        pts = " ".join(f"{_n(a)},{_n(b)}" for a, b in zip(px(g[0]), py(g[1])))
        out.append(
            f'<polyline points="{pts}" fill="none" stroke="{REFERENCE}" stroke-width="1.2" stroke-dasharray="4 3"/>'
        )
    for value, text in marks:
        if lo <= value <= hi:
            x = float(px(value))
            out.append(
                f'<line x1="{_n(x)}" y1="{top}" x2="{_n(x)}" y2="{_n(top + ph)}" stroke="{TEXT}" '
                'stroke-width="0.8" stroke-dasharray="2 2"/>'
            )
            out.append(_text(x + 3, top + 10, text, size=9))
    # axes
    out.append(f'<path d="M{left} {top}V{_n(top + ph)}H{_n(left + pw)}" fill="none" stroke="{TEXT}" stroke-width="1"/>')
    for t in nice_ticks(lo, hi, 6):
        x = float(px(t))
        out.append(f'<line x1="{_n(x)}" y1="{_n(top + ph)}" x2="{_n(x)}" y2="{_n(top + ph + 4)}" stroke="{TEXT}"/>')
        out.append(_text(x, top + ph + 16, num(t), anchor="middle", size=10))
    out.append(_text(left + pw / 2, height - 3, "weight value", anchor="middle", size=10, color=REFERENCE))
    out.append(_text(4, 13, "share of weights per bin", size=10, color=REFERENCE))
    # legend
    items: list[tuple[str, str, str, Optional[str]]] = [("this tensor", fill, stroke, None)]
    if fb is not None:
        items.append((baseline_label, "none", BASELINE, None))
    if g is not None:
        items.append(("Gaussian, same mean and σ", "none", REFERENCE, "4 3"))
    x = left + pw
    for name, fl, st, dash in reversed(items):
        w = 7 * len(name) + 26
        x -= w
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        if fl == "none":
            out.append(
                f'<line x1="{_n(x)}" y1="9" x2="{_n(x + 16)}" y2="9" stroke="{st}" stroke-width="2"{dash_attr}/>'
            )
        else:
            out.append(f'<rect x="{_n(x)}" y="4" width="16" height="10" fill="{fl}" stroke="{st}"/>')
        out.append(_text(x + 20, 13, name, size=10))
    out.append("</svg>")
    return "".join(out)


def small_multiples(
    panels: Sequence[tuple[str, Sequence[float], Sequence[float], bool, Optional[Sequence[float]]]],
    *,
    columns: int = 6,
    cell_width: float = 118,
    cell_height: float = 66,
    bins: int = 48,
    label: str = "all tensors",
) -> str:
    """A grid of tiny histograms, one per ``(name, edges, counts, flagged, baseline_counts)``; flagged panels
    are red; a baseline on the same edges is an orange outline.

    Each panel has its own x range; heights are shares of that tensor's weights.
    """
    rows = max(1, math.ceil(len(panels) / columns))
    gap, name_h = 8, 13
    width = columns * (cell_width + gap) - gap + 2
    height = rows * (cell_height + name_h + gap)
    out = _open(width, height, label)
    for i, (name, edges, counts, flagged, base) in enumerate(panels):
        r, c = divmod(i, columns)
        x0 = 1 + c * (cell_width + gap)
        y0 = r * (cell_height + name_h + gap)
        stroke, fill = (FLAGGED, FLAGGED_FILL) if flagged else (MODEL, MODEL_FILL)
        frame = FLAGGED if flagged else GRID
        out.append(
            f'<rect x="{_n(x0)}" y="{_n(y0)}" width="{_n(cell_width)}" height="{_n(cell_height)}" fill="#ffffff" '
            f'stroke="{frame}" stroke-width="{1.5 if flagged else 1}"/>'
        )
        if len(counts):
            e, cnt = rebin(edges, counts, bins)
            f = _fractions(cnt)
            fb = _fractions(rebin(edges, base, bins)[1]) if base is not None and len(base) == len(counts) else None
            top = max(float(f.max()) if f.size else 0.0, float(fb.max()) if fb is not None and fb.size else 0.0)
            top = top if top > 0 else 1.0
            lo, hi = float(e[0]), float(e[-1])
            span = hi - lo if hi > lo else 1.0
            xs = x0 + 3 + (e - lo) / span * (cell_width - 6)
            ys = y0 + cell_height - 3 - f / top * (cell_height - 8)
            out.append(
                f'<path d="{_step_path(xs, ys, y0 + cell_height - 3, True)}" fill="{fill}" stroke="{stroke}" '
                'stroke-width="0.7"/>'
            )
            if fb is not None:
                yb = y0 + cell_height - 3 - fb / top * (cell_height - 8)
                out.append(
                    f'<path d="{_step_path(xs, yb, y0 + cell_height - 3, False)}" fill="none" stroke="{BASELINE}" '
                    'stroke-width="0.8"/>'
                )
            if lo < 0 < hi:
                zx = x0 + 3 + (0 - lo) / span * (cell_width - 6)
                out.append(
                    f'<line x1="{_n(zx)}" y1="{_n(y0 + 2)}" x2="{_n(zx)}" y2="{_n(y0 + cell_height - 2)}" '
                    f'stroke="{REFERENCE}" stroke-width="0.5" stroke-dasharray="2 2"/>'
                )
        else:
            out.append(_text(x0 + cell_width / 2, y0 + cell_height / 2, "no values", anchor="middle", size=9))
        out.append(
            _text(
                x0 + cell_width / 2,
                y0 + cell_height + 10,
                _shorten(name, 22),
                anchor="middle",
                size=8.5,
                color=FLAGGED if flagged else TEXT,
                bold=flagged,
            )
        )
    out.append("</svg>")
    return "".join(out)


def _shorten(s: str, n: int) -> str:
    """A long tensor name made to fit: middle components cut to three letters first (the layer number and the
    leaf are what identify a tensor), then an ellipsis in the middle."""
    if len(s) <= n:
        return s
    parts = s.split(".")
    for i in range(1, len(parts) - 1):
        if len(".".join(parts)) <= n:
            break
        if len(parts[i]) > 4 and not parts[i].isdigit():
            parts[i] = parts[i][:3]
    s = ".".join(parts)
    if len(s) <= n:
        return s
    keep = n - 1
    return s[: keep - keep // 2] + "…" + s[-(keep // 2) :]


def bit_planes(
    ones: Sequence[float],
    *,
    exponent_bits: int,
    mantissa_bits: int,
    baseline: Optional[Sequence[float]] = None,
    highlight: Sequence[int] = (),
    label: str = "bit planes",
    width: float = 600,
    height: float = 200,
) -> str:
    """P(bit = 1) per bit position, sign on the left and the lowest mantissa bit on the right.

    ``ones[i]`` is bit ``i`` counted from the least significant bit (the scan's convention). A dashed line marks
    0.5 (random bits); ``baseline`` (same convention) is drawn as black ticks; ``highlight`` bits are red.
    """
    nbits = len(ones)
    left, right, top, bottom = 40, 10, 24, 40
    pw, ph = width - left - right, height - top - bottom
    bw = pw / max(1, nbits)
    out = _open(width, height, label)
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = top + ph - t * ph
        dash = ' stroke-dasharray="4 3"' if t == 0.5 else ""
        color = REFERENCE if t == 0.5 else GRID
        out.append(f'<line x1="{left}" y1="{_n(y)}" x2="{_n(left + pw)}" y2="{_n(y)}" stroke="{color}"{dash}/>')
        out.append(_text(left - 5, y + 4, f"{t:g}", anchor="end", size=10))
    hl = set(highlight)
    regions: list[tuple[str, float, float]] = []
    for pos in range(nbits):  # pos 0 = leftmost = most significant bit
        bit = nbits - 1 - pos
        if bit == nbits - 1:
            color, region = "#7b5ea7", "sign"
        elif bit >= mantissa_bits:
            color, region = "#5b8c5a", "exponent"
        else:
            color, region = MODEL, "mantissa"
        if bit in hl:
            color = FLAGGED
        p = float(ones[bit])
        x = left + pos * bw
        out.append(
            f'<rect x="{_n(x + 0.12 * bw)}" y="{_n(top + ph - p * ph)}" width="{_n(0.76 * bw)}" '
            f'height="{_n(p * ph)}" fill="{color}"/>'
        )
        if baseline is not None and len(baseline) == nbits:
            yb = top + ph - float(baseline[bit]) * ph
            out.append(
                f'<line x1="{_n(x + 0.05 * bw)}" y1="{_n(yb)}" x2="{_n(x + 0.95 * bw)}" y2="{_n(yb)}" '
                f'stroke="{BASELINE}" stroke-width="2.2"/>'
            )
        if not regions or regions[-1][0] != region:
            regions.append((region, x, x + bw))
        else:
            regions[-1] = (region, regions[-1][1], x + bw)
        if bit % 4 == 0 or bit == nbits - 1:
            out.append(_text(x + bw / 2, top + ph + 12, str(bit), anchor="middle", size=9))
    for region, x1, x2 in regions:
        out.append(
            f'<path d="M{_n(x1 + 1)} {_n(top + ph + 17)}V{_n(top + ph + 20)}H{_n(x2 - 1)}V{_n(top + ph + 17)}" '
            f'fill="none" stroke="{REFERENCE}"/>'
        )
        out.append(_text((x1 + x2) / 2, top + ph + 32, region, anchor="middle", size=10, color=REFERENCE))
    out.append(_text(4, 13, "P(bit = 1); bit 0 = lowest mantissa bit", size=10, color=REFERENCE))
    if baseline is not None and len(baseline) == nbits:
        x = left + pw - 110
        out.append(f'<line x1="{_n(x)}" y1="9" x2="{_n(x + 16)}" y2="9" stroke="{BASELINE}" stroke-width="2.2"/>')
        out.append(_text(x + 20, 13, "baseline", size=10))
    out.append("</svg>")
    return "".join(out)


def line_chart(
    x: Sequence[float],
    series: Sequence[tuple[str, Sequence[Optional[float]], str]],
    *,
    x_label: str,
    y_label: str,
    y_range: Optional[tuple[float, float]] = None,
    percent: bool = True,
    mark_x: Optional[float] = None,
    mark_label: str = "",
    label: str = "chart",
    width: float = 600,
    height: float = 220,
) -> str:
    """Lines with points, one per ``(name, ys, colour)``, over shared ``x`` (e.g. the safe-bits curve)."""
    left, right, top, bottom = 52, 12, 24, 36
    pw, ph = width - left - right, height - top - bottom
    xs = [float(v) for v in x]
    ys_all = [float(v) for _, ys, _ in series for v in ys if v is not None and math.isfinite(float(v))]
    lo_y, hi_y = y_range if y_range else (min(ys_all, default=0.0), max(ys_all, default=1.0))
    if hi_y <= lo_y:
        lo_y, hi_y = lo_y - 0.5, hi_y + 0.5
    lo_x, hi_x = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if hi_x <= lo_x:
        lo_x, hi_x = lo_x - 1, hi_x + 1

    def px(v: float) -> float:
        return left + (v - lo_x) / (hi_x - lo_x) * pw

    def py(v: float) -> float:
        return top + ph - (v - lo_y) / (hi_y - lo_y) * ph

    out = _open(width, height, label)
    for t in nice_ticks(lo_y, hi_y, 4):
        y = py(t)
        out.append(f'<line x1="{left}" y1="{_n(y)}" x2="{_n(left + pw)}" y2="{_n(y)}" stroke="{GRID}"/>')
        out.append(_text(left - 5, y + 4, f"{t:.0%}" if percent else num(t), anchor="end", size=10))
    for t in xs:
        out.append(_text(px(t), top + ph + 14, f"{t:g}", anchor="middle", size=10))
    out.append(f'<path d="M{left} {top}V{_n(top + ph)}H{_n(left + pw)}" fill="none" stroke="{TEXT}" stroke-width="1"/>')
    if mark_x is not None and lo_x <= mark_x <= hi_x:
        mx = px(mark_x)
        out.append(
            f'<line x1="{_n(mx)}" y1="{top}" x2="{_n(mx)}" y2="{_n(top + ph)}" stroke="{FLAGGED}" '
            'stroke-dasharray="4 3"/>'
        )
        out.append(_text(mx + 4, top + 10, mark_label, size=9, color=FLAGGED))
    lx = left + pw
    for name, ys, color in reversed(series):
        pts = [(px(a), py(float(b))) for a, b in zip(xs, ys) if b is not None and math.isfinite(float(b))]
        if len(pts) > 1:
            out.append(
                f'<polyline points="{" ".join(f"{_n(a)},{_n(b)}" for a, b in pts)}" fill="none" stroke="{color}" '
                'stroke-width="1.8"/>'
            )
        for a, b in pts:
            out.append(f'<circle cx="{_n(a)}" cy="{_n(b)}" r="2.8" fill="{color}"/>')
        w = 7 * len(name) + 26
        lx -= w
        out.append(f'<line x1="{_n(lx)}" y1="9" x2="{_n(lx + 16)}" y2="9" stroke="{color}" stroke-width="2"/>')
        out.append(_text(lx + 20, 13, name, size=10))
    out.append(_text(left + pw / 2, height - 3, x_label, anchor="middle", size=10, color=REFERENCE))
    out.append(_text(4, 13, y_label, size=10, color=REFERENCE))
    out.append("</svg>")
    return "".join(out)
