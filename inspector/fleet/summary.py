"""What a batch amounts to: verdict counts, the slowest models, the ones that could not be inspected, and the
exit status a pipeline acts on."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

from inspector.core.judge import exit_code
from inspector.fleet.store import ERROR_SCHEMA

#: Exit status of a batch: any suspicious model; could-not-inspect with ``--fail-on-error``; any incomplete.
EXIT_SUSPICIOUS = exit_code("suspicious")
EXIT_ERROR = 2
EXIT_INCOMPLETE = exit_code("incomplete")


def is_error(doc: dict[str, Any]) -> bool:
    return doc.get("schema") == ERROR_SCHEMA


def verdict_of(doc: dict[str, Any]) -> str:
    """The model's verdict, or ``"error"`` when it could not be inspected."""
    return "error" if is_error(doc) else str(doc.get("verdict", "error"))


@dataclass(frozen=True)
class Summary:
    counts: dict[str, int]
    errors: list[dict[str, Any]]
    slowest: list[dict[str, Any]]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def summarize(docs: Sequence[dict[str, Any]], slowest: int = 5) -> Summary:
    counts = Counter(verdict_of(d) for d in docs)
    errors = [d for d in docs if is_error(d)]
    timed = sorted((d for d in docs if not is_error(d)), key=lambda d: -float(d["fleet"].get("seconds", 0.0)))
    return Summary(counts=dict(counts), errors=errors, slowest=timed[:slowest])


def exit_status(summary: Summary, *, fail_on_error: bool = False, allow_incomplete: bool = False) -> int:
    """1 if any model is suspicious; else 2 if some could not be inspected and ``fail_on_error``; else the
    status of an incomplete verdict (3, or 0 with ``allow_incomplete``, as for one model) if any; else 0."""
    if summary.counts.get("suspicious"):
        return EXIT_SUSPICIOUS
    if fail_on_error and summary.errors:
        return EXIT_ERROR
    if summary.counts.get("incomplete"):
        return exit_code("incomplete", allow_incomplete)
    return 0


def format_summary(summary: Summary, *, extra: str = "") -> str:
    """The terminal summary: counts, slowest, and every model that could not be inspected."""
    order = ["suspicious", "incomplete", "clean", "error"]
    keys = [k for k in order if k in summary.counts] + sorted(k for k in summary.counts if k not in order)
    lines = [
        f"{summary.total} models: "
        + ", ".join(f"{summary.counts[k]} {k}" for k in keys)
        + (f"  ({extra})" if extra else "")
    ]
    if summary.slowest:
        lines.append("Slowest:")
        for d in summary.slowest:
            f = d["fleet"]
            cached = " (cached)" if f.get("cached") else ""
            lines.append(f"  {float(f.get('seconds', 0.0)):8.2f} s  {f['id']}{cached}")
    if summary.errors:
        lines.append(f"Could not inspect ({len(summary.errors)}):")
        for d in summary.errors[:20]:
            e = d["error"]
            lines.append(f"  [{e['kind']}] {e['message']}")
        if len(summary.errors) > 20:
            lines.append(f"  … and {len(summary.errors) - 20} more (see results.jsonl)")
    return "\n".join(lines)
