"""``model-inspector demo [--screenshot PNG]``: the desktop app on the bundled demo zoo.

The zoo (``resources/demo``, built by ``model-inspector lab build``) holds a benign baseline and attacked
models; ``manifest.json`` names them. The app opens with every model in its model switcher, the benign model
as the baseline, and the first attacked model open.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Optional

from inspector.core.errors import InspectorError
from inspector.core.resources import resource_path

COMMAND = "demo"
ORDER = 81

_LABELS = {
    "benign": "benign",
    "none": "benign",
    "lsb": "LSB encoding",
    "correlated-value": "correlated value",
    "sign": "sign encoding",
    "capacity-abuse": "capacity abuse",
}


def add_parser(sub) -> None:
    p = sub.add_parser(
        COMMAND,
        help="the desktop app on the bundled demo models",
        description="Open the desktop app on the bundled demo zoo: a benign baseline and attacked models. "
        "Find which ones are malicious and why, scrub one, check its accuracy, export it.",
    )
    p.add_argument("--screenshot", metavar="PNG", help="render the window offscreen once scanned, save, exit")
    p.add_argument("--zoo", metavar="DIR", help="a zoo folder built by `model-inspector lab build` (default: bundled)")
    p.add_argument("--model", metavar="FILE", help="which zoo model to open first (file name)")
    p.set_defaults(func=run)


def demo_folder(zoo: Optional[str] = None) -> Path:
    folder = Path(zoo) if zoo else resource_path("demo")
    if not (folder / "manifest.json").is_file():
        raise InspectorError(
            "the demo models are not there (no manifest.json)",
            path=folder,
            hint="Build a zoo with `model-inspector lab build DIR` and pass --zoo DIR",
        )
    return folder


def zoo_entries(folder: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]], dict[str, Any]]:
    """``(models, baselines, manifest)``: switcher entries (label, path) and the benign baseline candidates."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        entries = list(manifest["models"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InspectorError(f"cannot read manifest.json: {exc}", path=folder, hint="Rebuild the demo zoo") from exc
    models: list[tuple[str, str]] = []
    baselines: list[tuple[str, str]] = []
    for e in entries:
        path = folder / str(e.get("file", ""))
        if not path.is_file():
            continue
        attack = str(e.get("attack", ""))
        kind = _LABELS.get(attack, attack or "model")
        label = f"{path.stem} · {kind}"
        models.append((label, str(path)))
        if attack in ("benign", "none", "") or e.get("label") == "benign":
            baselines.append((f"{path.stem} (benign)", str(path)))
    if not models:
        raise InspectorError("the demo zoo lists no model file that exists", path=folder, hint="Rebuild the demo zoo")
    return models, baselines, manifest


def _first_model(models: list[tuple[str, str]], baselines: list[tuple[str, str]], want: Optional[str]) -> str:
    if want:
        for _label, path in models:
            if Path(path).name == want or Path(path).stem == want:
                return path
        raise InspectorError(
            f"--model {want}: not in the demo zoo", hint="Pick one of: " + ", ".join(Path(p).name for _l, p in models)
        )
    benign = {p for _l, p in baselines}
    for _label, path in models:  # the most telling model first: a sign-encoding attack if there is one
        if "sgn" in Path(path).stem and path not in benign:
            return path
    return next((p for _l, p in models if p not in benign), models[0][1])


def _show_top_finding(window, result) -> None:
    top = next((f for f in result.findings if f.tensor and f.severity == "suspicious"), None)
    if top is not None:
        window.findings.select_finding(top)
        window.show_finding(top)


def run(args: argparse.Namespace) -> int:
    folder = demo_folder(args.zoo)
    models, baselines, _manifest = zoo_entries(folder)
    first = _first_model(models, baselines, args.model)
    base = next((p for _l, p in baselines if p != first), None)
    eval_data = folder / "eval.npz"
    train = folder / "train_sample.npz"

    def prepare(window) -> None:
        window.set_analysis_data(
            eval_data=str(eval_data) if eval_data.is_file() else None,
            train_sample=str(train) if train.is_file() else None,
        )
        if args.screenshot:  # the picture shows the evidence of the top finding (for a sign attack: the digits)
            window.doc.scan_finished.connect(lambda r: _show_top_finding(window, r))

    from inspector.qt.app import run as run_app

    return run_app(
        [first], models=models, baselines=baselines, baseline=base, screenshot=args.screenshot, prepare=prepare
    )
