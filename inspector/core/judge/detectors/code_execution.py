"""Code on load: a pickle that would call something dangerous when loaded is a verdict, not a read error.

The readers never run such a call; they record it (:class:`~inspector.core.formats.base.Threat`: the global, how
it is used, where in the file, the opcodes around it) and read whatever tensors did not depend on it. Each
recorded threat becomes one suspicious finding of the ``code-execution`` family, so the verdict is suspicious
(exit 1) with the evidence a reviewer needs, instead of "could not inspect" (exit 2).
"""

from __future__ import annotations

from typing import Any, Iterable

from inspector.core.formats.base import TRAINING_STATE, training_file_of
from inspector.core.judge.findings import Finding

NAME = "code-execution"

#: Most findings listed (one per threat); the rest are counted in the last one's evidence.
MAX_FINDINGS = 20

_HOW = {
    "call": "calls",
    "new-object": "creates an object of",
    "instantiate": "instantiates",
    "build": "sets attributes of",
    "reference": "imports",
}


def _field(threat: Any, name: str, default: Any = "") -> Any:
    if isinstance(threat, dict):
        return threat.get(name, default)
    return getattr(threat, name, default)


def _global(threat: Any) -> str:
    if isinstance(threat, dict):
        return str(threat.get("global", "?"))
    name = getattr(threat, "global_name", None)
    return str(name) if name else f"{_field(threat, 'module', '?')}.{_field(threat, 'name', '?')}"


def _torchscript(t: Any) -> Finding:
    files = [str(x)[:200] for x in list(_field(t, "listing", ()) or ())[:10]]
    return Finding(
        detector=NAME,
        attack="other",
        tensor=None,
        severity="warning",
        score=0.3,
        message=(
            f"TorchScript code ({len(files)}{'+' if len(files) >= 10 else ''} files under code/), not analysed: it "
            "runs when the model is called (at inference), not when it is opened; its weights were read and judged"
        ),
        evidence={"kind": "torchscript", "code_files": files},
    )


def _class_code(t: Any) -> Finding:
    classes = [str(x)[:200] for x in list(_field(t, "listing", ()) or ())[:16]]
    shown = ", ".join(classes[:6]) + (f" and {len(classes) - 6} more" if len(classes) > 6 else "")
    where = str(_field(t, "where", ""))
    if where.startswith(TRAINING_STATE):  # training arguments or a scheduler pickled whole, beside the model
        source = training_file_of(where)
        message = (
            f"{source}: pickled objects, not plain values: torch.load (pickle.load) would import the packages of "
            f"{shown} and rebuild them with their code (code installed beside the loader, not code in the file); "
            "Model Inspector rebuilt them as plain attributes. Load it only where those packages are trusted, or "
            "leave it out of the release"
        )
    else:
        message = (
            f"a pickled whole model, not a state_dict: torch.load (pickle.load) would import the packages of {shown} "
            "and rebuild its objects with their code (code installed beside the loader, not code in the file); Model "
            "Inspector rebuilt them as plain attributes and read and judged their weights. Load it only where those "
            "packages are trusted, or release its state_dict (scrub exports one)"
        )
    return Finding(
        detector=NAME,
        attack="code-execution",
        tensor=None,
        severity="warning",
        score=0.3,
        message=message,
        evidence={"kind": "class-code", "classes": classes, "where": where[:300]},
    )


def _package(t: Any) -> Finding:
    """A torch.package archive's Python source: imported, and so run, as the archive loads when one of its pickles
    names a class of it (``call == "package"``: suspicious, as any code on load); else it runs only if the model's
    own code imports it (``"package-unused"``: a warning, as TorchScript's code)."""
    files = [str(x)[:200] for x in list(_field(t, "listing", ()) or ())[:10]]
    shown = ", ".join(files[:4]) + (" …" if len(files) > 4 else "")
    on_load = str(_field(t, "call", "")) == "package"
    module = str(_field(t, "module", ""))[:200]
    if on_load:
        message = (
            f"a torch.package archive: loading it (torch.package.PackageImporter) imports the Python source it ships "
            f"({shown}) to rebuild its objects (its pickles name {module}) and so runs that code; Model Inspector "
            "read its weights without running it. Review that source before loading it outside a sandbox, or "
            "release the weights as safetensors"
        )
    else:
        message = (
            f"a torch.package archive shipping Python source ({shown}) that none of its pickles names: it runs only "
            "if the model's own code imports it; not analysed, its weights were read and judged"
        )
    return Finding(
        detector=NAME,
        attack="code-execution" if on_load else "other",
        tensor=None,
        severity="suspicious" if on_load else "warning",
        score=1.0 if on_load else 0.3,
        message=message,
        evidence={"kind": "torch-package", "module": module, "source_files": files},
    )


def detect(threats: Iterable[Any]) -> list[Finding]:
    """One suspicious ``code-execution`` finding per recorded threat (Threat objects or their JSON dicts); a
    TorchScript archive's code (``call == "torchscript"``) is one warning of its own, never a code-execution
    finding: it runs at inference, and benign TorchScript models stay clean. So are a pickled whole model's
    classes (``call == "class-code"``): their code is the installed packages', not the file's. A torch.package's
    source is one finding of its own (see :func:`_package`)."""
    threats = list(threats)
    notes = ("torchscript", "class-code", "package", "package-unused")
    items = [t for t in threats if str(_field(t, "call", "")) not in notes]
    out = [_torchscript(t) for t in threats if str(_field(t, "call", "")) == "torchscript"][:1]
    # one for the model, one for each training-state file beside it that pickles objects
    classes: dict[str, Any] = {}
    for t in threats:
        where = str(_field(t, "where", ""))
        if _field(t, "call", "") == "class-code":
            classes.setdefault(training_file_of(where) if where.startswith(TRAINING_STATE) else "", t)
    out += [_class_code(t) for t in list(classes.values())[:MAX_FINDINGS]]
    out += [_package(t) for t in threats if str(_field(t, "call", "")).startswith("package")][:1]
    for i, t in enumerate(items[:MAX_FINDINGS]):
        glob = _global(t)[:200]
        call = str(_field(t, "call", "call"))
        offset = int(_field(t, "offset", 0) or 0)
        where = str(_field(t, "where", "the pickle"))[:100]
        listing = [str(line)[:200] for line in list(_field(t, "listing", ()) or ())[:16]]
        how = _HOW.get(call, call)
        message = (
            f"loading this file with pickle/torch.load {how} {glob} (byte {offset:,} of {where}); Model Inspector "
            "did not run it: do not load this file outside a sandbox"
        )
        evidence: dict[str, Any] = {"global": glob, "call": call, "offset": offset, "where": where, "listing": listing}
        if i == MAX_FINDINGS - 1 and len(items) > MAX_FINDINGS:
            evidence["more_threats"] = len(items) - MAX_FINDINGS
        out.append(
            Finding(
                detector=NAME,
                attack="code-execution",
                tensor=None,
                severity="suspicious",
                score=1.0,
                message=message,
                evidence=evidence,
            )
        )
    return out
