"""The README written beside a built zoo (the committed demo's ``resources/demo/README.md``), from its manifest,
so the figures it states are always the ones the build measured."""

from __future__ import annotations

from typing import Any

_ATTACK_TEXT = {
    "none": "benign",
    "lsb": "LSB encoding",
    "correlated-value": "correlated value encoding",
    "sign": "sign encoding",
    "capacity-abuse": "capacity abuse",
}


def _pct(x: Any) -> str:
    return "—" if x is None else f"{100 * x:.2f}%"


def _proof(e: dict[str, Any]) -> str:
    p, c = e.get("proof") or {}, e.get("control") or {}
    a = e["attack"]
    if a == "lsb":
        enc = "encrypted-looking" if e["params"]["encrypted"] else "raw"
        return (
            f"{e['params']['payload_bytes']:,} payload bytes ({e['params']['images']} {enc} training images) in the "
            f"low {e['params']['bits']} bits; decoded bit error rate {p['bit_error_rate']:.3g} "
            f"(benign twin {c['bit_error_rate']:.3f})"
        )
    if a == "correlated-value":
        return (
            f"λc = {e['params']['lambda_c']:g}, {p['images']} images; Pearson r(θ, secret) {p['pearson_r']:.3f} "
            f"(twin {c['pearson_r']:.3f}); decoded image MAE {p['image_mae']:.3f} (twin {c['image_mae']:.3f})"
        )
    if a == "sign":
        return (
            f"λs = {e['params']['lambda_s']:g}, {p['images']} images ({p['bits']:,} bits); correct signs "
            f"{_pct(p['correct_sign_fraction'])} (twin {_pct(c['correct_sign_fraction'])}); decoded image MAE "
            f"{p['image_mae']:.3f}"
        )
    if a == "capacity-abuse":
        return (
            f"{p['images']} images in {p['queries']:,} PRNG queries; memorised labels "
            f"{_pct(p['memorised_fraction'])} (twin {_pct(c['memorised_fraction'])}); decoded image MAE "
            f"{p['image_mae']:.3f}"
        )
    return ""


def render(manifest: dict[str, Any], title: str = "Demo zoo") -> str:
    """Markdown describing every file of a built zoo and its proof figures."""
    d = manifest["data"]
    lines = [
        f"# {title}",
        "",
        "Built by `model-inspector lab build --demo resources/demo` (rebuild with the same command; the build is "
        "seeded and single-threaded, so the same torch and numpy versions give the same files). Do not edit by "
        "hand: this README is written from `manifest.json`.",
        "",
        "Every model is a plain `.safetensors` file of the `digits-mlp` architecture (64→128→10, 9,610 "
        "parameters) trained on scikit-learn's 8×8 digits. Opening or scanning them needs neither torch nor "
        "scikit-learn. Their `__metadata__` holds the lab's labels (`inspector.lab.*`: label, variant, recipe, "
        "attack and the attacker's own parameters such as payload length or PRNG key). A real attacker knows "
        "those; the detectors never read them.",
        "",
        "| file | what it is | test accuracy | benign twin | proof that the secret comes back out |",
        "|---|---|---|---|---|",
    ]
    for e in manifest["models"]:
        what = _ATTACK_TEXT.get(e["attack"], e["attack"])
        if e["attack"] == "none":
            what = f"benign ({e['variant']})"
        twin = _pct(e["twin_accuracy"])
        if e.get("twin_agreement") is not None:
            twin += f" (agreement {_pct(e['twin_agreement'])})"
        lines.append(f"| `{e['file']}` | {what} | {_pct(e['test_accuracy'])} | {twin} | {_proof(e)} |")
    lines += [
        f"| `{d['eval']['file']}` | digits test split: {d['eval']['samples']} images (`inputs` float32 64 "
        "pixels in [0, 1], `labels` int64) | | | |",
        f"| `{d['train_sample']['file']}` | the first {d['train_sample']['samples']} training images in "
        "training order (the attacks' secrets are taken from the start of this list) | | | |",
        "| `manifest.json` | every figure above, the training settings, file hashes | | | |",
        "| `hostile-call-on-load.pt` | a PyTorch checkpoint whose pickle calls `nonexistent_module_xyz.system` on "
        "load: the verdict is suspicious (code-execution finding, exit 1), its one tensor is still read; harmless, "
        "as the module does not exist, so even `pickle.load` runs nothing | | | |",
        "",
        "Figures: the *benign twin* is the benign model with the same seed and training settings "
        "(`mlp-benign-s0`); agreement is the share of test images on which both predict the same class; the "
        "twin's figure in parentheses is what the same decoder reads from it, i.e. "
        "chance. Image MAE is the mean absolute pixel error on the [0, 1] input scale (×16 for the digits' "
        "grey levels). Image bytes are `round(x·255)`, 64 per image, bits most significant first.",
        "",
        "Try: `model-inspector scan resources/demo/mlp-sgn-l100.safetensors --baseline "
        "resources/demo/mlp-benign-s1.safetensors` and `model-inspector eval resources/demo/mlp-cap-n10.safetensors "
        "--data resources/demo/eval.npz --against resources/demo/mlp-benign-s0.safetensors`.",
        "",
    ]
    return "\n".join(lines)
