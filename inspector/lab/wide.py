"""The wider lab: attack variants beyond the paper's image-on-digits settings, each proven from the written file.

- capacity abuse with other generators and label codes (:mod:`inspector.lab.capcodes`): the authors' sparse
  two-pixel inputs with two labels per 4-bit pixel, binary labels, continuous PRNG noise with a permuted
  alphabet, an arbitrary 3-class alphabet, text bytes written with every class;
- sign and correlated value encoding of secrets that are not images: text bytes (synthetic personal records)
  and, on the tabular model, the training records themselves (float16 bytes for sign, values for correlation),
  on dense, convolutional and embedding first layers;
- LSB in float16 and bfloat16 models, at an arbitrary offset inside a tensor, and partial payloads;
- weak settings: λs < 10, λc < 1, sign encoding of two images only.

Variant names are ``<stem>`` as listed in :data:`WIDE`; each applies to the architectures it names.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import numpy as np

from inspector.lab import attacks, capcodes, codec, proofs, secrets
from inspector.lab.variants import bf16_storage

#: Key of the capacity-abuse queries of the wide variants (the attacker's choice) and the text secret's seed.
WIDE_CAP_KEY = 0xC0DE5
DIGITS = ("digits-mlp", "digits-cnn")

#: Wide variant → the architectures it is built for.
WIDE: dict[str, tuple[str, ...]] = {
    "cap-sparse": DIGITS,
    "cap-bin": DIGITS,
    "cap-noise-perm": DIGITS,
    "cap-arb": DIGITS,
    "cap-text": DIGITS,
    "sgn-text-l10": (*DIGITS, "digits-emb"),
    "sgn-text-l100": (*DIGITS, "digits-emb"),
    "cor-text-l1": (*DIGITS, "digits-emb"),
    "sgn-l10": ("digits-emb",),
    "cor-l5": ("digits-emb",),
    "sgn-tab-l10": ("cancer-mlp",),
    "sgn-tab-l100": ("cancer-mlp",),
    "cor-tab-l1": ("cancer-mlp",),
    "sgn-text-l3": ("cancer-mlp",),
    "sgn-l1": DIGITS,
    "sgn-l3": DIGITS,
    "cor-l0.1": DIGITS,
    "cor-l0.3": DIGITS,
    "sgn-part-l10": DIGITS,
    "lsb-fp16-b8": DIGITS,
    "lsb-bf16-b4": DIGITS,
    "lsb-off-b16": DIGITS,
    "lsb-part-b8": DIGITS,
}
#: Images of the capacity-abuse secret (text: bytes = 32 per image-equivalent).
CAP_IMAGES = 5


def _lam(x: float) -> str:
    return f"{x:g}"


def build_wide(
    b: Any, arch: str, names: tuple[str, ...], cfg0: Any, twin: dict, twin_arrays: dict, theta: list
) -> None:
    """Build the wide variants ``names`` that apply to ``arch`` with builder ``b`` (see :mod:`inspector.lab.zoo`)."""
    from inspector.lab.train import accuracy, state_arrays, train

    tr = b.train_for(arch)
    short = b.short(arch)
    n_theta = int(sum(twin_arrays[n].size for n in theta))
    theta_meta = ",".join(theta)
    text_note = "synthetic personal records (inspector.lab.secrets.text_records), ASCII"
    img_note = "training images of the lab's digits split from index 0, in order"
    for name in names:
        if arch not in WIDE.get(name, ()):
            continue
        file = f"{short}-{name}.safetensors"
        meta: dict[str, Any] = {"theta": theta_meta}
        if name.startswith("cap-"):
            code = capcodes.CODES[name]
            if code.value_bits == 8:
                secret_b = secrets.text_records(CAP_IMAGES * 32)
                values = capcodes.secret_values(code, secret_b)
                note = text_note
            else:
                values = capcodes.secret_values(code, tr.inputs[:CAP_IMAGES])
                note = img_note
            from inspector.core.formats import Dataset

            syn = Dataset(capcodes.queries(code, WIDE_CAP_KEY, values.size), capcodes.encode_labels(code, values))
            module = train(cfg0, tr, extra=syn, cancel=b.cancel)
            b.save(
                state_arrays(module),
                file,
                b.meta(
                    arch,
                    "attack",
                    "capacity-abuse",
                    name,
                    cfg0,
                    **{
                        "cap.code": code.describe(),
                        "cap.key": WIDE_CAP_KEY,
                        "cap.queries": len(syn),
                        "cap.values": values.size,
                        "secret": note,
                    },
                ),
                twin=twin,
                params={
                    "generator": code.generator,
                    "alphabet": list(code.alphabet) if code.labels == "digits" else "split 0-8",
                    "value_bits": code.value_bits,
                    "values": int(values.size),
                    "queries": len(syn),
                    "train_accuracy_synthetic": round(accuracy(module, syn), 6),
                },
                proof=partial(proofs.capacity_code_proof, code=code, key=WIDE_CAP_KEY, values=values),
            )
        elif name.startswith(("sgn-", "cor-")):
            kind, rest = name.split("-", 1)
            lam = float(rest.rsplit("-l", 1)[-1].lstrip("l"))
            source = "tab" if "-tab-" in name else "text" if "-text-" in name else "img"
            part = "-part-" in name
            if kind == "sgn":
                if source == "img":
                    n_img = 2 if part else None
                    s, n = attacks.sign_secret(tr.inputs[: n_img or len(tr)], n_theta)
                    secret = codec.image_bytes(tr.inputs[:n])
                    note = img_note
                else:
                    cap_bytes = n_theta // 8
                    if source == "text":
                        secret, note = secrets.text_records(cap_bytes), text_note
                    else:
                        rows = tr.inputs[: max(1, cap_bytes // (2 * tr.inputs.shape[1]))]
                        secret = secrets.record_bytes(rows)
                        note = "training records of the breast-cancer split from index 0, float16 little-endian"
                    s = attacks.bits_secret(secret)
                penalty = attacks.sign_penalty(s, lam)
                params = {"lambda_s": lam, "secret": source, "bytes": len(secret), "bits": int(s.size)}
                meta.update({"sgn.lambda": _lam(lam), "sgn.bytes": len(secret), "secret": note})
                proof: Callable[[Any], dict[str, Any]] = partial(
                    proofs.sign_bytes_proof, secret=secret, theta_names=theta
                )
            else:
                if source == "img":
                    s, n = attacks.correlation_secret(tr.inputs, n_theta)
                    note = img_note
                elif source == "text":
                    s = np.frombuffer(secrets.text_records(n_theta), dtype=np.uint8).astype(np.float32)
                    note = text_note
                else:
                    rows = tr.inputs[: n_theta // tr.inputs.shape[1]]
                    s = rows.reshape(-1).astype(np.float32)
                    note = "training records of the breast-cancer split from index 0, standardised values"
                penalty = attacks.correlation_penalty(s, lam)
                params = {"lambda_c": lam, "secret": source, "values": int(s.size)}
                meta.update({"cor.lambda": _lam(lam), "cor.values": int(s.size), "secret": note})
                proof = partial(proofs.correlated_values_proof, values=s, theta_names=theta)
            module = train(cfg0, tr, penalty=penalty, cancel=b.cancel)
            attack = "sign" if kind == "sgn" else "correlated-value"
            b.save(
                state_arrays(module),
                file,
                b.meta(arch, "attack", attack, name, cfg0, **meta),
                twin=twin,
                params=params,
                proof=proof,
            )
        elif name.startswith("lsb-"):
            _, kind, bits_s = name.split("-")
            bits = int(bits_s[1:])
            base = twin_arrays
            if kind == "fp16":
                base = {k: v.astype(np.float16) for k, v in twin_arrays.items()}
            elif kind == "bf16":
                base = bf16_storage(twin_arrays)
            order = b.float_order(twin)
            offset = 0
            if kind == "off":
                # an arbitrary offset inside the largest tensor, as a hand-rolled embedder might choose
                big = max(order, key=lambda k: twin_arrays[k].size)
                offset = sum(twin_arrays[k].size for k in order[: order.index(big)]) + 1237
                n_img = 40
            elif kind == "part":
                n_img = 10
            else:
                n_img = min(attacks.lsb_capacity(base, order, bits) // codec.PIXELS, len(tr))
            secret = codec.image_bytes(tr.inputs[:n_img])
            b.save(
                attacks.embed_lsb(base, order, secret, bits, offset=offset),
                file,
                b.meta(
                    arch,
                    "attack",
                    "lsb",
                    name,
                    cfg0,
                    **{
                        "lsb.bits": bits,
                        "lsb.payload_bytes": len(secret),
                        "lsb.offset": offset,
                        "lsb.images": n_img,
                        "lsb.encrypted": "false",
                        "secret": img_note,
                    },
                ),
                twin=twin,
                params={
                    "bits": bits,
                    "encrypted": False,
                    "payload_bytes": len(secret),
                    "images": n_img,
                    "offset": offset,
                    "storage": {"fp16": "F16", "bf16": "BF16"}.get(kind, "F32"),
                },
                proof=partial(proofs.lsb_bytes_proof, bits=bits, secret=secret, offset=offset),
            )
        else:
            raise ValueError(f"unknown wide variant {name!r}")
