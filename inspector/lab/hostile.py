"""The demo zoo's hostile file: a PyTorch zip checkpoint whose pickle calls a function on load.

Made harmless: the function it names, ``nonexistent_module_xyz.system``, is in a module that does not exist, so
even ``pickle.load`` / ``torch.load(weights_only=False)`` fail to import it and run nothing. To Model Inspector
it is exactly what a real ``posix.system`` payload is: a call it records (never makes) and judges as a
code-execution finding. Beside the call the file holds one ordinary tensor, read and shown as coming from a
hostile file. Written opcode by opcode (no torch), so the bytes are the same on every machine.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np

FILE = "hostile-call-on-load.pt"
MODULE, FUNCTION = "nonexistent_module_xyz", "system"
COMMAND = "echo this would run when the file is loaded"


def _s(text: str) -> bytes:
    data = text.encode("utf-8")
    return b"X" + struct.pack("<I", len(data)) + data


def _glob(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def hostile_pickle(numel: int) -> bytes:
    """``{"fc.weight": <rebuilt tensor of numel float32>, "on_load": nonexistent_module_xyz.system(COMMAND)}``."""
    storage = b"(" + _s("storage") + _glob("torch", "FloatStorage") + _s("0") + _s("cpu")
    storage += b"J" + struct.pack("<i", numel) + b"tQ"
    tensor = _glob("torch._utils", "_rebuild_tensor_v2") + b"(" + storage + b"K\x00"
    tensor += b"(J" + struct.pack("<i", numel) + b"tK\x01\x85\x89" + _glob("collections", "OrderedDict") + b")RtR"
    call = _glob(MODULE, FUNCTION) + _s(COMMAND) + b"\x85R"
    return b"\x80\x02}(" + _s("fc.weight") + tensor + _s("on_load") + call + b"u."


def write_hostile_demo(path: Path) -> Path:
    """Write the hostile demo checkpoint to ``path`` (a fixed date in the zip headers: identical bytes)."""
    values = np.random.default_rng(0).normal(0, 0.1, 64).astype("<f4")
    members = [
        ("archive/data.pkl", hostile_pickle(values.size)),
        ("archive/byteorder", b"little"),
        ("archive/data/0", values.tobytes()),
    ]
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return path
