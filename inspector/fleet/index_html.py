"""``index.html``: the batch as one sortable-by-eye table, each model linking to its report.

Reports are written on demand (``model-inspector fleet-report DIR ID``) into ``DIR/reports/``; the index links
to where each will be and shows the command. Every value from a model (paths, ids, messages) is escaped.
"""

from __future__ import annotations

import hashlib
import shlex
from html import escape
from pathlib import Path
from typing import Any, Sequence

from inspector import __version__
from inspector.core.formats import write_atomic
from inspector.fleet.summary import is_error, summarize, verdict_of

REPORTS = "reports"
_ORDER = {"suspicious": 0, "error": 1, "incomplete": 2, "clean": 3}


def report_name(uid: str) -> str:
    """File name of a model's on-demand report: a digest of its id (ids are paths, unfit as file names)."""
    return hashlib.sha256(uid.encode("utf-8")).hexdigest()[:20] + ".html"


def _row(doc: dict[str, Any], folder: Path) -> str:
    fleet = doc.get("fleet", {})
    uid = str(fleet.get("id", ""))
    verdict = verdict_of(doc)
    if is_error(doc):
        detail = f"[{doc['error'].get('kind')}] {doc['error'].get('message')}"
        score, fmt, size = "", "", ""
    else:
        top = next(iter(doc.get("findings") or []), None)
        detail = f"{top.get('detector')}: {top.get('message')}" if top else ""
        score = f"{float(doc.get('score', 0.0)):.2f}"
        fmt = str(doc.get("model", {}).get("format", ""))
        size = f"{int(doc.get('model', {}).get('bytes', 0)):,}"
    href = f"{REPORTS}/{report_name(uid)}"
    cmd = f"model-inspector fleet-report {shlex.quote(str(folder))} {shlex.quote(uid)}"
    link = "" if is_error(doc) else f'<a href="{escape(href)}" title="{escape(cmd)}">report</a>'
    return (
        f'<tr class="{escape(verdict)}"><td>{escape(verdict)}</td><td>{escape(score)}</td>'
        f"<td><code>{escape(uid)}</code></td><td>{escape(fmt)}</td><td class=n>{escape(size)}</td>"
        f"<td class=n>{float(fleet.get('seconds', 0.0)):.2f}</td><td>{escape(detail)}</td><td>{link}</td></tr>"
    )


def render_index(docs: Sequence[dict[str, Any]], folder: Path) -> str:
    s = summarize(docs)
    counts = ", ".join(f"{n} {escape(k)}" for k, n in sorted(s.counts.items(), key=lambda kv: _ORDER.get(kv[0], 9)))
    rows = sorted(docs, key=lambda d: (_ORDER.get(verdict_of(d), 9), -float(d.get("score", 0.0) or 0.0)))
    body = "\n".join(_row(d, folder) for d in rows)
    cmd = f"model-inspector fleet-report {shlex.quote(str(folder))} ID"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Model Inspector fleet: {s.total} models</title>
<style>
body{{font:14px system-ui,sans-serif;margin:1.5em}} table{{border-collapse:collapse}}
td,th{{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}} td.n{{text-align:right}}
tr.suspicious td:first-child{{color:#b00020;font-weight:bold}} tr.error td:first-child{{color:#8a5a00}}
tr.incomplete td:first-child{{color:#555}}
</style></head><body>
<h1>Fleet: {s.total} models</h1>
<p>{counts}. Model Inspector {escape(__version__)}. A model's report is written on demand:
<code>{escape(cmd)}</code> (the link's tooltip shows each command).</p>
<table><thead><tr><th>verdict</th><th>score</th><th>model</th><th>format</th><th>bytes</th><th>seconds</th>
<th>top finding / error</th><th></th></tr></thead>
<tbody>
{body}
</tbody></table></body></html>
"""


def write_index(docs: Sequence[dict[str, Any]], folder: Path) -> Path:
    return write_atomic(folder / "index.html", render_index(docs, folder), what="fleet index")
