"""``judge``: a pure function of a measurement and its inputs to findings, per-family status and a verdict.

It reads no file and runs no model: references arrive measured, the training-sample match and the capacity
probe arrive as their results. So it re-runs in milliseconds: the app re-judges when the baseline changes, and
a scrubbed copy is judged with exactly the inputs of the original.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Optional, Sequence

from inspector.core.dtypes import DTYPES
from inspector.core.formats import encoded_bytes
from inspector.core.formats.base import TRAINING_UNREAD
from inspector.core.judge import families as fam
from inspector.core.judge.baselines import Profile, Reference
from inspector.core.judge.detectors import hidden as hidden_detector
from inspector.core.judge.detectors import limits_for, quiet, weight_detectors
from inspector.core.judge.detectors import metadata as metadata_detector
from inspector.core.judge.detectors import nonfloat as nonfloat_detector
from inspector.core.judge.detectors.context import Context
from inspector.core.judge.families import Assessment, FamilyStatus
from inspector.core.judge.findings import Finding, model_score, rank
from inspector.core.measure.features import MIN_BITS, MIN_ORDER


@dataclass(frozen=True)
class ProbeOutcome:
    """The capacity-abuse probe's result: findings and what it compared, or why it could not run."""

    findings: tuple[Finding, ...] = ()
    checked: Optional[str] = None
    not_run: Optional[str] = None


@dataclass(frozen=True)
class JudgeInputs:
    """Everything besides the measurement that a judgement depends on (all already computed)."""

    profile: Optional[Profile] = None
    references: tuple[Reference, ...] = ()
    #: the training sample's path and the findings of matching it against the weights (None: not given)
    train_sample: Optional[str] = None
    data_findings: tuple[Finding, ...] = ()
    data_checked: Optional[str] = None
    #: the capacity probe's outcome (None: not attempted)
    probe: Optional[ProbeOutcome] = None
    arch: Optional[str] = None
    data: Optional[str] = None
    #: W − W_base measured against the model's own base (None: no --base)
    delta: Optional[Any] = None

    @property
    def baselines(self) -> tuple[str, ...]:
        return tuple(r.path for r in self.references)


@dataclass(frozen=True)
class CoverageRow:
    """Bytes of one class in the file and the checks that read them."""

    cls: str
    bytes: int
    checks: str

    def to_json(self) -> dict[str, Any]:
        return {"class": self.cls, "bytes": self.bytes, "checks": self.checks}


@dataclass(frozen=True)
class Judgement:
    findings: tuple[Finding, ...]
    verdict: str
    score: float
    checked: tuple[str, ...]
    limits: tuple[str, ...]
    families: tuple[FamilyStatus, ...]
    coverage: tuple[CoverageRow, ...] = ()
    missing: tuple[str, ...] = field(default=())


def _float(t: Any) -> bool:
    dt = DTYPES.get(t.dtype)
    return dt is not None and dt.is_float


def coverage(measurement: Any) -> tuple[CoverageRow, ...]:
    """Every byte of the model's files by class, and what read it."""
    # values decoded from quantization blocks (GGUF) are counted at the bytes their blocks take in the file
    blocks = sum(encoded_bytes(t.encoding, t.numel) for t in measurement.tensors if getattr(t, "encoding", None))
    undecoded = max(0, int(measurement.model.metadata.get("gguf.quantized_bytes") or 0) - blocks)
    floats = sum(
        t.numel * DTYPES[t.dtype].itemsize
        for t in measurement.tensors
        if _float(t) and not getattr(t, "encoding", None)
    )
    others = sum(t.numel * DTYPES[t.dtype].itemsize for t in measurement.tensors if t.dtype in DTYPES and not _float(t))
    meta = sum(
        len(k.encode("utf-8", "surrogatepass")) + len(str(v).encode("utf-8", "surrogatepass"))
        for k, v in measurement.model.metadata.items()
    )
    regions = tuple(getattr(measurement, "hidden", ()) or ())
    inside = sum(h.nbytes for h in regions if h.kind != "file")  # in the model's files (storages, members...)
    beside = sum(h.nbytes for h in regions if h.kind == "file")  # files beside the model in its folder
    rest = max(0, measurement.file_bytes - floats - others - inside - blocks - undecoded)
    fmt = measurement.model.format
    container = (
        "header validated by the safetensors reader (offsets, sizes, no gaps or overlaps); metadata checked for blobs"
        if fmt.startswith("safetensors")
        else "container and pickle read by the restricted reader (every opcode decoded, dangerous calls recorded)"
    )
    rows = [
        CoverageRow(
            "float tensors",
            floats,
            "every element: statistics, bit planes, low-byte windows, order and phase features",
        ),
        CoverageRow(
            "non-float tensors", others, "every element: statistics, role check (ids, masks, counters, quantised)"
        ),
        CoverageRow(
            "block-quantized tensors (GGUF Q8_0, Q4_0, Q4_1)",
            blocks,
            "every block dequantised to float32: statistics, order and phase features; low bits not judged (they "
            "are fixed by scale × integer, not stored)",
        ),
        CoverageRow(
            "block-quantized tensors of other types (K-quants...)",
            undecoded,
            "listed with type, shape and byte range; not decoded, not scanned",
        ),
        CoverageRow(f"header and structure ({meta:,} bytes of metadata)", rest, container),
        CoverageRow(
            "bytes no tensor shows (storage outside views, unreferenced members, pickled blobs, header whitespace)",
            inside,
            "read whole: byte entropy, zeros, compressibility, encoded text; judged as non-float payloads",
        ),
        CoverageRow(
            "files beside the model in its folder",
            beside,
            "read whole unless another weight file: byte entropy, compressibility, encoded text",
        ),
    ]
    return tuple(r for r in rows if r.bytes or r.cls == "float tensors")


def _assessments(
    measurement: Any, inputs: JudgeInputs, ctx: Context, nonfloat_checked: int, hidden_limits: Sequence[str] = ()
) -> list[Assessment]:
    feats = ctx.all_features()
    bit_judged = sum(1 for f in feats if f.judged >= MIN_BITS or f.grid or f.rounded_bits)
    ordered = sum(1 for f in feats if f.nonzero >= MIN_ORDER)
    n_float = len(feats)
    data = inputs.data_checked is not None
    out = []
    if n_float == 0:
        for family in ("lsb", "correlated-value", "sign"):
            out.append(Assessment(family, "no float tensors"))
    else:
        too_few = (
            f"no float tensor holds enough values for these tests ({MIN_BITS:,} for bits, {MIN_ORDER:,} for order)"
        )
        narrow = sum(1 for f in feats if f.dtype in DTYPES and DTYPES[f.dtype].mantissa_bits < 8)
        lsb_limit = (
            f"{narrow} of {n_float} float tensors have a mantissa under 8 bits (e.g. bfloat16): no low byte to "
            "test, so bits written there cannot be ruled out without a training sample (--train-sample); "
            "scrubbing the low bits removes them"
            if narrow
            else too_few
        )
        out.append(
            Assessment(
                "lsb",
                f"bit planes and low-byte windows over every element of {bit_judged} of {n_float} float tensors"
                + ("; training bytes searched in the low bits" if data else ""),
                limit="" if data else lsb_limit if narrow else "" if bit_judged else too_few,
            )
        )
        weights_by = f"value, order and phase statistics of {ordered} float tensors against the baseline"
        small = "" if ordered or data else too_few
        out.append(
            Assessment(
                "correlated-value",
                weights_by + ("; weights correlated with the training sample" if data else ""),
                limit=small,
            )
        )
        out.append(
            Assessment(
                "sign", weights_by + ("; signs matched against the training sample's bits" if data else ""), limit=small
            )
        )
    probe = inputs.probe
    if probe is not None and probe.checked:
        out.append(Assessment("capacity-abuse", probe.checked))
    else:
        why = f" ({probe.not_run})" if probe is not None and probe.not_run and inputs.data else ""
        out.append(
            Assessment(
                "capacity-abuse",
                None,
                needs=(
                    "evaluation data and the model's architecture, to probe its behaviour (command line: --data, "
                    f"--arch; the app: the Inputs panel){why}"
                ),
            )
        )
    regions = tuple(getattr(measurement, "hidden", ()) or ())
    by = f"role check of {nonfloat_checked} non-float tensor(s)"
    if regions:
        by += f"; {len(regions)} region(s) of bytes no tensor shows read and judged"
    out.append(Assessment("non-float", by, limit="; ".join(hidden_limits)))
    out.append(
        Assessment(
            "metadata",
            f"{len(measurement.model.metadata)} metadata key(s) checked for encoded blobs; "
            f"{len(measurement.tensors):,} tensor names checked for data by their compressed size",
        )
    )
    fmt = measurement.model.format
    by = (
        "the format holds no code" if fmt.startswith(("safetensors", "gguf", "onnx")) else "every pickle opcode decoded"
    )
    training = [h for h in regions if str(getattr(h, "role", "")).startswith("training")]
    if training:
        by += "; the pickles of the training-state files beside it decoded"
    unread = [str(h.where) for h in regions if getattr(h, "role", "") == TRAINING_UNREAD]
    limit = "; ".join(
        f"the {w[:300]} could not be decoded, so what torch.load of it would run is unknown: open it on its own"
        for w in unread[:5]
    )
    out.append(Assessment("code-execution", by, limit=limit))
    return out


def _training_state_at_most_warning(findings: list[Finding], tensors: Sequence[Any]) -> list[Finding]:
    """Findings of the weight tests on training state (optimizer moments, a scheduler's buffers) held at a
    warning: those tests describe trained weights, and Adam's moments are not (exact repeats where a gradient was
    zero, values pinned near ε, second moments that share a handful of exponents), so a Lightning checkpoint's
    optimizer state reads like a payload. The warning still names the tensor, and `scrub` never exports training
    state; bytes outside tensors and non-float tensors are judged in full wherever they are."""
    state = {t.name for t in tensors if getattr(t, "role", "weight") not in ("weight", "ema")}
    if not state:
        return findings
    out = []
    for f in findings:
        if f.tensor in state and f.severity == "suspicious":
            f = replace(
                f,
                severity="warning",
                score=min(f.score, 0.69),
                message=f.message + " (training state: the weight tests describe trained weights, and scrub "
                "leaves it out: a warning at most)",
            )
        out.append(f)
    return out


def judge(measurement: Any, inputs: JudgeInputs = JudgeInputs()) -> Judgement:
    """Findings, per-family status and the verdict of a measured model (see :mod:`inspector.core.judge.families`)."""
    ctx = Context(None, measurement.tensors, inputs, profile=inputs.profile, references=inputs.references)
    findings, checked = weight_detectors(ctx)
    findings = _training_state_at_most_warning(findings, measurement.tensors)
    nf, nf_count, _ = nonfloat_detector.detect(measurement.tensors)
    findings += nf
    checked.append(f"non-float tensors: role of each of {nf_count} (ids, masks, counters, quantised weights)")
    regions = tuple(getattr(measurement, "hidden", ()) or ())
    hb, hb_bytes, hb_limits = hidden_detector.detect(regions)
    findings += hb
    if regions:
        checked.append(
            f"bytes no tensor shows: {len(regions)} region(s), {sum(h.nbytes for h in regions):,} bytes "
            f"({hb_bytes:,} read: byte entropy, zeros, compressibility, encoded text)"
        )
    md, md_bytes = metadata_detector.detect(measurement.model.metadata)
    findings += md
    checked.append(f"metadata: {len(measurement.model.metadata)} key(s), {md_bytes:,} bytes, checked for encoded blobs")
    names = [t.name for t in measurement.tensors]
    nm, nm_chars = metadata_detector.detect_names(names, measurement.model.metadata, measurement.model.format)
    findings += nm
    checked.append(
        f"tensor names: {len(names):,} names, {nm_chars:,} characters, checked for data by their compressed size"
    )
    threats = tuple(measurement.threats or ())
    if threats:
        from inspector.core.judge.detectors import code_execution

        findings += code_execution.detect(threats)
    if inputs.delta is not None:
        from inspector.core.judge.detectors import delta as delta_detector

        findings += delta_detector.detect(inputs.delta)
        checked.append(delta_detector.checked(inputs.delta))
    findings += list(inputs.data_findings)
    if inputs.data_checked:
        checked.append(inputs.data_checked)
    probe = inputs.probe
    if probe is not None:
        findings += list(probe.findings)
        if probe.checked:
            checked.append(probe.checked)
    ranked = rank(quiet(findings))
    statuses = fam.statuses(_assessments(measurement, inputs, ctx, nf_count, hb_limits), ranked)
    cap_reason = None if probe is not None and probe.checked else (probe.not_run if probe else "no --data given")
    return Judgement(
        findings=ranked,
        verdict=fam.verdict_of(statuses, ranked),
        score=model_score(ranked),
        checked=tuple(checked),
        limits=tuple(limits_for(inputs, inputs.profile, cap_reason)),
        families=statuses,
        coverage=coverage(measurement),
        missing=tuple(fam.missing(statuses)),
    )


def families_from_json(rows: Any) -> tuple[FamilyStatus, ...]:
    """Per-family status rows of a scan/1 document (absent in older documents: empty)."""
    if not isinstance(rows, list):
        return ()
    return tuple(FamilyStatus.from_json(r) for r in rows if isinstance(r, Mapping) and "family" in r)
