"""``open_model``: one entry point for every supported model file, dispatching on what the file is."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from inspector.core.errors import InspectorError, MalformedFileError, UnsupportedFormatError
from inspector.core.formats.base import ModelFile, open_regular
from inspector.core.formats.safetensors import open_safetensors, open_sharded

_SUPPORTED = (
    ".safetensors, *.index.json, a Hugging Face folder, a PyTorch .pt/.pth/.bin checkpoint or torch.package, .npz, "
    "a pickle (.pkl, .joblib), .gguf or .onnx"
)


#: The weights file a Hugging Face loader takes from a folder of several (transformers, diffusers).
DEFAULT_SAFETENSORS = ("model.safetensors", "diffusion_pytorch_model.safetensors")


def sniff_format(path: Path) -> str:
    """What the file is from its first bytes, as ``torch.load`` and the safetensors library would take it."""
    with open_regular(path) as f:
        head = f.read(16)
    if head[:4] == b"GGUF":  # before safetensors: a GGUF of 123 tensors has '{' at byte 8
        return "gguf"
    # safetensors first: a header length of 0x280..0x580 makes the file start with bytes that look like a
    # pickle protocol marker (80 02..80 05); the '{' that opens the JSON header is unambiguous. (A pickle that
    # torch could load as a legacy checkpoint cannot fit its magic number in the 8 bytes before it.)
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    if head[:4] == b"PK\x03\x04":  # torch's own test: a zip only when a local header opens the file
        return "zip"
    if head[:1] == b"\x80" and len(head) > 1 and head[1] in (2, 3, 4, 5):
        return "pickle"
    return "empty" if not head else "unknown"


def open_model(path: str | Path) -> ModelFile:
    """Open a model file without running any code from it and list its tensors (headers only).

    Accepts a ``.safetensors`` file, a sharded ``*.safetensors.index.json`` (or a folder holding one or a single
    ``.safetensors`` file), or a PyTorch checkpoint written by ``torch.save`` (zip or legacy format), which is
    read by a restricted unpickler, a GGUF file or an ONNX model. Files are dispatched by content: an ONNX model
    needs no ``.onnx`` suffix (:func:`~inspector.core.formats.onnx.looks_like_onnx`), and a file named ``.onnx``
    that holds another format is read as that format. Raises an :class:`~inspector.core.errors.InspectorError`
    naming the problem and the next step.
    """
    p = Path(path)
    try:
        from inspector.core.formats.roles import with_roles  # weights, or training state saved beside them

        model = with_roles(_open(p))
        _check_amplification(model)
        if p.is_dir():  # what else the folder holds ships with the model
            from inspector.core.formats.folders import files_beside

            model = files_beside(p, model)
        return model
    except OSError as e:  # unreadable (permissions, I/O error, vanished): not a bug of ours, say what failed
        reason = e.strerror or type(e).__name__
        raise InspectorError(f"cannot read ({reason})", path=p, hint="Check the file's permissions and path") from None


#: Bytes the tensors of a model may span beyond its files': views of one storage (tied weights, an LSTM's flat
#: weights listed twice), values decoded from 4-bit blocks or 1-byte varints (8 times their bytes) and expanded
#: views stay far within it; a file whose views list the same bytes thousands of times (20,000 views of one 1 MB
#: storage in a 2.4 MB file: 21 GB to read, 30 s) does not.
MAX_AMPLIFICATION = 16
AMPLIFICATION_ALLOWANCE = 1 << 30


#: Beyond this many tensors, the files must hold this many bytes for each: a scan spends about 0.3 ms and 10 KB on
#: every tensor however small, so 200,000 views of one 4 KB storage, listed by a pickle deflated to 4 MB, took 77 s
#: and 2.6 GB. Real models with that many tensors (mixtures of experts) hold megabytes for each.
MANY_TENSORS = 100_000
MIN_FILE_BYTES_PER_TENSOR = 256


def _check_amplification(model: ModelFile) -> None:
    try:
        size = model.file_bytes
    except OSError:
        return
    count = len(model.tensors)
    if count > MANY_TENSORS and count * MIN_FILE_BYTES_PER_TENSOR > size:
        raise MalformedFileError(
            f"lists {count:,} tensors in {size:,} bytes of files, under {MIN_FILE_BYTES_PER_TENSOR} bytes for each: "
            "no real model is built so (a file built to multiply the work; each tensor costs a scan time and memory "
            "however small)",
            path=model.path,
            hint="Re-save the tensors (a state_dict of .clone()d tensors, or safetensors) and open that",
        )
    spans = model.nbytes
    if spans > MAX_AMPLIFICATION * size + AMPLIFICATION_ALLOWANCE:
        raise MalformedFileError(
            f"its {len(model.tensors):,} tensors span {spans:,} bytes, {spans / max(1, size):,.0f} times the "
            f"{size:,} bytes of the file: views listing the same bytes over and over (a file built to multiply the "
            "work)",
            path=model.path,
            hint="Re-save the tensors (a state_dict of .clone()d tensors, or safetensors) and open that",
        )


def _open(p: Path) -> ModelFile:
    if not p.exists():
        if p.is_symlink():
            raise InspectorError("is a broken or looping symbolic link", path=p, hint="Open the file it should name")
        raise InspectorError("no such file or folder", path=p, hint="Check the path")
    if p.is_dir():
        indexes = sorted(p.glob("*.safetensors.index.json"))
        if len(indexes) == 1:
            return open_sharded(indexes[0])
        if len(indexes) > 1:
            raise UnsupportedFormatError(
                f"folder holds several index files ({', '.join(i.name for i in indexes)})",
                path=p,
                hint="Open the index file you mean directly",
            )
        singles = sorted(p.glob("*.safetensors"))
        if len(singles) == 1:
            return open_safetensors(singles[0])
        # several: the one a Hugging Face loader takes by default; the others (another precision, an EMA copy) go
        # with it as files beside the model, each to be opened on its own
        default = next((p / n for n in DEFAULT_SAFETENSORS if (p / n) in singles), None)
        if default is not None:
            return open_safetensors(default)
        if not singles:  # pytorch_model.bin, a *.bin index, or one other model file
            from inspector.core.formats.folders import open_folder

            return open_folder(p)
        found = f"{len(singles)} .safetensors files and no index"
        raise UnsupportedFormatError(f"folder has {found}", path=p, hint=f"Open one of: {_SUPPORTED}")
    if not p.is_file():  # a FIFO would block forever, /dev/zero never ends
        raise UnsupportedFormatError(
            "is not a regular file (a device, pipe or socket)", path=p, hint="Save the model to a file and open that"
        )
    if p.name.endswith(".index.json"):  # shards are read by what they are, safetensors or torch .bin
        from inspector.core.formats.folders import open_index

        return open_index(p)
    kind = sniff_format(p)
    if kind in ("unknown", "empty"):  # a protobuf has no magic number: the name, else its first fields, say ONNX
        from inspector.core.formats.onnx import looks_like_onnx, open_onnx

        if p.suffix.lower() == ".onnx" or (kind == "unknown" and looks_like_onnx(p)):
            return open_onnx(p)
    if kind == "gguf":
        from inspector.core.formats.gguf import open_gguf

        return open_gguf(p)
    from inspector.core.formats.torchzip import NotAPickle, leading_pickle_threats, open_torch_legacy, open_torch_zip

    if kind == "safetensors":
        model = open_safetensors(p)
        threats = leading_pickle_threats(p)  # a safetensors file that torch.load would also run as a pickle
        return dataclasses.replace(model, threats=model.threats + threats) if threats else model

    if kind == "zip":
        return open_torch_zip(p)
    if kind == "empty" and p.suffix != ".safetensors":
        raise UnsupportedFormatError("file is empty", path=p, hint="Copy the model again from its source")
    # Anything else is what torch.load reads as a legacy pickle stream (a PROTO opcode is optional): judge it
    # as that, whatever follows it (a zip appended after a pickle is not what torch would load).
    if kind != "empty":
        try:
            return open_torch_legacy(p, sniffed=kind == "pickle")
        except NotAPickle:
            pass
    if p.suffix == ".safetensors":
        return open_safetensors(p)  # names what is wrong with its header
    raise UnsupportedFormatError("not a recognised model file", path=p, hint=f"Supported: {_SUPPORTED}")
