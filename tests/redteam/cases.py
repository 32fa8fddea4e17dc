"""The red-team corpus: every case of the hardening round rebuilt (and variants), each with what must happen.

``CASES`` maps a case id to a builder ``build(folder) -> Case``. A case is a command line of the CLI and the
exit statuses it may end with; :mod:`tests.redteam.test_corpus` runs each in a limited child process and checks
the invariants every case shares (no signal, no traceback, one escaped stderr line for exit 2, well under 1 GB,
within seconds) plus the case's own check. ``python -m tests.redteam.cases`` prints the whole table.
"""

from __future__ import annotations

import bz2
import json
import os
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from tests.redteam.craft import (
    LEGACY_MAGIC,
    P,
    legacy_bytes,
    safetensors_raw,
    state_dict_pickle,
    system_call,
    tensor,
    zip_checkpoint,
    zip_of,
)
from tests.redteam.harness import Run

JUDGED = (0, 1, 3)  # read and judged: clean, suspicious, or incomplete
REFUSED = (2,)


@dataclass
class Case:
    args: list[str]
    exits: tuple[int, ...]
    check: Optional[Callable[[Run], Optional[str]]] = None  # returns a problem, or None
    pipe: Optional[str] = None
    files: dict[str, Path] = field(default_factory=dict)


def _w(folder: Path, name: str, data: bytes) -> Path:
    p = folder / name
    p.write_bytes(data)
    return p


def _benign(n: int = 16, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"benign.weight": rng.normal(0, 0.1, (n, n)).astype(np.float32)}


def _evil() -> dict[str, np.ndarray]:
    return {"evil.weight": np.arange(64, dtype=np.float32).reshape(8, 8)}


def _scan(path: Path, folder: Path, *extra: str) -> list[str]:
    return ["scan", str(path), "--json", str(folder / f"{path.name}.json"), "--workers", "1", *extra]


def _json_names(folder: Path, path: Path) -> list[str]:
    doc = json.loads((folder / f"{path.name}.json").read_text())
    return [t["name"] for t in doc["tensors"]]


def _hostile(folder: Path, name: str, data: bytes, glob: str) -> Case:
    """A file whose pickle would run code: exit 1, a code-execution finding naming ``glob``, JSON written,
    and the marker its command would create absent."""
    p = _w(folder, name, data)
    out = folder / f"{name}.json"
    marker = folder / "MARKER"

    def check(run: Run) -> Optional[str]:
        if marker.exists():
            return "the marker file exists: code ran"
        if not out.exists():
            return "no JSON written"
        doc = json.loads(out.read_text())
        hits = [f for f in doc["findings"] if f["attack"] == "code-execution"]
        if not any(glob in f["evidence"]["global"] for f in hits):
            return f"no code-execution finding naming {glob}: {[f['attack'] for f in doc['findings']]}"
        if doc["verdict"] != "suspicious":
            return f"verdict {doc['verdict']}"
        return None

    return Case(["scan", str(p), "--json", str(out), "--workers", "1"], (1,), check)


def _one_line(*needles: str) -> Callable[[Run], Optional[str]]:
    def check(run: Run) -> Optional[str]:
        missing = [n for n in needles if n not in run.stderr]
        return f"stderr lacks {missing}: {run.stderr[:300]!r}" if missing else None

    return check


def _marker_cmd(folder: Path) -> str:
    return f"touch {folder / 'MARKER'}"


# ------------------------------------------------------------------------------------------ 1. identification
def polyglot_legacy_noproto_zip(folder: Path) -> Case:
    legacy = legacy_bytes(_evil())
    z = zip_of(folder / "z.pt", _benign()).read_bytes()
    p = _w(folder, "polyglot.pt", legacy[2:] + z)  # the recipe: l[2:] + z

    def check(run: Run) -> Optional[str]:
        names = _json_names(folder, p)
        return None if names == ["evil.weight"] else f"judged {names}, not what torch.load reads (evil.weight)"

    return Case(_scan(p, folder), JUDGED, check)


def polyglot_legacy_proto_zip(folder: Path) -> Case:
    legacy = legacy_bytes(_evil())
    z = zip_of(folder / "z.pt", _benign()).read_bytes()
    p = _w(folder, "polyglot2.pt", legacy + z)
    return Case(_scan(p, folder), JUDGED, lambda r: None if _json_names(folder, p) == ["evil.weight"] else "wrong")


def proto0_system_before_zip(folder: Path) -> Case:
    evil = b"cposix\nsystem\n(S'" + _marker_cmd(folder).encode() + b"'\ntR."
    z = zip_of(folder / "z.pt", _benign()).read_bytes()
    return _hostile(folder, "proto0.pt", evil + z, "posix.system")


def zip_with_junk_in_front(folder: Path) -> Case:
    z = zip_of(folder / "z.pt", _benign()).read_bytes()
    p = _w(folder, "junk.pt", b"\x00" * 64 + z)
    return Case(_scan(p, folder), REFUSED)


def bytes_after_stop(folder: Path) -> Case:
    arrays = _benign(4)
    pkl = state_dict_pickle(arrays) + b"cposix\nsystem\n(S'true'\ntR."
    p = zip_checkpoint(folder / "trailing.pt", pkl, {"0": arrays["benign.weight"].tobytes()})
    return Case(_scan(p, folder), REFUSED, _one_line("after its STOP"))


# ------------------------------------------------------------------------------------------ 2. recursion
def deep_tuple_dict_key(folder: Path) -> Case:
    pkl = b"\x80\x02}N" + b"\x85" * 200_000 + b"Ns."
    p = zip_checkpoint(folder / "deep_key.pt", pkl, {})
    return Case(_scan(p, folder), REFUSED, _one_line("deeper than"))


def deep_set_additems(folder: Path) -> Case:
    pkl = b"\x80\x04\x8f(N" + b"\x85" * 200_000 + b"\x90."
    p = zip_checkpoint(folder / "deep_set.pt", pkl, {})
    return Case(_scan(p, folder), REFUSED, _one_line("deeper than"))


def deep_frozenset(folder: Path) -> Case:
    pkl = b"\x80\x04" + b"(" * 1 + b"N" + b"\x85" * 100_000 + b"\x91."
    p = zip_checkpoint(folder / "deep_fz.pt", pkl, {})
    return Case(_scan(p, folder), REFUSED)


def dag_tuple_hash_bomb(folder: Path) -> Case:
    """t = (t, t) 90 times: depth 90 (allowed) but 2**90 elements to hash as a dict key."""
    pkl = P(2).raw(b"}").raw(b"N")
    for _ in range(90):
        pkl.raw(b"2\x86")  # DUP, TUPLE2
    p = zip_checkpoint(folder / "dag.pt", pkl.raw(b"Ns").stop(), {})
    return Case(_scan(p, folder), REFUSED, _one_line("more work"))


def deep_lists(folder: Path) -> Case:
    pkl = b"\x80\x02" + b"]" * 100_000 + b"a" * 99_999 + b"."
    p = zip_checkpoint(folder / "deep_list.pt", pkl, {})
    return Case(_scan(p, folder), REFUSED, _one_line("deeper than"))


# ------------------------------------------------------------------------------------------ 3. BUILD
def _build_on_tensor(folder: Path, name: str, state: bytes, exits: tuple[int, ...]) -> Case:
    a = np.arange(16, dtype=np.float32)
    p_ = P(2).raw(b"}(").s("w")
    tensor(p_, "0", 16, (16,), (1,))
    p_.raw(state + b"b")  # BUILD on the rebuilt tensor
    pkl = p_.raw(b"u").stop()
    p = zip_checkpoint(folder / name, pkl, {"0": a.tobytes()})

    def check(run: Run) -> Optional[str]:
        if run.rc == 2:
            return None
        doc = json.loads((folder / f"{name}.json").read_text())
        t = doc["tensors"][0]
        ok = t["shape"] == [16] and t["stats"]["max"] == 15.0 and t["stats"]["min"] == 0.0
        return None if ok else f"the tensor changed: {t['shape']} {t['stats']['min']}..{t['stats']['max']}"

    return Case(_scan(p, folder), exits, check)


def build_strides(folder: Path) -> Case:
    return _build_on_tensor(folder, "b_strides.pt", P(None).raw(b"}").s("strides").tup((1, 1)).raw(b"s").b, JUDGED)


def build_negative_offset(folder: Path) -> Case:
    return _build_on_tensor(folder, "b_offset.pt", P(None).raw(b"}").s("offset").i(-200).raw(b"s").b, JUDGED)


def build_huge_shape_stride0(folder: Path) -> Case:
    state = P(None).raw(b"}(").s("shape").tup((2**28,)).s("strides").tup((0,)).raw(b"u").b
    return _build_on_tensor(folder, "b_shape.pt", state, JUDGED)


def build_storage_nbytes(folder: Path) -> Case:
    state = P(None).raw(b"}(").s("storage").i(0).s("nbytes").i(10**9).s("__class__").i(1).raw(b"u").b
    return _build_on_tensor(folder, "b_nbytes.pt", state, JUDGED)


def build_non_dict_state(folder: Path) -> Case:
    return _build_on_tensor(folder, "b_list.pt", P(None).raw(b"]").b, REFUSED)


def view_stride0_2_28(folder: Path) -> Case:
    p_ = P(2).raw(b"}(").s("w")
    tensor(p_, "0", 1, (2**28,), (0,))
    p = zip_checkpoint(folder / "stride0.pt", p_.raw(b"u").stop(), {"0": b"\0" * 4})
    return Case(_scan(p, folder), REFUSED, _one_line("repeats"))


def offset_outside_storage(folder: Path) -> Case:
    p_ = P(2).raw(b"}(").s("w")
    tensor(p_, "0", 4, (4,), (1,), offset=3)
    p = zip_checkpoint(folder / "offset.pt", p_.raw(b"u").stop(), {"0": b"\0" * 16})
    return Case(_scan(p, folder), REFUSED, _one_line("past the end"))


# ------------------------------------------------------------------------------------------ 4. memory
def long_binput_2_27(folder: Path) -> Case:
    pkl = b"\x80\x02}r" + struct.pack("<I", 2**27) + b"."
    p = zip_checkpoint(folder / "memo.pt", pkl, {})
    return Case(_scan(p, folder), JUDGED + REFUSED)


def binbytes8_bzip2(folder: Path) -> Case:
    """A 32 MB BINBYTES8 metadata value in a bzip2-compressed data.pkl (torch cannot even read bzip2)."""
    pkl = b"\x80\x04}(\x8c\x04meta\x8e" + struct.pack("<Q", 32 << 20) + bytes(32 << 20) + b"u."
    p = zip_checkpoint(folder / "bz2.pt", pkl, {}, pkl_compression=zipfile.ZIP_BZIP2)
    assert os.path.getsize(p) < 10_000 and bz2
    return Case(_scan(p, folder), REFUSED, _one_line("data.pkl"))


def binbytes8_deflate(folder: Path) -> Case:
    """200 MB of BINBYTES8 deflated to ~200 KB: the expansion itself is refused."""
    p = folder / "deflate.pt"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("archive/data.pkl")
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w", force_zip64=True) as m:
            m.write(b"\x80\x04}(\x8c\x04meta\x8e" + struct.pack("<Q", 200 << 20))
            zeros = bytes(1 << 20)
            for _ in range(200):
                m.write(zeros)
            m.write(b"u.")
        z.writestr("archive/byteorder", b"little")
    return Case(_scan(p, folder), REFUSED, _one_line("expands"))


def _memo_bytes_calls(folder: Path, name: str, module: str, func: str, wrap: bytes = b"\x85") -> Case:
    """``module.func`` called 128 times on one memoised 1 MB value."""
    p_ = P(2).raw(b"}(").s("x").raw(b"]").raw(b"B" + struct.pack("<I", 1 << 20) + bytes(1 << 20)).put(0).raw(b"0")
    p_.raw(b"(")
    for _ in range(128):
        p_.glob(module, func).get(0).raw(wrap + b"R")
    p_.raw(b"e").raw(b"u")
    p = zip_checkpoint(folder / name, p_.stop(), {})
    return Case(_scan(p, folder), REFUSED)


def torch_size_on_bytes(folder: Path) -> Case:
    return _memo_bytes_calls(folder, "size.pt", "torch", "Size")


def set_on_bytes(folder: Path) -> Case:
    return _memo_bytes_calls(folder, "set.pt", "builtins", "set")


def ordered_dict_on_bytes(folder: Path) -> Case:
    return _memo_bytes_calls(folder, "odict.pt", "collections", "OrderedDict")


def codecs_encode_on_text(folder: Path) -> Case:
    """``_codecs.encode`` of one memoised 1 MB string, 128 times, every copy kept."""
    p_ = P(2).raw(b"}(").s("x").raw(b"]").s("a" * (1 << 20)).put(0).raw(b"0").raw(b"(")
    for _ in range(128):
        p_.glob("_codecs", "encode").get(0).s("latin1").raw(b"\x86R")
    p = zip_checkpoint(folder / "codecs.pt", p_.raw(b"eu").stop(), {})
    return Case(_scan(p, folder), REFUSED, _one_line("more work"))


def set_on_big_list(folder: Path) -> Case:
    """``frozenset`` of one memoised 1M-element list, 4096 times (the REDUCE loop of the hang)."""
    p_ = P(2).raw(b"}(").s("x").raw(b"](").raw(b"N" * (1 << 20)).raw(b"e").put(0).raw(b"0").raw(b"](")
    for _ in range(4096):
        p_.glob("builtins", "frozenset").get(0).raw(b"\x85R0")
    p = zip_checkpoint(folder / "fset.pt", p_.raw(b"eu").stop(), {})
    return Case(_scan(p, folder), REFUSED, _one_line("more work"))


DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo" / "mlp-benign-s0.safetensors"


def _with_data(folder: Path, data: Path) -> list[str]:
    """A command that loads ``data`` (scrub --check reads the evaluation data before any work)."""
    return ["scrub", str(DEMO), "-o", str(folder / "out.safetensors"), "--check", "--data", str(data)]


def npz_deflate_bomb(folder: Path) -> Case:
    p = folder / "data.npz"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("inputs.npy", "w", force_zip64=True) as m:
            header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (65536, 4096), }"
            header += b" " * (118 - len(header)) + b"\n"
            m.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header)
            zeros = bytes(1 << 20)
            for _ in range(1024):
                m.write(zeros)
        z.writestr("labels.npy", b"\x93NUMPY")
    return Case(_with_data(folder, p), REFUSED, _one_line("expands"))


def npz_member_not_npy(folder: Path) -> Case:
    p = folder / "junk.npz"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("inputs.npy", b"this is not an array")
        z.writestr("labels.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': 3}    \n")
    return Case(_with_data(folder, p), REFUSED, _one_line("inputs.npy"))


# ------------------------------------------------------------------------------------------ 5. work
def one_tensor_many_names(folder: Path) -> Case:
    p_ = P(2).raw(b"}(").s("w")
    tensor(p_, "0", 1, (1,), (1,))
    p_.put(0).s("many").raw(b"](")
    for _ in range(100_000):
        p_.get(0)
    p = zip_checkpoint(folder / "aliases.pt", p_.raw(b"eu").stop(), {"0": b"\0" * 4})
    return Case(_scan(p, folder), REFUSED, _one_line("names"))


def shared_list_doubling(folder: Path) -> Case:
    """L = [L', L'] 17 times over one tensor: 131,072 paths to it from a few hundred bytes."""
    p_ = P(2).raw(b"}(").s("w").raw(b"]")
    tensor(p_, "0", 1, (1,), (1,))
    p_.raw(b"a")
    for _ in range(17):
        p_.raw(b"2").raw(b"\x86")  # (x, x): tuples, so the sharing is structural
    p = zip_checkpoint(folder / "doubling.pt", p_.raw(b"u").stop(), {"0": b"\0" * 4})
    return Case(_scan(p, folder), JUDGED + REFUSED)


def colliding_names(folder: Path) -> Case:
    """20,000 tensors under keys that all print as torch.device('cpu'): names de-duplicated in linear time."""
    p_ = P(2).raw(b"}(")
    p_.glob("torch", "device").put(1).raw(b"0")
    p_.raw(b"(").s("storage").glob("torch", "FloatStorage").s("0").s("cpu").i(20_000).raw(b"tQ").put(2).raw(b"0")
    p_.glob("torch._utils", "_rebuild_tensor_v2").put(3).raw(b"0")
    for i in range(20_000):
        p_.get(1).s("cpu").raw(b"\x85R")
        p_.get(3).raw(b"(").get(2).i(i).raw(b"K\x01\x85K\x01\x85\x89N").raw(b"tR")
    p = zip_checkpoint(folder / "collide.pt", p_.raw(b"u").stop(), {"0": bytes(80_000)})
    code = (
        f"import inspector,time; t=time.time(); m=inspector.open_model({str(p)!r}); "
        "print(len(m), m.names[-1], time.time()-t)"
    )
    return Case(["__python__", code], (0,), lambda r: None if "20000 device('cpu')#20000" in r.stdout else r.stdout)


def many_tiny_tensors_open(folder: Path) -> Case:
    """20,000 one-element tensors in a 1.5 MB safetensors file: opened (listed) fast. (The full scan's time is
    the streaming pass's, measured separately.)"""
    header = {}
    for i in range(20_000):
        header[f"t{i}"] = {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]}
    p = safetensors_raw(folder / "many.safetensors", header, bytes(80_000))
    code = f"import inspector,time; t=time.time(); m=inspector.open_model({str(p)!r}); print(len(m), time.time()-t)"
    return Case(["__python__", code], (0,), lambda r: None if r.stdout.startswith("20000 ") else r.stdout)


def sharded_duplicates(folder: Path) -> Case:
    d = folder / "sharded"
    d.mkdir()
    header = {f"t{i}": {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]} for i in range(20_000)}
    for shard in ("a.safetensors", "b.safetensors"):
        safetensors_raw(d / shard, header, bytes(80_000))
    wmap = {f"t{i}": "a.safetensors" for i in range(20_000)}
    wmap["t0"] = "b.safetensors"
    (d / "model.safetensors.index.json").write_text(json.dumps({"weight_map": wmap}))
    return Case(["scan", str(d / "model.safetensors.index.json")], REFUSED, _one_line("several shards"))


def many_empty_tensors(folder: Path) -> Case:
    """150,001 zero-size tensors in an 8 MB header and no data: more entries than the file sensibly holds."""
    n = 150_001
    text = "{" + ",".join(f'"{i:x}":{{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}' for i in range(n)) + "}"
    p = safetensors_raw(folder / "empty.safetensors", {}, b"", header_text=text)
    return Case(["scan", str(p)], REFUSED, _one_line("sensibly hold"))


def absurd_tensor_count(folder: Path) -> Case:
    """A header of 10,000 entries whose data area could not hold them (zero-size, 16+ bytes each is fine) -
    and the ratio check: entries squeezed below 16 header bytes each are impossible, so check the hard cap."""
    n = 1_000_001
    text = "{" + ",".join(f'"{i:x}":{{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}' for i in range(n)) + "}"
    p = safetensors_raw(folder / "count.safetensors", {}, b"", header_text=text)
    return Case(["scan", str(p)], REFUSED, _one_line("declares"))


# ------------------------------------------------------------------------------------------ 6-7. values, text
def subnormal_ranges(folder: Path) -> Case:
    from safetensors.numpy import save_file

    p = folder / "subnormal.safetensors"
    save_file({"f32": np.array([0, 1e-45], np.float32), "f64": np.array([0, 2.3e-308], np.float64)}, str(p))
    return Case(_scan(p, folder), JUDGED)


def surrogate_names(folder: Path) -> Case:
    header = {
        "__metadata__": {"note\udc80": "value\udcff"},
        "w\udc80": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
    }
    text = json.dumps(header)  # ASCII JSON with \udc80 escapes: lone surrogates once parsed
    p = safetensors_raw(folder / "surrogate.safetensors", {}, bytes(16), header_text=text)
    return Case(_scan(p, folder), JUDGED)


def surrogate_report(folder: Path) -> Case:
    c = surrogate_names(folder)
    return Case(["report", c.args[1], "-o", str(folder / "s.html")], JUDGED)


def surrogate_scrub(folder: Path) -> Case:
    c = surrogate_names(folder)
    return Case(["scrub", c.args[1], "-o", str(folder / "scrubbed.safetensors"), "--bits", "4"], JUDGED)


def surrogate_pickle_key(folder: Path) -> Case:
    arrays = {"k\udc80": np.ones(4, np.float32)}
    p = zip_checkpoint(folder / "surr.pt", state_dict_pickle(arrays), {"0": arrays["k\udc80"].tobytes()})
    return Case(_scan(p, folder), JUDGED)


# ------------------------------------------------------------------------------------------ 8-9. output
def escape_names(folder: Path) -> Case:
    from safetensors.numpy import save_file

    p = folder / "escape.safetensors"
    save_file({"\x1b[2J\x1b[H\x1b[32m Verdict: CLEAN \x1b[8m\nfake line": np.ones(4, np.float32)}, str(p))

    def check(run: Run) -> Optional[str]:
        if any(line.startswith("fake line") or line.startswith(" Verdict: CLEAN") for line in run.stdout.splitlines()):
            return "a name started its own line"
        return None

    return Case(["scan", str(p)], JUDGED, check)


def refused_class_name_newlines(folder: Path) -> Case:
    """A class whose module name holds a newline, ESC and 5 MB: refused on one short, escaped line."""
    p_ = P(4).raw(b"}(").s("x").s("evil\n\x1b[2Jmodule" + "A" * (5 << 20)).s("Config").raw(b"\x93)\x81u")
    p = zip_checkpoint(folder / "longname.pt", p_.stop(), {})

    def check(run: Run) -> Optional[str]:
        return None if len(run.stderr) < 4000 else f"stderr is {len(run.stderr):,} characters"

    return Case(["scan", str(p)], REFUSED, check)


def threat_name_newlines(folder: Path) -> Case:
    p_ = P(4).raw(b"}(").s("x").s("os").s("system\n\x1b[2JVerdict: CLEAN").raw(b"\x93").s("true").raw(b"\x85Ru")
    return _hostile(folder, "threat_nl.pt", p_.stop(), "os.system")


def scan_into_head(folder: Path) -> Case:
    p = zip_of(folder / "head.pt", _benign())
    return Case(["scan", str(p)], JUDGED, pipe="head -1")


def max_drop_nan(folder: Path) -> Case:
    p = zip_of(folder / "nan.pt", _benign())
    data = folder / "d.npz"
    np.savez(data, inputs=np.zeros((2, 16), np.float32), labels=np.zeros(2, np.int64))
    return Case(
        ["scrub", str(p), "-o", str(folder / "o.safetensors"), "--check", "--data", str(data), "--max-drop", "nan"],
        REFUSED,
        _one_line("--max-drop"),
    )


# ------------------------------------------------------------------------------------------ 10. JSON inputs
def _scan_doc(folder: Path) -> dict:
    """A real scan/1 document (written by the CLI in a child, as a user would) to corrupt."""
    from tests.redteam.harness import run_cli

    p = zip_of(folder / "doc.pt", _benign())
    out = folder / "doc.json"
    run = run_cli(["scan", str(p), "--json", str(out), "--workers", "1"], cwd=folder)
    assert out.exists(), run.stderr[-500:]
    return json.loads(out.read_text())


def _bad_scan_json(folder: Path, name: str, mutate: Callable[[dict], None]) -> Case:
    doc = _scan_doc(folder)
    mutate(doc)
    p = folder / name
    p.write_text(json.dumps(doc))
    return Case(["report", str(p), "-o", str(folder / f"{name}.html")], REFUSED, _one_line("not a valid scan"))


def scan_json_score_text(folder: Path) -> Case:
    return _bad_scan_json(folder, "score.json", lambda d: d.__setitem__("score", "x"))


def scan_json_model_list(folder: Path) -> Case:
    return _bad_scan_json(folder, "model.json", lambda d: d.__setitem__("model", [1]))


def scan_json_tensors_object(folder: Path) -> Case:
    return _bad_scan_json(folder, "tensors.json", lambda d: d.__setitem__("tensors", {}))


def scan_json_string_edges(folder: Path) -> Case:
    def mutate(d: dict) -> None:
        h = d["tensors"][0]["histogram"]
        h["edges"] = [str(e) for e in h["edges"]]

    return _bad_scan_json(folder, "edges.json", mutate)


def _bad_profile(folder: Path, name: str, text: str) -> Case:
    p = folder / name
    p.write_text(text)
    model = zip_of(folder / f"{name}.pt", _benign())
    return Case(["scan", str(model), "--profile", str(p)], REFUSED, _one_line("profile"))


def profile_sources_number(folder: Path) -> Case:
    return _bad_profile(folder, "p_sources.json", json.dumps({"schema": _profile_schema(), "sources": 5, "kinds": {}}))


def profile_infinity(folder: Path) -> Case:
    doc = {"schema": _profile_schema(), "kinds": {"dense": {"near_zero": {"lo": 0, "hi": 1, "median": 0, "count": 3}}}}
    return _bad_profile(folder, "p_inf.json", json.dumps(doc).replace('"lo": 0', '"lo": Infinity'))


def _profile_schema() -> str:
    from inspector.core.judge.baselines import PROFILE_SCHEMA

    return PROFILE_SCHEMA


# ------------------------------------------------------------------------------------------ issue 18: code on load
def hostile_zip_posix_system(folder: Path) -> Case:
    arrays = _benign(4)
    extra = system_call(P(None).s("evil"), "posix", "system", _marker_cmd(folder)).b
    pkl = state_dict_pickle(arrays, extra=bytes(extra))
    p = zip_checkpoint(folder / "evil_zip.pt", pkl, {"0": arrays["benign.weight"].tobytes()})
    return _hostile(folder, p.name, p.read_bytes(), "posix.system")


def hostile_legacy_exec(folder: Path) -> Case:
    data = bytearray(legacy_bytes(_benign(4)))
    evil = system_call(P(2), "builtins", "exec", f"open({str(folder / 'MARKER')!r}, 'w')").stop()
    return _hostile(folder, "evil_legacy.pt", evil + bytes(data), "builtins.exec")


def hostile_import_getattr(folder: Path) -> Case:
    """``getattr(__import__('os'), 'system')(cmd)``: import and attribute machinery."""
    p_ = P(2).raw(b"}(").s("evil")
    p_.glob("builtins", "getattr").raw(b"(").glob("builtins", "__import__").s("os").raw(b"\x85R").s("system")
    p_.raw(b"tR").s(_marker_cmd(folder)).raw(b"\x85R").raw(b"u")
    return _hostile(folder, "evil_import.pt", zip_checkpoint(folder / "ei.pt", p_.stop(), {}).read_bytes(), "getattr")


def hostile_plain_pickle(folder: Path) -> Case:
    return _hostile(folder, "evil.pkl", system_call(P(2), "os", "system", _marker_cmd(folder)).stop(), "os.system")


def hostile_nonexistent_module(folder: Path) -> Case:
    evil = system_call(P(2), "nonexistent_module_xyz", "system", _marker_cmd(folder)).stop()
    return _hostile(folder, "ghost.pkl", evil, "nonexistent_module_xyz.system")


def hostile_build_on_global(folder: Path) -> Case:
    """BUILD on an imported class: monkey-patching code on load."""
    p_ = P(2).raw(b"}(").s("x").glob("torch.nn", "Module").raw(b"}").s("__call__").i(1).raw(b"sb").raw(b"u")
    return _hostile(folder, "patch.pt", zip_checkpoint(folder / "pt.pt", p_.stop(), {}).read_bytes(), "Module")


def ordinary_class_read_as_data(folder: Path) -> Case:
    """A pickled config object built without arguments (``object.__new__`` and a state): rebuilt as plain
    attributes, never imported; the weights are judged and the class torch.load would import is a warning."""
    arrays = _benign(4)
    extra = P(None).s("cfg").glob("mytraining.config", "TrainConfig").raw(b")\x81").raw(b"}").s("lr").i(1).raw(b"sb").b
    pkl = state_dict_pickle(arrays, extra=bytes(extra))
    p = zip_checkpoint(folder / "config.pt", pkl, {"0": arrays["benign.weight"].tobytes()})

    def check(run: Run) -> Optional[str]:
        ok = "mytraining.config.TrainConfig" in run.stdout and "whole model" in run.stdout
        return None if ok else f"no class-code warning naming the class: {run.stdout[-600:]!r}"

    return Case(["scan", str(p)], (3,), check)


def ordinary_class_called_refused(folder: Path) -> Case:
    """A class the pickle calls with arguments (``Class(*args)`` runs its ``__init__``): needs its code, refused."""
    arrays = _benign(4)
    extra = P(None).s("cfg").glob("mytraining.config", "TrainConfig").raw(b"(K\x01tR").b
    pkl = state_dict_pickle(arrays, extra=bytes(extra))
    p = zip_checkpoint(folder / "config.pt", pkl, {"0": arrays["benign.weight"].tobytes()})
    return Case(["scan", str(p)], REFUSED, _one_line("mytraining.config.TrainConfig", "re-save"))


def malformed_truncated(folder: Path) -> Case:
    p = zip_of(folder / "t.pt", _benign())
    data = p.read_bytes()
    return Case(["scan", str(_w(folder, "trunc.pt", data[: len(data) // 2]))], REFUSED)


def legacy_magic_only(folder: Path) -> Case:
    return Case(["scan", str(_w(folder, "magic.pt", P(2).i(LEGACY_MAGIC).stop()))], REFUSED)


CASES: dict[str, Callable[[Path], Case]] = {
    f.__name__: f
    for f in (
        polyglot_legacy_noproto_zip,
        polyglot_legacy_proto_zip,
        proto0_system_before_zip,
        zip_with_junk_in_front,
        bytes_after_stop,
        deep_tuple_dict_key,
        deep_set_additems,
        deep_frozenset,
        dag_tuple_hash_bomb,
        deep_lists,
        build_strides,
        build_negative_offset,
        build_huge_shape_stride0,
        build_storage_nbytes,
        build_non_dict_state,
        view_stride0_2_28,
        offset_outside_storage,
        long_binput_2_27,
        binbytes8_bzip2,
        binbytes8_deflate,
        torch_size_on_bytes,
        set_on_bytes,
        ordered_dict_on_bytes,
        codecs_encode_on_text,
        set_on_big_list,
        npz_deflate_bomb,
        npz_member_not_npy,
        one_tensor_many_names,
        shared_list_doubling,
        colliding_names,
        many_tiny_tensors_open,
        sharded_duplicates,
        many_empty_tensors,
        subnormal_ranges,
        surrogate_names,
        surrogate_report,
        surrogate_scrub,
        surrogate_pickle_key,
        escape_names,
        refused_class_name_newlines,
        threat_name_newlines,
        scan_into_head,
        max_drop_nan,
        scan_json_score_text,
        scan_json_model_list,
        scan_json_tensors_object,
        scan_json_string_edges,
        profile_sources_number,
        profile_infinity,
        hostile_zip_posix_system,
        hostile_legacy_exec,
        hostile_import_getattr,
        hostile_plain_pickle,
        hostile_nonexistent_module,
        hostile_build_on_global,
        ordinary_class_read_as_data,
        ordinary_class_called_refused,
        malformed_truncated,
        legacy_magic_only,
    )
}
#: Cases that take more than a few seconds to build (a 60 MB header): run with REDTEAM_SLOW=1.
SLOW: dict[str, Callable[[Path], Case]] = {"absurd_tensor_count": absurd_tensor_count}


def main() -> None:
    """Print every case with its exit status, time and peak memory (``REDTEAM_SLOW=1`` adds the slow ones)."""
    import tempfile

    from tests.redteam.harness import run_cli

    builders = {**CASES, **(SLOW if os.environ.get("REDTEAM_SLOW") else {})}
    for name, build in builders.items():
        with tempfile.TemporaryDirectory() as tmp:
            case = build(Path(tmp))
            run = run_cli(case.args, timeout=120, shell_pipe=case.pipe, cwd=Path(tmp))
            problem = case.check(run) if case.check and run.rc in case.exits else None
            ok = run.rc in case.exits and not problem and "Traceback" not in run.stderr
            line = (run.stderr_lines or [""])[0][:110]
            print(f"{name:32} {'ok ' if ok else 'BAD'} {run.describe():42} {line}", flush=True)


if __name__ == "__main__":
    main()
