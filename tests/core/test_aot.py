"""The kernels compiled ahead of time: which machine code a machine gets, where it may be loaded from, what the
entry points accept, and what a failed build leaves. (That they equal the numpy path is tests/core/test_kernels.py,
run once for them and once for the JIT.)"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from inspector.core.measure import aot

V2 = {"cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3"}
V3 = V2 | {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"}
V4 = V3 | {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}


def test_level_of_cpu_flags():
    assert aot.level_of(set()) == ""
    assert aot.level_of({"sse2", "fpu"}) == ""
    assert aot.level_of(V2) == "x86-64-v2"
    assert aot.level_of(V3 | {"sse2"}) == "x86-64-v3"
    assert aot.level_of(V4) == "x86-64-v4"
    # AVX-512 without a lower level's flag (a VM that hides MOVBE) is not v4: each level needs those below
    assert aot.level_of(V4 - {"movbe"}) == "x86-64-v2"
    assert aot.level_of(V3 - {"avx2"} | {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}) == "x86-64-v2"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv(aot.ENV_CACHE, str(root))
    monkeypatch.delenv(aot.ENV_NO_AOT, raising=False)
    monkeypatch.setattr(aot, "cpu_level", lambda: "x86-64-v3")
    return root / "kernels"


def test_target_names_the_level_sources_and_abi(cache, monkeypatch):
    t = aot.target()
    assert t is not None and t.cpu == "x86-64-v3" and t.path.parent == cache
    assert t.name.startswith("scan_kernels_") and t.name.endswith("_v3")
    assert t.path.name.startswith(t.name) and t.path.name.endswith(".so")
    monkeypatch.setattr(aot, "cpu_level", lambda: "")
    assert aot.target().name.endswith("_v1") and aot.target().cpu == ""  # the x86-64 baseline
    monkeypatch.setattr(aot, "cpu_level", lambda: None)  # another system or CPU: none
    assert aot.target() is None
    monkeypatch.setattr(aot, "cpu_level", lambda: "x86-64-v3")
    monkeypatch.setenv(aot.ENV_NO_AOT, "1")
    assert aot.target() is None and not aot.ready()


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX ownership")
def test_loads_only_from_a_folder_and_file_nobody_else_may_write(cache, caplog):
    t = aot.target()
    cache.mkdir(parents=True, mode=0o700)
    t.path.write_bytes(b"\x7fELF not really")
    t.path.chmod(0o755)
    os.chmod(cache, 0o770)  # the group may write the folder: not loaded, and said so
    assert aot.load(build_missing=False) is None
    assert "not this user's alone" in caplog.text
    os.chmod(cache, 0o700)
    t.path.chmod(0o777)  # anyone may write the file
    assert aot.load(build_missing=False) is None and t.path.exists()
    t.path.chmod(0o755)
    # safe place, but no digest recorded by a build: not loaded (never a crash), and set aside for a rebuild
    assert aot.load(build_missing=False) is None and not t.path.exists()


def test_a_module_cut_short_is_not_loaded(tmp_path, monkeypatch, entry):
    """A module cut short (a crash or a full disk during the write) would crash the process if loaded: its
    digest no longer matches the build's record, so it is removed instead, and a whole copy loads."""
    real = aot.target()
    monkeypatch.setenv(aot.ENV_CACHE, str(tmp_path / "cache"))
    t = aot.target()
    assert t.name == real.name
    t.path.parent.mkdir(parents=True, mode=0o700)
    data = real.path.read_bytes()
    t.digest_file.write_bytes(real.digest_file.read_bytes())
    t.path.write_bytes(data[: len(data) // 3])
    assert aot.load(build_missing=False) is None and not t.path.exists()
    t.path.write_bytes(data)
    t.digest_file.write_bytes(real.digest_file.read_bytes())
    assert aot.load(build_missing=False) is not None


def test_the_build_child_compiles_only_the_sources_it_is_named_after(cache, capsys):
    assert aot.child_main(["scan_kernels_0000000000000000_v3", str(cache / "x.so"), "x86-64-v3"]) == 1
    assert "not those" in capsys.readouterr().err and not (cache / "x.so").exists()


def test_failed_build_is_remembered_for_this_host(cache, monkeypatch):
    t = aot.target()
    runs = []

    def fail(cmd, **kwargs):
        runs.append(cmd)
        assert cmd[1] == "-I"  # the child ignores the current folder and PYTHONPATH
        return subprocess.CompletedProcess(cmd, 1, "", "error: no compiler\n")

    monkeypatch.setattr(aot.subprocess, "run", fail)
    monkeypatch.setattr(aot, "can_build", lambda: True)
    assert aot.build(t) is False and len(runs) == 1
    assert "no compiler" in t.failed_marker.read_text() and aot.platform.node() in t.failed_marker.name
    assert oct(os.stat(cache).st_mode & 0o777) == "0o700"
    assert aot.build(t) is False and len(runs) == 1  # scans do not try again ...
    ok, message = aot.prepare()  # ... the explicit command does
    assert not ok and len(runs) == 2 and "says why" in message


# ------------------------------------------------------------------------------------------- the entry points


@pytest.fixture(scope="module")
def entry():
    e = aot.load()
    if e is None:
        pytest.skip("no kernels compiled ahead of time here (another system, or no C compiler)")
    return e


def _pass1_args(x: np.ndarray):
    return x.view("<u4"), x, np.zeros((2, 65536), np.int64), np.zeros(14, np.int64), np.zeros(9)


def test_entry_points_refuse_wrong_types_instead_of_crashing(entry):
    """The compiled module cannot report a wrong argument (it would crash the process): the entry points check
    each one first and raise TypeError."""
    x = np.linspace(-1, 1, 1000, dtype=np.float32)
    u, v, tables, ist, fst = _pass1_args(x)
    with pytest.raises(TypeError, match="no compiled pass"):
        entry.pass1(u.view("<i4"), v, tables, ist, fst, 31, 0x7FFFFFFF, 0x7F800000)
    with pytest.raises(TypeError, match="<i8 2-D"):
        entry.pass1(u, v, tables.astype(np.int32), ist, fst, 31, 0x7FFFFFFF, 0x7F800000)
    with pytest.raises(TypeError, match="1-D"):
        entry.pass1(u, v, tables, ist.reshape(2, 7), fst, 31, 0x7FFFFFFF, 0x7F800000)
    ro = ist.copy()
    ro.flags.writeable = False  # results written into a copy would be lost: refused
    with pytest.raises(TypeError, match="writable"):
        entry.pass1(u, v, tables, ro, fst, 31, 0x7FFFFFFF, 0x7F800000)
    counts, buf = np.zeros((4, 18), np.int64), np.empty(64, np.int32)
    with pytest.raises(TypeError, match="no compiled histogram"):
        entry.pass2(v.astype(np.float16), np.linspace(-1, 1, 17), 2.0, False, 0.0, 0.1, counts, buf)
    # the compiled code checks no bounds: arrays of the wrong size are refused, not overrun
    with pytest.raises(ValueError, match="wrong size"):
        entry.pass1(u, v, tables[:1].copy(), ist, fst, 31, 0x7FFFFFFF, 0x7F800000)
    with pytest.raises(ValueError, match="wrong size"):
        entry.pass1(u[:10].copy(), v, tables, ist, fst, 31, 0x7FFFFFFF, 0x7F800000)
    with pytest.raises(ValueError, match="wrong size"):
        entry.pass2(v, np.linspace(-1, 1, 33), 2.0, False, 0.0, np.float32(0.1), counts, buf)


def test_entry_points_copy_odd_inputs(entry):
    """Inputs that are strided, read-only or unaligned are copied; the results are those of the plain array."""
    x = np.random.default_rng(0).standard_normal(4000).astype(np.float32)
    want = _pass1_args(x)
    entry.pass1(*want, 31, 0x7FFFFFFF, 0x7F800000)
    y = np.repeat(x, 2)[::2]  # strided
    y.flags.writeable = False
    assert not y.flags.c_contiguous
    got = (y.view("<u4"), y, *_pass1_args(x)[2:])
    entry.pass1(*got, 31, 0x7FFFFFFF, 0x7F800000)
    for a, b in zip(want[2:], got[2:]):
        assert np.array_equal(a, b)


def test_a_scan_says_when_it_compiles_the_kernels_first(cache, monkeypatch, small_model):
    """The first scan on a machine without the module builds it (about 15 s): the progress callback hears why the
    bar stands still; the scan then goes on (here with the numpy path: the build is made to fail)."""
    from inspector import ScanOptions, scan
    from inspector.core.measure import kernels

    monkeypatch.setattr(aot, "can_build", lambda: True)
    monkeypatch.setattr(aot.subprocess, "run", lambda cmd, **k: subprocess.CompletedProcess(cmd, 1, "", "no cc"))
    monkeypatch.setattr(kernels, "_compiled", None)
    monkeypatch.setattr(kernels, "_failed", False)
    monkeypatch.setattr(kernels, "_jit", lambda: None)
    messages: list[str] = []
    r = scan(
        small_model, ScanOptions(jit=True, hash=False, detectors=False), progress=lambda d, t, m: messages.append(m)
    )
    assert aot.BUILDING in messages
    assert r.tensor("fc1.weight").stats.count == 128 * 64


def test_a_module_that_does_not_load_never_makes_a_small_scan_import_numba(tmp_path):
    """A small model takes the kernels only from a module that loads; a damaged one is set aside and the scan
    takes numpy, without numba's 0.35 s import."""
    if aot.cpu_level() is None:
        pytest.skip("no ahead-of-time kernels on this system")
    code = (
        "import sys\n"
        "from inspector.core.measure import aot, kernels\n"
        "t = aot.target()\n"
        "t.path.parent.mkdir(parents=True, mode=0o700)\n"
        "t.path.write_bytes(b'not a module'); t.digest_file.write_text('0' * 64 + ' 12')\n"
        "assert aot.ready()\n"
        "k = kernels.plan(None, {'F32': 4 * kernels.AOT_MIN_BYTES})\n"
        "print(k is None, 'numba' in sys.modules, t.path.exists())\n"
    )
    env = dict(os.environ, **{aot.ENV_CACHE: str(tmp_path / "cache")})
    env.pop(aot.ENV_NO_AOT, None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False", "False"]
