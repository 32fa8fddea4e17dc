"""Structure-aware fuzzing of the two parsers a hostile file reaches first: the pickle interpreter (through a zip
checkpoint's data.pkl and the legacy stream) and the safetensors header.

Inputs are built from opcodes with well-typed arguments around a real tensor-rebuild skeleton, from JSON headers
with hostile names, dtypes, shapes and offsets, and from byte mutations of the committed seed corpus
(``seeds/``). Every input must end in a ModelFile (whose tensors then read back) or an InspectorError: never
another exception, a hang or a huge allocation. The CI budget is a few seconds per parser
(``REDTEAM_FUZZ_EXAMPLES`` raises it); runs are derandomized so a failure reproduces.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import inspector  # noqa: E402
from inspector.core.errors import InspectorError  # noqa: E402
from inspector.core.formats.base import read_tensor  # noqa: E402

SEEDS = Path(__file__).resolve().parent / "seeds"
EXAMPLES = int(os.environ.get("REDTEAM_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not os.environ.get("REDTEAM_FUZZ_RANDOM"),
    database=None,
    suppress_health_check=list(HealthCheck),
)
#: One input may take at most this much CPU time (the work budget keeps hostile inputs far below it).
PER_INPUT_SECONDS = 5.0


_SCRATCH: list[Path] = []


def _scratch() -> Path:
    """One folder for every input of the session (each input overwrites the last; a fresh folder per example
    costs more than the parse)."""
    if not _SCRATCH:
        _SCRATCH.append(Path(tempfile.mkdtemp(prefix="redteam-fuzz-")))
    return _SCRATCH[0]


def _exercise(path: Path) -> None:
    t0 = time.thread_time()  # CPU time: a loaded machine must not fail a fast parser
    try:
        model = inspector.open_model(path)
        for ref in model.tensors[:50]:
            read_tensor(ref)
        for threat in model.threats:
            json.dumps(threat.to_json())
        json.dumps(dict(model.metadata))  # every name and value serialisable (no lone-surrogate surprises)
        for ref in model.tensors:
            ref.name.encode("utf-8")
    except InspectorError as e:
        assert "\n" not in str(e)
        str(e).encode("utf-8")
    assert time.thread_time() - t0 < PER_INPUT_SECONDS, "one input took too long"


# ---------------------------------------------------------------------------------------------- pickles
def _s(text: str) -> bytes:
    data = text.encode("utf-8", "surrogatepass")
    return b"X" + struct.pack("<I", len(data)) + data


_GLOBALS = [
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_tensor"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch", "FloatStorage"),
    ("torch", "HalfStorage"),
    ("torch", "float32"),
    ("torch", "Size"),
    ("torch", "device"),
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "getattr"),
    ("_codecs", "encode"),
    ("posix", "system"),
    ("copyreg", "_reconstructor"),
    ("torch.nn.modules.linear", "Linear"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.multiarray", "scalar"),
    ("re", "_compile"),
    ("nonexistent_module_xyz", "system"),
]

_SIMPLE = [b"(", b")", b"]", b"}", b"N", b"\x88", b"\x89", b"t", b"l", b"d", b"a", b"e", b"s", b"u", b"R", b"b"]
_SIMPLE += [b"\x85", b"\x86", b"\x87", b"0", b"1", b"2", b"\x81", b"\x8f", b"\x90", b"\x91", b"Q", b"\x94", b"\x93"]


def _op() -> st.SearchStrategy[bytes]:
    ints = st.one_of(st.integers(-5, 300), st.sampled_from([2**31 - 1, -(2**31), 2**40, 2**62, 2**63, -1]))
    return st.one_of(
        st.sampled_from(_SIMPLE),
        ints.map(
            lambda i: b"K" + bytes([i]) if 0 <= i < 256 else b"J" + struct.pack("<i", max(-(2**31), min(i, 2**31 - 1)))
        ),
        ints.map(lambda i: b"\x8a" + bytes([8]) + (i % 2**64).to_bytes(8, "little")),
        st.text(max_size=12).map(_s),
        st.sampled_from(_GLOBALS).map(lambda g: b"c" + g[0].encode() + b"\n" + g[1].encode() + b"\n"),
        st.integers(0, 8).map(lambda i: b"q" + bytes([i])),
        st.integers(0, 8).map(lambda i: b"h" + bytes([i])),
        st.sampled_from([0, 1, 2**27, 2**31]).map(lambda i: b"r" + struct.pack("<I", i % 2**32)),
        st.binary(max_size=16).map(lambda b: b"C" + bytes([len(b)]) + b),
        st.sampled_from([b"\x8e" + struct.pack("<Q", 2**60), b"B" + struct.pack("<I", 2**31), b"\x82\x01"]),
    )


_SKELETON = (
    b"\x80\x02}q\x00X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n(X\x07\x00\x00\x00storage"
    b"ctorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQK\x00K\x02K\x02\x86K\x02K\x01\x86\x89"
    b"ccollections\nOrderedDict\n)RtR"
)


@st.composite
def pickles(draw) -> bytes:
    """A tensor-rebuild skeleton with opcodes spliced in, or opcodes alone; usually ending in SETITEM/STOP."""
    body = b"".join(draw(st.lists(_op(), max_size=40)))
    if draw(st.booleans()):
        at = draw(st.integers(0, len(_SKELETON)))
        data = _SKELETON[:at] + body + _SKELETON[at:] + b"s."
    else:
        data = b"\x80\x02" + body + draw(st.sampled_from([b".", b"s.", b"u.", b""]))
    return data


def _zip(path: Path, pkl: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", b"little")
        z.writestr("archive/data/0", bytes(16))
    return path


@FUZZ
@given(pkl=pickles())
def test_fuzz_pickles_in_zip_checkpoints(pkl: bytes) -> None:
    _exercise(_zip(_scratch() / "m.pt", pkl))


@FUZZ
@given(pkl=pickles(), legacy=st.booleans())
def test_fuzz_pickles_as_legacy_streams(pkl: bytes, legacy: bool) -> None:
    p = _scratch() / "l.pt"
    magic = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19." if legacy else b""
    p.write_bytes(magic + b"\x80\x02M\xe9\x03." + b"\x80\x02}." + pkl + b"\x80\x02]X\x01\x00\x00\x000a." + bytes(24))
    _exercise(p)


# ---------------------------------------------------------------------------------------------- safetensors
_NAMES = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["w", "\udc80", "\x1b[2J", "a\nb", "", "__metadata__", "x" * 300, "\u202e"]),
)
_DTYPES = st.sampled_from(["F32", "F16", "BF16", "F64", "I8", "U8", "BOOL", "F8_E4M3", "X", 5, None])
_DIM = st.one_of(st.integers(0, 8), st.sampled_from([2**31, 2**62, -1]))


@st.composite
def headers(draw) -> tuple[bytes, bytes]:
    n = draw(st.integers(0, 6))
    header: dict = {}
    offset = 0
    for _ in range(n):
        shape = draw(st.lists(_DIM, max_size=4))
        dt = draw(_DTYPES)
        size = 4
        for d in shape:
            size *= d if isinstance(d, int) and 0 <= d < 9 else 1
        begin = offset if draw(st.integers(0, 9)) else draw(st.integers(0, 64))
        end = begin + (size if draw(st.integers(0, 9)) else draw(st.integers(-2, 64)))
        entry = {"dtype": dt, "shape": shape, "data_offsets": [begin, end]}
        if draw(st.integers(0, 15)) == 0:
            entry[draw(_NAMES)] = 1
        header[draw(_NAMES)] = entry
        offset = max(offset, end)
    if draw(st.booleans()):
        header["__metadata__"] = draw(st.dictionaries(_NAMES, st.one_of(_NAMES, st.integers()), max_size=3))
    text = json.dumps(header).encode()
    data = bytes(max(0, offset + draw(st.integers(-4, 4))))
    return text, data


@FUZZ
@given(h=headers(), length_delta=st.sampled_from([0, 0, 0, 1, -1, 2**40]))
def test_fuzz_safetensors_headers(h: tuple[bytes, bytes], length_delta: int) -> None:
    text, data = h
    p = _scratch() / "m.safetensors"
    p.write_bytes(struct.pack("<Q", max(0, len(text) + length_delta) % 2**64) + text + data)
    _exercise(p)


# ---------------------------------------------------------------------------------------------- seed mutations
_SEED_FILES = sorted(p for p in SEEDS.iterdir() if p.is_file()) if SEEDS.is_dir() else []


@st.composite
def mutated_seeds(draw) -> tuple[str, bytes]:
    seed = draw(st.sampled_from(_SEED_FILES))
    data = bytearray(seed.read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.integers(0, 3))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == 0 and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == 1:
            del data[pos : pos + draw(st.integers(1, 8))]
        elif kind == 2:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        else:
            data = data[:pos]
    return seed.name, bytes(data)


def _rewrap(name: str, data: bytes, folder: Path) -> Path:
    """A mutated ``*.pkl`` seed becomes a zip checkpoint's data.pkl; other seeds are files of their own."""
    if name.endswith(".pkl"):
        return _zip(folder / "m.pt", data)
    p = folder / name
    p.write_bytes(data)
    return p


@pytest.mark.skipif(not _SEED_FILES, reason="no seed corpus")
@FUZZ
@given(m=mutated_seeds())
def test_fuzz_mutated_seed_corpus(m: tuple[str, bytes]) -> None:
    _exercise(_rewrap(m[0], m[1], _scratch()))


def test_seed_corpus_is_small_and_reads(tmp_path: Path) -> None:
    assert _SEED_FILES, "the seed corpus is committed beside this file"
    for p in _SEED_FILES:
        assert p.stat().st_size < 64_000, p
        _exercise(_rewrap(p.name, p.read_bytes(), tmp_path))
