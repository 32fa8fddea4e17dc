"""``model-inspector scrub``: sanitize a model under a policy shown first, export verified safetensors, re-judge
it with the source's inputs, prove fidelity.

Exit status: 0 written and sanitized (and, with ``--check --max-drop``, within tolerance), or ``--dry-run``;
3 written, nothing detected, but some family could not be assessed with the inputs given (0 with
``--allow-incomplete``);
1 the scrubbed model is still suspicious (nothing written unless ``--allow-suspicious``), ``--auto`` found no
``k`` within tolerance (nothing written) or ``--check`` saw a larger drop than ``--max-drop`` (file kept);
2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Optional

from inspector.cli._common import check_output, human_bytes, progress_for, write_json
from inspector.core.errors import InspectorError
from inspector.core.evaluate import DEFAULT_MAX_DROP, DEFAULT_MIN_AGREEMENT, within_tolerance

COMMAND = "scrub"
ORDER = 20


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        COMMAND,
        help="sanitize: scrub low mantissa bits under an export policy, re-judge, export verified safetensors",
        description="Replace the K lowest mantissa bits of every float tensor with seeded random bits (the "
        "countermeasure of Song et al.) under an export policy printed first: non-float tensors and training "
        "state are dropped unless kept with --keep-tensor, metadata is reduced to known keys, tied tensors stay "
        "identical. The output (temp file, fsync, rename; never over the input) is read back and verified, then "
        "scanned again with the same inputs (--baseline, --profile, --arch/--data, --train-sample); only a model "
        "in which every family was assessed and none detected is called sanitized, and a still-suspicious one is "
        "written only with "
        "--allow-suspicious. --dry-run prints the policy and writes nothing. --check measures accuracy, "
        "prediction agreement and KL against the original; --auto finds the largest K within --max-drop. "
        "Exit status: 0 sanitized, 1 still suspicious or outside tolerance, 3 incomplete (nothing detected, some "
        "family not assessed; 0 with --allow-incomplete), 2 bad input.",
    )
    p.add_argument("model", metavar="MODEL", help=".safetensors, sharded index/folder, or PyTorch .pt/.pth/.bin")
    p.add_argument(
        "--bits",
        metavar="K",
        default=None,
        help="bits to randomise: K for fp32 with the other types scaled to the same relative precision "
        "(16 → F64 45, F16 3, BF16 1, fp8 0), or per type, e.g. F32=16,BF16=2 or 16,bf16=2 (default 16)",
    )
    p.add_argument("--seed", type=int, default=None, metavar="S", help="random seed (default: fresh; recorded)")
    p.add_argument(
        "--tensors", action="append", default=[], metavar="GLOB", help="scrub only matching tensors (repeatable)"
    )
    p.add_argument(
        "--mode",
        choices=["random", "round"],
        default="random",
        help="random (default) or round: round to nearest even at the kept precision (zeroes the low bits)",
    )
    p.add_argument(
        "--keep-tensor",
        action="append",
        default=[],
        metavar="GLOB",
        help="keep a non-float or training-state tensor the policy would drop (you confirm it carries no data; "
        "repeatable)",
    )
    p.add_argument("--output", "-o", metavar="OUT", help="the .safetensors file to write (not with --dry-run)")
    p.add_argument("--dry-run", action="store_true", help="print the export policy and write nothing")
    p.add_argument(
        "--allow-suspicious",
        action="store_true",
        help="write the output even when the re-judge still detects a family (exit 1; not called sanitized)",
    )
    p.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="exit 0 instead of 3 when nothing is detected but some family was not assessed",
    )
    p.add_argument("--baseline", action="append", default=[], metavar="REF", help="re-judge: trusted reference model")
    p.add_argument("--profile", metavar="PROFILE.json", help="re-judge: baseline profile (default: built-in)")
    p.add_argument("--train-sample", metavar="TRAIN", help="re-judge: sample of the training data (data-aware tests)")
    p.add_argument("--check", action="store_true", help="evaluate the scrubbed model against the original")
    p.add_argument("--auto", action="store_true", help="choose the largest K within --max-drop (bisection)")
    p.add_argument(
        "--max-drop",
        type=float,
        default=None,
        metavar="PTS",
        help=f"accuracy points the scrub may cost (--auto default {DEFAULT_MAX_DROP:g}; with --check: exit 1 if exceeded)",
    )
    p.add_argument(
        "--min-agreement",
        type=float,
        default=DEFAULT_MIN_AGREEMENT,
        metavar="F",
        help=f"--auto: least fraction of predictions that must not change (default {DEFAULT_MIN_AGREEMENT:g})",
    )
    p.add_argument(
        "--arch", metavar="SPEC", help="architecture for --check/--auto and the re-judge (default: named in the file)"
    )
    p.add_argument(
        "--data", metavar="EVAL", help="labelled data (.npz/.safetensors) for --check/--auto and the re-judge's probe"
    )
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"], help="for --check/--auto")
    p.add_argument("--json", metavar="OUT", help="also write the result as JSON (- for stdout)")
    p.set_defaults(func=run)


def _pct(x: Optional[float]) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _bits_text(bits: dict[str, int]) -> str:
    return ", ".join(f"{d} {k}" for d, k in bits.items()) or "(no float tensors)"


def _rejudged_text(r: Any) -> str:
    if r is None:
        return "not re-judged"
    given = [k for k, v in r.inputs.items() if v]
    with_ = f" with {', '.join(given)}" if given else " with no baseline, data or training sample"
    return f"{r.words}: {r.verdict} {r.score:.2f}{with_}"


def run(args: argparse.Namespace) -> int:
    from inspector.core.formats import open_model
    from inspector.core.measure import ScanOptions
    from inspector.core.scrub import DEFAULT_BITS, StillSuspicious, find_safe_bits, parse_bits, plan_policy, scrub_model

    if not args.output and not args.dry_run:
        raise InspectorError("give --output OUT.safetensors (or --dry-run to see the export policy only)")
    if (args.check or args.auto) and not args.data:
        raise InspectorError("--check and --auto need --data EVAL (labelled inputs)", hint="See `eval --help`")
    if args.auto and args.bits is not None:
        raise InspectorError("--auto chooses the bits itself; drop --bits")
    if args.max_drop is not None and not 0 <= args.max_drop < float("inf"):  # nan would disable the check
        raise InspectorError(f"--max-drop {args.max_drop}: give a non-negative number of accuracy points")
    if not 0.0 <= args.min_agreement <= 1.0:
        raise InspectorError(f"--min-agreement {args.min_agreement}: give a fraction between 0 and 1")
    bits: Any = parse_bits(args.bits if args.bits is not None else DEFAULT_BITS)  # bad --bits fails before work
    seed = args.seed
    if seed is None:
        import secrets

        seed = secrets.randbits(63)
    out = sys.stdout if args.json != "-" else sys.stderr
    model = open_model(args.model)
    # the policy first: a bad --tensors/--keep-tensor glob fails before any work, and the user sees what happens
    policy = plan_policy(model, bits if not args.auto else DEFAULT_BITS, args.tensors, args.keep_tensor)
    for line in policy.lines():
        print(line, file=out)
    if args.dry_run:
        if args.json:
            write_json({"schema": "model-inspector/scrub-policy/1", "policy": policy.to_json()}, args.json)
        print("dry run: nothing written", file=out)
        return 0
    named = [*args.baseline, args.profile, args.data, args.train_sample]
    inputs = [*model.files, *(x for x in named if x)]
    output = Path(args.output)
    check_output(args.output, inputs)
    check_output(args.json, [*inputs, args.output], option="--json")
    judge = ScanOptions(
        baselines=tuple(args.baseline),
        profile=args.profile,
        arch=args.arch,
        data=args.data,
        train_sample=args.train_sample,
    )
    doc: dict[str, Any] = {}

    recipe = dataset = None
    if args.check or args.auto:
        from inspector.core.evaluate import resolve
        from inspector.core.formats import load_dataset

        recipe = resolve(args.arch, model)
        dataset = load_dataset(args.data)
        if recipe.user_code:
            print(f"note: architecture {recipe.name} is your own code; it runs with your permissions", file=out)

    if args.auto:
        max_drop = DEFAULT_MAX_DROP if args.max_drop is None else args.max_drop
        progress, close = progress_for("auto")
        try:
            auto = find_safe_bits(
                model,
                dataset,
                arch=recipe,
                max_drop=max_drop,
                min_agreement=args.min_agreement,
                seed=seed,
                tensors=args.tensors,
                mode=args.mode,
                device=args.device,
                workdir=output.parent if output.parent.is_dir() else None,
                progress=progress,
            )
        finally:
            close()
        doc["auto"] = auto.to_json()
        print(
            f"--auto: largest {auto.dtype} k with accuracy drop ≤ {max_drop:g} pts and agreement "
            f"≥ {_pct(args.min_agreement)}",
            file=out,
        )
        print(f"  {'k':>3}  {'accuracy':>9}  {'drop':>7}  {'agreement':>9}  {'mean KL':>9}", file=out)
        for p in auto.points:
            kl = "-" if p.mean_kl is None else f"{p.mean_kl:.2e}"
            mark = "ok" if p.ok else "too much"
            print(
                f"  {p.bits:>3}  {_pct(p.accuracy):>9}  {p.drop_points:>+6.2f}  {_pct(p.agreement):>9}  {kl:>9}  {mark}",
                file=out,
            )
        if auto.bits == 0:
            print(
                f"model-inspector: no k ≥ 1 of {auto.dtype} keeps accuracy within {max_drop:g} points; nothing "
                "written. Raise --max-drop or lower --min-agreement, or scrub with an explicit --bits",
                file=sys.stderr,
            )
            if args.json:
                write_json(doc, args.json)
            return 1
        present = {r.dtype.name for r in model.tensors if r.dtype.is_float}
        chosen = {d: k for d, k in auto.per_dtype.items() if d in present}
        print(f"chosen: {auto.dtype} k = {auto.bits} ({_bits_text(chosen)})", file=out)
        bits = dict(auto.per_dtype)

    progress, close = progress_for("scrub")
    try:
        res = scrub_model(
            model,
            output,
            bits=bits,
            seed=seed,
            tensors=args.tensors,
            keep_tensors=args.keep_tensor,
            mode=args.mode,
            judge=judge,
            allow_suspicious=args.allow_suspicious,
            progress=progress,
        )
    except StillSuspicious as e:
        r = e.rejudgement
        print(
            f"model-inspector: {r.words} (re-judged {r.verdict} {r.score:.2f}); nothing written. Low-bit scrubbing "
            "cannot remove these payloads; retrain, or write it anyway with --allow-suspicious",
            file=sys.stderr,
        )
        doc["rejudged"], doc["policy"] = r.to_json(), policy.to_json()
        doc["status"] = "scrubbed, still suspicious; nothing written"
        if args.json:
            write_json(doc, args.json)
        return 1
    finally:
        close()
    doc.update(res.to_json())
    v = res.verification
    rel = "-" if res.mean_rel_change is None else f"{100 * res.mean_rel_change:.3g}%"
    mx = "-" if res.max_abs_change is None else f"{res.max_abs_change:.3g}"
    rows = [
        ("source", f"{res.source}  sha256 {res.source_sha256}"),
        ("output", f"{res.output}  ({human_bytes(res.bytes_written)})"),
        ("sha256", res.sha256 or "-"),
        ("bits", f"{_bits_text(dict(res.bits))}  ({res.mode}, seed {res.seed})"),
        (
            "tensors",
            f"{res.tensors_scrubbed} scrubbed ({res.elements_scrubbed:,} values), "
            f"{res.tensors_copied} copied bit for bit, {len(policy.dropped)} dropped by the policy",
        ),
        ("change", f"max |Δw| {mx}, mean relative {rel}"),
        (
            "verified",
            "no read-back"
            if v is None
            else f"OK: {v.tensors_checked} tensors read back; copies identical, scrubbed ones changed only "
            + ("in the low bits" if res.mode == "random" else "by rounding"),
        ),
        ("re-judged", _rejudged_text(res.rejudged)),
        ("time", f"{res.seconds:.2f} s"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, val in rows:
        print(f"{k:<{width}}  {val}", file=out)
    if res.tensors_scrubbed == 0:
        print("warning: no tensor was scrubbed (no float tensor selected, or 0 bits for its type)", file=out)
    if any(d.startswith("F8") and k == 0 for d, k in res.bits.items()):
        print("warning: fp8 tensors were copied unscrubbed; ask for them with --bits F8_E4M3=1 (or E5M2)", file=out)

    code = 0
    if res.rejudged is not None and res.rejudged.suspicious:
        code = 1
        print(f"model-inspector: {res.rejudged.words}; written anyway (--allow-suspicious)", file=sys.stderr)
    elif res.rejudged is not None and not res.rejudged.sanitized:
        code = 0 if args.allow_incomplete else 3
        print(
            "model-inspector: written, but not called sanitized: give the inputs named above (or "
            "--allow-incomplete to exit 0)",
            file=sys.stderr,
        )
    if args.check:
        from inspector.core.evaluate import evaluate

        assert dataset is not None  # loaded above for --check
        progress, close = progress_for("check")
        try:
            ev = evaluate(output, dataset, arch=recipe, against=model, device=args.device, progress=progress)
        except InspectorError:  # the data or architecture does not fit the model: exit 2 means nothing written
            output.unlink(missing_ok=True)
            raise
        finally:
            close()
        doc["check"] = ev.to_json()
        drop = 100 * ((ev.against_accuracy or 0.0) - ev.accuracy)
        kl = "-" if ev.mean_kl is None else f"{ev.mean_kl:.3g} nats"
        print(
            f"check     accuracy {_pct(ev.against_accuracy)} → {_pct(ev.accuracy)} ({0.0 - drop + 0.0:+.2f} pts), "
            f"agreement {_pct(ev.agreement)}, mean KL {kl} on {ev.samples} samples",
            file=out,
        )
        if args.max_drop is not None and not args.auto and not within_tolerance(drop, max_drop=args.max_drop):
            print(
                f"model-inspector: accuracy dropped {drop:.2f} points, more than --max-drop {args.max_drop:g}; "
                f"{output} was kept. Scrub fewer bits",
                file=sys.stderr,
            )
            code = 1
    if args.json:
        write_json(doc, args.json)
    return code
