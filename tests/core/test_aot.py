"""The kernels compiled ahead of time: which machine code a machine gets, where it may be loaded from, what the
entry points accept, and what a failed build leaves. (That they equal the numpy path is tests/core/test_kernels.py,
run once for them and once for the JIT.)"""

from __future__ import annotations

import os
import subprocess

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
    assert aot.load(build_missing=False) is None
    t.path.chmod(0o755)
    # safe place, damaged file: an ImportError, answered by the JIT (None here), never a crash
    assert aot.load(build_missing=False) is None


def test_failed_build_is_remembered(cache, monkeypatch):
    t = aot.target()
    runs = []

    def fail(cmd, **kwargs):
        runs.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "error: no compiler\n")

    monkeypatch.setattr(aot.subprocess, "run", fail)
    assert aot.build(t) is False and len(runs) == 1
    assert "no compiler" in t.failed_marker.read_text()
    assert oct(os.stat(cache).st_mode & 0o777) == "0o700"
    assert aot.build(t) is False and len(runs) == 1  # not tried again ...
    assert aot.build(t, force=True) is False and len(runs) == 2  # ... unless asked to


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
    monkeypatch.setattr(aot, "build", lambda t, force=False: False)
    monkeypatch.setattr(kernels, "_compiled", None)
    monkeypatch.setattr(kernels, "_failed", False)
    monkeypatch.setattr(kernels, "_jit", lambda: None)
    messages: list[str] = []
    r = scan(
        small_model, ScanOptions(jit=True, hash=False, detectors=False), progress=lambda d, t, m: messages.append(m)
    )
    assert aot.BUILDING in messages
    assert r.tensor("fc1.weight").stats.count == 128 * 64
