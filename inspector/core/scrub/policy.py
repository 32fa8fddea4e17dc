"""The export policy: what a sanitized export keeps, scrubs, ties and drops, decided (and shown) before writing.

Low-bit scrubbing only reaches float mantissas. Every other place a file can carry bytes gets a rule here:

* **float weights** are scrubbed (the ``k`` low mantissa bits randomised); floats left out by ``--tensors``
  are copied and said so;
* **non-float tensors** (``U8``/``I8``/``I32``/``I64``/``BOOL``...) are dropped: a ``U8`` tensor can hold
  training images verbatim and no bit rule sanitizes it. The user keeps one by confirming its name
  (``keep_tensors``, globs). A scalar ``num_batches_tracked`` (PyTorch BatchNorm's step counter, 8 bytes) is
  kept as a framework convention;
* **training state** (optimizer moments, schedulers, RNG state, step counters, loss scalers: the roles
  :mod:`inspector.core.formats.roles` names from each tensor's place in the checkpoint, e.g.
  ``optimizer.state.0.exp_avg``) is dropped: a release needs the weights only. An EMA copy of the weights is
  weights, and is scrubbed like them;
* **tied tensors** (two names viewing the same bytes of one storage, e.g. a GPT's ``lm_head.weight`` and
  ``transformer.wte.weight`` in a ``.pt``) stay tied: they are written as identical copies, scrubbed with one
  random stream, and listed in the ``inspector.tied`` metadata key;
* **header metadata** is reduced to known keys: the safetensors ``format`` convention (with one of its known
  values) and the architecture recipe name (``inspector.lab.recipe``, a short identifier) survive; everything
  else (free text, encoded blobs, the lab's ``inspector.lab.secret``, the PyTorch reader's notes) is dropped.
  The export adds its own provenance keys (:data:`PROVENANCE_KEYS`).

:func:`plan_policy` computes the decisions; :meth:`ExportPolicy.lines` words them for the CLI and the app.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from inspector.core.errors import InspectorError
from inspector.core.formats import ModelFile, TensorRef
from inspector.core.formats.roles import TRAINING_ROLES, classify
from inspector.core.scrub.bits import parse_bits

#: Metadata keys every export writes (its provenance); an input's own values for them are replaced.
PROVENANCE_KEYS = (
    "inspector.version",
    "inspector.source_sha256",
    "inspector.scrub_bits",
    "inspector.scrub_seed",
    "inspector.scrub_mode",
    "inspector.scrub_tensors",
    "inspector.scrubbed_tensors",
    "inspector.policy",
    "inspector.tied",
    "inspector.kept_tensors",
    "inspector.rejudged_verdict",
)

#: Known metadata conventions kept by the policy: key -> a test of the value (free text never passes).
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}\Z")
KNOWN_METADATA: dict[str, Any] = {
    # safetensors' own convention (written by safetensors.torch.save_file and the other frameworks)
    "format": lambda v: v in ("pt", "tf", "flax", "np", "mlx", "paddle"),
    # the architecture recipe the capacity-abuse probe and the accuracy check build the model from
    "inspector.lab.recipe": lambda v: bool(_SAFE_NAME.match(v)),
}

#: First path component of tensors that are training state, not weights (``optimizer.state.0.exp_avg``).
TRAINING_STATE_ROOTS = frozenset(
    {
        "optimizer",
        "optimizer_state",
        "optimizer_state_dict",
        "optim",
        "opt_state",
        "scheduler",
        "lr_scheduler",
        "scaler",
        "grad_scaler",
        "amp",
    }
)
#: Last path component of optimizer buffers (Adam, SGD momentum, RMSprop, Adadelta).
TRAINING_STATE_LEAVES = frozenset(
    {"exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer", "square_avg", "acc_delta", "grad_avg"}
)


@dataclass(frozen=True)
class TensorDecision:
    """What the export does with one tensor of the source."""

    name: str
    dtype: str
    nbytes: int
    action: str  # "scrub", "copy", "tie" (identical copy of ``tied_to``) or "drop"
    reason: str
    bits: int = 0
    tied_to: Optional[str] = None

    @property
    def written(self) -> bool:
        return self.action != "drop"


@dataclass(frozen=True)
class MetadataDecision:
    key: str
    action: str  # "keep" or "drop"
    reason: str
    nbytes: int = 0


@dataclass(frozen=True)
class ExportPolicy:
    """Every decision of one export, in the source's tensor order; :meth:`lines` words them."""

    tensors: tuple[TensorDecision, ...]
    metadata: tuple[MetadataDecision, ...]
    kept_metadata: Mapping[str, str] = field(default_factory=dict)
    #: canonical tensor -> the other names viewing the same bytes (all written as identical copies)
    tied: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    keep_tensors: tuple[str, ...] = ()
    #: ``(where, bytes)`` of each region no tensor shows (storage outside views, unreferenced members, pickled
    #: blobs, header whitespace, files beside the model): the export writes tensors only, so none is carried over
    hidden: tuple[tuple[str, int], ...] = ()

    @property
    def written(self) -> tuple[TensorDecision, ...]:
        return tuple(t for t in self.tensors if t.written)

    @property
    def dropped(self) -> tuple[TensorDecision, ...]:
        return tuple(t for t in self.tensors if not t.written)

    @property
    def kept_nonfloat(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tensors if t.action == "copy" and t.reason.startswith("kept:"))

    def to_json(self) -> dict[str, Any]:
        return {
            "tensors": [
                {
                    "name": t.name,
                    "dtype": t.dtype,
                    "bytes": t.nbytes,
                    "action": t.action,
                    "reason": t.reason,
                    "bits": t.bits,
                    **({"tied_to": t.tied_to} if t.tied_to else {}),
                }
                for t in self.tensors
            ],
            "metadata": [
                {"key": m.key, "action": m.action, "reason": m.reason, "bytes": m.nbytes} for m in self.metadata
            ],
            "tied": {k: list(v) for k, v in self.tied.items()},
            "keep_tensors": list(self.keep_tensors),
            "hidden": [{"where": w, "bytes": n, "action": "drop"} for w, n in self.hidden],
        }

    def summary(self) -> str:
        """One line: counts per action."""
        n = {a: sum(1 for t in self.tensors if t.action == a) for a in ("scrub", "copy", "tie", "drop")}
        dropped_meta = sum(1 for m in self.metadata if m.action == "drop")
        return (
            f"{n['scrub']} tensors scrubbed, {n['tie']} tied copies, {n['copy']} copied unchanged, {n['drop']} "
            f"dropped; metadata: {len(self.metadata) - dropped_meta} keys kept, {dropped_meta} dropped"
        )

    def lines(self, limit: int = 40) -> list[str]:
        """The policy in words, one decision a line (at most ``limit`` tensor lines; the rest are counted)."""
        out = [f"export policy: {self.summary()}"]
        shown = 0
        rest: dict[str, int] = {}
        for t in self.tensors:
            if t.action == "scrub" and not t.tied_to:
                rest["scrub"] = rest.get("scrub", 0) + 1  # the ordinary case: counted, not listed
                continue
            if shown >= limit:
                rest[t.action] = rest.get(t.action, 0) + 1
                continue
            shown += 1
            out.append(f"  tensor   {t.action:<5} {t.name} ({t.dtype}, {t.nbytes:,} bytes): {t.reason}")
        if rest.get("scrub"):
            out.append(f"  tensor   scrub {rest.pop('scrub')} float tensors: low mantissa bits randomised")
        for action, count in rest.items():
            out.append(f"  tensor   {action:<5} … {count} more")
        for m in self.metadata:
            out.append(f"  metadata {m.action:<5} {m.key} ({m.nbytes:,} bytes): {m.reason}")
        for where, n in self.hidden[:limit]:
            out.append(f"  hidden   drop  {where} ({n:,} bytes): no tensor shows them; not written")
        if len(self.hidden) > limit:
            out.append(f"  hidden   drop  … {len(self.hidden) - limit} more")
        out.append("  metadata add   inspector.* provenance (version, source SHA-256, bits, seed, re-judged verdict)")
        return out


def is_training_state(name: str, role: str = "weight") -> bool:
    """Training state by the reader's role (``optimizer``, ``scheduler``, ``rng``, ``counter``, ``training``) or,
    as a fallback, by the name's first or last component."""
    parts = name.split(".")
    return role in TRAINING_ROLES or parts[0] in TRAINING_STATE_ROOTS or parts[-1] in TRAINING_STATE_LEAVES


def _is_framework_buffer(ref: TensorRef) -> bool:
    return ref.name.split(".")[-1] == "num_batches_tracked" and ref.numel <= 1 and ref.dtype.name in ("I64", "I32")


def tie_groups(model: ModelFile) -> dict[str, tuple[str, ...]]:
    """Tensors that view exactly the same bytes (same file, offset, span, type, shape and strides), as
    ``{first name: (other names...)}`` in storage order."""
    seen: dict[tuple, str] = {}
    groups: dict[str, list[str]] = {}
    for r in model.tensors:
        if not r.numel:
            continue
        key = (str(r.path), r.offset, r.nbytes, r.dtype.name, r.shape, r.strides)
        first = seen.setdefault(key, r.name)
        if first != r.name:
            groups.setdefault(first, []).append(r.name)
    return {k: tuple(v) for k, v in groups.items()}


def match_tensors(model: ModelFile, globs: Sequence[str], option: str) -> set[str]:
    """Names matching any of ``globs``; a glob matching nothing is an error naming ``option``."""
    chosen: set[str] = set()
    for glob in globs:
        hits = {n for n in model.names if fnmatch.fnmatchcase(n, glob)}
        if not hits:
            sample = ", ".join(model.names[:4])
            raise InspectorError(
                f"{option} {glob!r} matches no tensor", path=model.path, hint=f"Names look like: {sample}"
            )
        chosen |= hits
    return chosen


def _metadata_decisions(metadata: Mapping[str, str]) -> tuple[list[MetadataDecision], dict[str, str]]:
    decisions: list[MetadataDecision] = []
    kept: dict[str, str] = {}
    for k, v in metadata.items():
        key, value = str(k), str(v)
        size = len(key.encode()) + len(value.encode())
        if key in PROVENANCE_KEYS or key.startswith("inspector.scrub"):
            decisions.append(MetadataDecision(key, "drop", "an earlier export's provenance, replaced", size))
            continue
        test = KNOWN_METADATA.get(key)
        if test is None:
            why = (
                "the lab's record of its hidden payload" if key == "inspector.lab.secret" else "not a known convention"
            )
            decisions.append(MetadataDecision(key, "drop", why, size))
        elif not test(value):
            decisions.append(MetadataDecision(key, "drop", "known key with an unexpected value", size))
        else:
            decisions.append(MetadataDecision(key, "keep", "known convention", size))
            kept[key] = value
    return decisions, kept


def plan_policy(
    model: ModelFile,
    bits: int | str | Mapping[str, int],
    tensors: Sequence[str] = (),
    keep_tensors: Sequence[str] = (),
) -> ExportPolicy:
    """Every decision of an export of ``model``: ``bits`` per dtype, ``tensors`` the globs to scrub (all floats
    when empty), ``keep_tensors`` the globs of non-float or training-state tensors the user confirmed to keep.
    A glob matching no tensor is an error (a typo must not silently drop or copy something)."""
    per_dtype = parse_bits(bits)
    chosen = match_tensors(model, tensors, "--tensors") if tensors else set(model.names)
    keep = match_tensors(model, keep_tensors, "--keep-tensor") if keep_tensors else set()
    groups = tie_groups(model)
    roles = classify(model).roles if model.tensors else {}
    canonical = {other: first for first, others in groups.items() for other in others}
    decisions: list[TensorDecision] = []
    by_name: dict[str, TensorDecision] = {}
    for r in model.tensors:
        nbytes = r.numel * r.dtype.itemsize
        k = per_dtype.get(r.dtype.name, 0) if (r.dtype.is_float and r.name in chosen and r.numel) else 0
        if r.name in canonical and by_name[canonical[r.name]].written:
            first = by_name[canonical[r.name]]
            d = TensorDecision(
                r.name,
                r.dtype.name,
                nbytes,
                "tie",
                f"shares its storage with {first.name}: written as an identical copy",
                first.bits,
                first.name,
            )
        elif not r.dtype.is_float and _is_framework_buffer(r):
            d = TensorDecision(r.name, r.dtype.name, nbytes, "copy", "kept: BatchNorm step counter (one value)")
        elif is_training_state(r.name, roles.get(r.name, "weight")) and r.name not in keep:
            role = roles.get(r.name, "weight")
            what = role if role in TRAINING_ROLES else "optimizer/scheduler"
            d = TensorDecision(r.name, r.dtype.name, nbytes, "drop", f"training state ({what}), not weights")
        elif not r.dtype.is_float and r.name not in keep:
            d = TensorDecision(
                r.name,
                r.dtype.name,
                nbytes,
                "drop",
                "non-float tensor: no bit rule sanitizes it; keep it with --keep-tensor NAME if the model needs it",
            )
        elif not r.dtype.is_float:
            d = TensorDecision(r.name, r.dtype.name, nbytes, "copy", "kept: confirmed with --keep-tensor (unchanged)")
        elif getattr(r, "encoding", None):
            d = TensorDecision(
                r.name,
                r.dtype.name,
                nbytes,
                "copy",
                f"dequantised from {r.encoding} blocks and written as float32, unscrubbed: its low bits are fixed by "
                "scale × integer, nothing is stored there",
            )
        elif k:
            d = TensorDecision(r.name, r.dtype.name, nbytes, "scrub", f"low {k} mantissa bits randomised", k)
        elif r.name not in chosen:
            d = TensorDecision(r.name, r.dtype.name, nbytes, "copy", "float tensor not selected by --tensors")
        else:
            d = TensorDecision(r.name, r.dtype.name, nbytes, "copy", f"0 bits for {r.dtype.name}: copied unscrubbed")
        if d.action == "scrub" and r.name in groups:
            d = TensorDecision(d.name, d.dtype, d.nbytes, d.action, d.reason + " (tied: one stream for all)", k)
        decisions.append(d)
        by_name[r.name] = d
    meta_decisions, kept = _metadata_decisions(model.metadata)
    tied = {
        first: tuple(o for o in others if by_name[o].action == "tie")
        for first, others in groups.items()
        if by_name[first].written
    }
    return ExportPolicy(
        tensors=tuple(decisions),
        metadata=tuple(meta_decisions),
        kept_metadata=kept,
        tied={k: v for k, v in tied.items() if v},
        keep_tensors=tuple(keep_tensors),
        hidden=tuple((h.where, h.nbytes) for h in getattr(model, "hidden", ())),
    )


__all__ = [
    "KNOWN_METADATA",
    "PROVENANCE_KEYS",
    "ExportPolicy",
    "MetadataDecision",
    "TensorDecision",
    "is_training_state",
    "plan_policy",
    "tie_groups",
]
