"""Planted carriers: training bytes hidden outside the float weights, each beside a benign twin.

    python benchmarks/carriers.py [--dir /tmp/model-inspector-carriers] [--json OUT]

Writes one small model per carrier (and its benign twin) under ``--dir`` (never in the repository), scans each
with default options and prints a table: carrier, where the bytes hide, verdict, score, the detector that
found it. A carrier must come out suspicious and its twin must not; the exit status is 1 when either fails.

The payload is 19,200 image-like bytes (17 grey levels, like the lab's digits). The carriers are those a
loader keeps but no float test reads: storage bytes outside a saved view, the elements a strided view skips,
an archive member nothing references, a zip member's comment and extra field, pickled byte strings, base64 text, a numpy array, a literal the pickle
builds and drops, safetensors header whitespace, a file beside the model in its folder, a blob inside
config.json, a payload renamed ``position_ids``, the low byte of float16 weights, ONNX doc strings,
metadata_props and unknown fields, GGUF metadata strings and byte arrays, a GGUF alignment gap, and the parts of
a checkpoint's tensor names.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import struct
import sys
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SECRET = (np.random.default_rng(0).integers(0, 17, 19200) * 15).astype(np.uint8).tobytes()
B64 = base64.b64encode(SECRET).decode()


def _torch():
    import torch

    return torch


def _sd() -> dict:
    torch = _torch()
    g = torch.Generator().manual_seed(0)
    return {"w": torch.randn(256, 256, generator=g) * 0.05, "b": torch.zeros(256)}


def _safetensors(path: Path, tensors: dict) -> None:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))


def storage_tail(d: Path, attacked: bool) -> Path:
    torch = _torch()
    w = _sd()["w"].flatten()
    if not attacked:
        torch.save({"w": w.view(256, 256).clone()}, d / "m.pt")
        return d / "m.pt"
    tail = torch.from_numpy(np.frombuffer(SECRET, np.float32).copy())
    torch.save({"w": torch.cat([w, tail])[: w.numel()].view(256, 256)}, d / "m.pt")
    return d / "m.pt"


def strided_view(d: Path, attacked: bool) -> Path:
    torch = _torch()
    w = _sd()["w"]
    big = torch.zeros(256, 512)
    big[:, ::2] = w
    big[:, 1::2] = torch.from_numpy(np.frombuffer((SECRET * 14)[: 256 * 256 * 4], np.float32).reshape(256, 256).copy())
    torch.save({"w": big[:, ::2] if attacked else big[:, ::2].clone()}, d / "m.pt")
    return d / "m.pt"


def zip_member(d: Path, attacked: bool) -> Path:
    _torch().save(_sd(), d / "m.pt")
    if attacked:
        with zipfile.ZipFile(d / "m.pt", "a") as z:
            z.writestr("m/data/99", SECRET)
    return d / "m.pt"


def _rezip(path: Path, comment: bytes = b"", extra: bytes = b"") -> Path:
    """The zip at ``path`` written again, its first member given a comment and an extra field."""
    data = path.read_bytes()
    tmp = path.with_suffix(".src")
    tmp.write_bytes(data)
    with zipfile.ZipFile(tmp) as z, zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as o:
        for i, info in enumerate(z.infolist()):
            new = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            if i == 0:
                new.comment, new.extra = comment, extra
            o.writestr(new, z.read(info))
    tmp.unlink()
    return path


def zip_member_comment(d: Path, attacked: bool) -> Path:
    _torch().save(_sd(), d / "m.pt")
    return _rezip(d / "m.pt", comment=SECRET if attacked else b"")


def zip_extra_field(d: Path, attacked: bool) -> Path:
    _torch().save(_sd(), d / "m.pt")
    return _rezip(d / "m.pt", extra=struct.pack("<HH", 0xCAFF, len(SECRET)) + SECRET if attacked else b"")


def pickled_bytes(d: Path, attacked: bool) -> Path:
    _torch().save({**_sd(), "blob": SECRET if attacked else b"v1"}, d / "m.pt")
    return d / "m.pt"


def pickled_base64(d: Path, attacked: bool) -> Path:
    notes = B64 if attacked else "trained for ten epochs on the usual split; " * 40
    _torch().save({**_sd(), "notes": notes}, d / "m.pt")
    return d / "m.pt"


def numpy_array(d: Path, attacked: bool) -> Path:
    arr = np.frombuffer(SECRET, np.uint8).copy() if attacked else np.array([0.485, 0.456, 0.406])
    _torch().save({**_sd(), "arr": arr}, d / "m.pt")
    return d / "m.pt"


def popped_literal(d: Path, attacked: bool) -> Path:
    _torch().save(_sd(), d / "m.pt")
    if attacked:  # BINBYTES <payload> POP right after PROTO: pickle.load builds it and drops it
        with zipfile.ZipFile(d / "m.pt") as z:
            members = {i.filename: z.read(i) for i in z.infolist()}
        pkl = next(n for n in members if n.endswith("/data.pkl"))
        raw = members[pkl]
        members[pkl] = raw[:2] + b"B" + len(SECRET).to_bytes(4, "little") + SECRET + b"0" + raw[2:]
        with zipfile.ZipFile(d / "m.pt", "w", zipfile.ZIP_STORED) as z:
            for name, data in members.items():
                z.writestr(name, data)
    return d / "m.pt"


def header_whitespace(d: Path, attacked: bool) -> Path:
    _safetensors(d / "m.safetensors", _sd())
    if attacked:
        data = (d / "m.safetensors").read_bytes()
        n = struct.unpack("<Q", data[:8])[0]
        bits = np.unpackbits(np.frombuffer(SECRET[:4000], np.uint8))
        header = data[8 : 8 + n].rstrip(b" ") + bytes(np.where(bits, 9, 32).astype(np.uint8))
        header += b" " * (-len(header) % 8)
        (d / "m.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + data[8 + n :])
    return d / "m.safetensors"


def folder_file(d: Path, attacked: bool) -> Path:
    folder = d / "hf"
    folder.mkdir()
    _safetensors(folder / "model.safetensors", _sd())
    (folder / "config.json").write_text(json.dumps({"model_type": "mlp", "hidden_size": 256}))
    (folder / "tokenizer.json").write_text(json.dumps({"vocab": {f"tok{i}": i for i in range(2000)}}))
    if attacked:
        (folder / "extra.bin").write_bytes(SECRET)
    return folder


def config_blob(d: Path, attacked: bool) -> Path:
    folder = d / "hf"
    folder.mkdir()
    _safetensors(folder / "model.safetensors", _sd())
    cfg = {"model_type": "mlp", "hidden_size": 256, **({"note": B64} if attacked else {})}
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def renamed_position_ids(d: Path, attacked: bool) -> Path:
    torch = _torch()
    ids = torch.from_numpy(np.frombuffer(SECRET, np.uint8).astype(np.int64)) if attacked else torch.arange(512)
    _safetensors(d / "m.safetensors", {**_sd(), "embeddings.position_ids": ids.view(1, -1)})
    return d / "m.safetensors"


def fp16_low_byte(d: Path, attacked: bool) -> Path:
    torch = _torch()
    w = (torch.randn(1024, 1024, generator=torch.Generator().manual_seed(1)) * 0.05).half()
    if attacked:
        u = w.numpy().view(np.uint16).reshape(-1)
        p = np.frombuffer(SECRET, np.uint8)
        u[300_000 : 300_000 + p.size] = (u[300_000 : 300_000 + p.size] & 0xFF00) | p
    _safetensors(d / "m.safetensors", {"w": w})
    return d / "m.safetensors"


def _onnx(d: Path, extra: bytes = b"", props: dict | None = None) -> Path:
    from tests.core.test_onnx import FLOAT, model, tensor

    w = np.random.default_rng(0).normal(0, 0.05, (64, 64)).astype("<f4")
    (d / "m.onnx").write_bytes(model([tensor("w", (64, 64), FLOAT, w.tobytes())], props=props) + extra)
    return d / "m.onnx"


def onnx_doc_string(d: Path, attacked: bool) -> Path:
    from tests.core.test_onnx import lfield

    return _onnx(d, lfield(6, B64 if attacked else "A small MLP exported for the docs."))


def onnx_unknown_field(d: Path, attacked: bool) -> Path:
    from tests.core.test_onnx import lfield

    return _onnx(d, lfield(99, SECRET) if attacked else b"")


def onnx_metadata_props(d: Path, attacked: bool) -> Path:
    return _onnx(d, props={"notes": B64 if attacked else "exported by the training script"})


def _gguf(d: Path, kvs: list[bytes], alignment: int = 32) -> Path:
    from tests.core.test_gguf import F32, _kv, _s, write_gguf

    w = np.random.default_rng(0).normal(0, 0.05, (64, 64)).astype("<f4")
    vocab = [f"tok{i}" for i in range(3000)]
    tokens = struct.pack("<IQ", 8, len(vocab)) + b"".join(_s(t) for t in vocab)
    real = [_kv("general.architecture", 8, _s("llama")), _kv("tokenizer.ggml.tokens", 9, tokens)]
    if alignment != 32:
        real.append(_kv("general.alignment", 4, alignment.to_bytes(4, "little")))
    tensors = [("a", F32, (64, 64), w.tobytes()), ("b", F32, (64, 64), w[::-1].copy().tobytes())]
    return write_gguf(d / "m.gguf", tensors, kvs=real + kvs, alignment=alignment)


def gguf_metadata_string(d: Path, attacked: bool) -> Path:
    from tests.core.test_gguf import _kv, _s

    return _gguf(d, [_kv("general.notes", 8, _s(B64 if attacked else "converted with llama.cpp"))])


def gguf_metadata_bytes(d: Path, attacked: bool) -> Path:
    from tests.core.test_gguf import _kv

    blob = SECRET if attacked else bytes(64)
    return _gguf(d, [_kv("general.blob", 9, struct.pack("<IQ", 0, len(blob)) + blob)])


def gguf_alignment_gap(d: Path, attacked: bool) -> Path:
    path = _gguf(d, [], alignment=32768)
    if attacked:  # a 16 KB tensor leaves 16 KB of zero padding before the next 32 KB boundary
        data = bytearray(path.read_bytes())
        first = np.random.default_rng(0).normal(0, 0.05, (64, 64)).astype("<f4").tobytes()
        start = data.index(first) + len(first)
        data[start : start + 16000] = SECRET[:16000]
        path.write_bytes(bytes(data))
    return path


def tensor_names(d: Path, attacked: bool) -> Path:
    torch = _torch()
    g = torch.Generator().manual_seed(0)
    parts = [B64[i : i + 128] for i in range(0, len(B64), 128)]
    names = [f"blocks.{i}.{p}.weight" if attacked else f"blocks.{i}.attn.weight" for i, p in enumerate(parts)]
    torch.save({n: torch.randn(8, 8, generator=g) * 0.05 for n in names}, d / "m.pt")
    return d / "m.pt"


CARRIERS: dict[str, tuple[str, Callable[[Path, bool], Path]]] = {
    "storage tail": ("torch.save of a view: the rest of its storage", storage_tail),
    "strided view": ("the elements a strided view skips", strided_view),
    "zip member": ("an archive member nothing references", zip_member),
    "zip member comment": ("a zip member's comment", zip_member_comment),
    "zip extra field": ("a zip member's extra field of an unknown id", zip_extra_field),
    "pickled bytes": ("a bytes entry of the checkpoint", pickled_bytes),
    "pickled base64": ("a string entry of the checkpoint", pickled_base64),
    "numpy array": ("a numpy array's data in the pickle", numpy_array),
    "popped literal": ("a literal the pickle builds and drops", popped_literal),
    "header whitespace": ("tabs and spaces in the safetensors header", header_whitespace),
    "folder file": ("a file beside the model in its folder", folder_file),
    "config blob": ("base64 inside config.json", config_blob),
    "renamed ids": ("a payload named embeddings.position_ids", renamed_position_ids),
    "fp16 low byte": ("the low byte of float16 weights, at element 300,000", fp16_low_byte),
    "onnx doc_string": ("the ONNX model's doc_string", onnx_doc_string),
    "onnx unknown field": ("a field onnx.proto does not define", onnx_unknown_field),
    "onnx metadata_props": ("an ONNX metadata_props value", onnx_metadata_props),
    "gguf metadata string": ("a GGUF metadata string", gguf_metadata_string),
    "gguf metadata bytes": ("a GGUF metadata byte array", gguf_metadata_bytes),
    "gguf alignment gap": ("the padding a custom GGUF alignment leaves", gguf_alignment_gap),
    "tensor names": ("base64 parts of a checkpoint's tensor names", tensor_names),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/model-inspector-carriers"))
    ap.add_argument("--json", type=Path, help="write every row as JSON")
    args = ap.parse_args(argv)
    from inspector.core.pipeline import scan

    rows, failed = [], 0
    print("| carrier | where the bytes hide | attacked | benign twin |")
    print("|---|---|---|---|")
    for name, (where, build) in CARRIERS.items():
        cells = []
        for attacked in (True, False):
            d = args.dir / name.replace(" ", "-") / ("attacked" if attacked else "benign")
            d.mkdir(parents=True, exist_ok=True)
            for p in sorted(d.glob("**/*"), reverse=True):
                p.unlink() if p.is_file() else p.rmdir()
            res = scan(build(d, attacked))
            top = next((f for f in res.findings if f.severity == "suspicious"), None)
            ok = (res.verdict == "suspicious") == attacked
            failed += not ok
            cells.append(
                f"{res.verdict} {res.score:.2f}" + (f" ({top.detector})" if top else "") + ("" if ok else " ✗")
            )
            rows.append({"carrier": name, "attacked": attacked, "verdict": res.verdict, "score": res.score})
        print(f"| {name} | {where} | {cells[0]} | {cells[1]} |")
    print(f"\n{len(CARRIERS)} carriers; {failed} wrong verdict(s) (✗)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("MODEL_INSPECTOR_NO_JIT", "1")  # small files: numba's load would dominate
    raise SystemExit(main())
