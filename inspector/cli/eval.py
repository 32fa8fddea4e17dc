"""``model-inspector eval``: accuracy of a model on labelled data, and agreement with a second model."""

from __future__ import annotations

import argparse
import sys

from inspector.cli._common import check_output, progress_for, write_json

COMMAND = "eval"
ORDER = 30


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        COMMAND,
        help="accuracy of a model on labelled data (and agreement with another model)",
        description="Run MODEL on labelled data and report top-1 and per-class accuracy; with --against, also "
        "the reference model's accuracy, the prediction agreement and the mean KL(reference || model). "
        "Weights are read by the safe reader, never torch.load.",
    )
    p.add_argument("model", metavar="MODEL", help="the model file (.safetensors, sharded index, .pt/.pth/.bin)")
    p.add_argument(
        "--arch",
        metavar="SPEC",
        help="architecture: a built-in name (digits-mlp, digits-cnn), path/to/file.py:function or "
        "package.module:function (your own code, run with your permissions); default: the name in the file",
    )
    p.add_argument("--data", metavar="EVAL", required=True, help=".npz or .safetensors with inputs and labels")
    p.add_argument("--against", metavar="OTHER", help="a reference model (e.g. the original before scrubbing)")
    p.add_argument("--against-arch", metavar="SPEC", help="architecture of OTHER (default: that of MODEL)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"], help="default: auto")
    p.add_argument("--batch-size", type=int, default=256, metavar="N", help="samples per batch (default 256)")
    p.add_argument("--json", metavar="OUT", help="also write the result as JSON to OUT (- for stdout)")
    p.set_defaults(func=run)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.2f}%"


def run(args: argparse.Namespace) -> int:
    from inspector.core.evaluate import evaluate, resolve
    from inspector.core.formats import open_model

    model = open_model(args.model)
    against = open_model(args.against) if args.against else None
    check_output(args.json, [*model.files, *(against.files if against else ()), args.data], option="--json")
    recipe = resolve(args.arch, model)
    ref_recipe = None
    if against is not None:
        ref_recipe = resolve(args.against_arch, against) if args.against_arch else recipe
    out = sys.stdout if args.json != "-" else sys.stderr
    for r in {recipe.name: recipe, **({ref_recipe.name: ref_recipe} if ref_recipe else {})}.values():
        if r.user_code:
            print(f"note: architecture {r.name} is your own code; it runs with your permissions", file=out)

    progress, close = progress_for("eval")
    try:
        res = evaluate(
            model,
            args.data,
            arch=recipe,
            against=against,
            against_arch=ref_recipe,
            device=args.device,
            batch_size=args.batch_size,
            progress=progress,
        )
    finally:
        close()

    rows = [
        ("model", res.model),
        ("architecture", recipe.describe()),
        ("data", f"{args.data} ({res.samples} samples)"),
        ("device", f"{res.device} ({res.device_name})"),
        ("accuracy", f"{_pct(res.accuracy)} ({res.correct}/{res.samples})"),
    ]
    if res.against is not None:
        rows += [
            ("against", res.against),
            ("its accuracy", _pct(res.against_accuracy)),
            ("agreement", _pct(res.agreement)),
            ("mean KL", "—" if res.mean_kl is None else f"{res.mean_kl:.3g} nats (KL(against || model))"),
        ]
    per = "  ".join(f"{c}:{'—' if a is None else f'{100 * a:.0f}%'}" for c, a in enumerate(res.per_class_accuracy))
    rows.append(("per class", per))
    rows.append(("time", f"{res.seconds:.2f} s"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}", file=out)
    if args.json:
        write_json(res.to_json(), args.json)
    return 0
