"""Render :class:`ReportData` to one self-contained HTML document with the bundled Jinja2 template."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import Any

from inspector.core.report.model import ReportData
from inspector.core.resources import resource_path

TEMPLATE = "report.html.j2"


@lru_cache(maxsize=1)
def _environment():
    import jinja2

    folder = resource_path("report")
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
    )


def _css(name: str) -> str:
    return resource_path("report", name).read_text(encoding="utf-8")


def _finite(obj: Any) -> Any:
    """The same structure with NaN and ±Inf replaced by ``None`` (strict JSON)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def embedded_json(doc: Any) -> str:
    """JSON text that is safe inside a ``<script type="application/json">`` element."""
    text = json.dumps(_finite(doc), separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def render_html(data: ReportData, *, mode: str = "html", fit: Any = None) -> str:
    """The report as HTML text. ``mode="html"``: self-contained page for browsers (inline SVG, embedded PNG,
    the scan document embedded as JSON). ``mode="pdf"``: the Qt rich-text variant the PDF writer lays out,
    whose figures are ``<img src="fig:ID">`` references resolved by :mod:`inspector.core.report.pdf`."""
    if mode not in ("html", "pdf"):
        raise ValueError(f"unknown mode {mode!r}")
    template = _environment().get_template(TEMPLATE)
    return template.render(
        r=data,
        mode=mode,
        fit=fit or (lambda w, h: (w, h)),
        css=_css("report.css" if mode == "html" else "report-pdf.css"),
        scan_json_text=embedded_json(data.scan_json) if mode == "html" else "",
    )
