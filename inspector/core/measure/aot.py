"""The scan kernels compiled ahead of time, once per machine, and loaded in a millisecond without numba.

The numba JIT costs every process that scans a big model about 0.35 CPU-s before its first chunk: importing numba
(0.2 s) and loading its cached machine code. That is a third of the command on a 250 MB model. Here the same kernel
sources (:mod:`.kernels`) are compiled by numba's ahead-of-time compiler into a Python extension module, kept in
the user's cache folder; later processes import that module, which needs neither numba nor LLVM.

- **When it is built**: by ``scripts/install.sh`` (``model-inspector kernels``), or else by the first
  scan that wants the kernels, in a child process (about 15 s, once). The build needs numba, setuptools and a C
  compiler; where it cannot run, the scan uses the numba JIT as before (and numpy without numba). A failed build is
  remembered beside the module, so that later scans do not try again; ``--force`` does.
- **For which machine**: the instruction-set level this CPU offers (x86-64 v2, v3 or v4, read from
  ``/proc/cpuinfo``) is what the code is compiled for, and part of the module's name, with a digest of the kernel
  sources and the Python ABI: a cache folder shared by machines (a home folder on NFS) never hands one of them
  code built for another, and an edited kernel source is never answered by an old module. Other systems and CPUs
  use the JIT, which compiles for the host in-process.
- **Loaded only from safe places**: a module is machine code run in this process, so it is loaded only from a
  folder owned by this user that nobody else may write, and only when the file is owned by this user and
  nobody else may write it either.
- **Same results as the JIT**: the functions are the JIT's, compiled with the same flags; the entry points check
  every argument's type, layout, writability and the sizes the kernels assume, and copy an odd input, because
  the compiled module cannot report a wrong argument (it would crash the process).
- **A damaged module is not loaded**: the build records the module's SHA-256 and size beside it (both written to
  disk before the module is renamed into place); a load opens the file once, checks it against that record and
  loads what it checked. A module that fails the check or does not load is removed and built again.

``MODEL_INSPECTOR_NO_AOT=1`` skips the module (the JIT is used); ``MODEL_INSPECTOR_CACHE_DIR`` moves the cache
(default ``$XDG_CACHE_HOME/model-inspector``, else ``~/.cache/model-inspector``).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import logging
import os
import platform
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Callable, Optional

import numpy as np

from inspector.core.measure.features import PHASES, WINDOW

log = logging.getLogger(__name__)

ENV_NO_AOT = "MODEL_INSPECTOR_NO_AOT"
ENV_CACHE = "MODEL_INSPECTOR_CACHE_DIR"
#: How long the child process that compiles the module may run.
BUILD_TIMEOUT_S = 600

#: x86-64 micro-architecture levels, as LLVM names them, and the /proc/cpuinfo flags each needs (beyond the
#: level below it): code compiled for a level runs on every CPU that reports these flags.
_LEVELS: tuple[tuple[str, frozenset[str]], ...] = (
    ("x86-64-v2", frozenset({"cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3"})),
    ("x86-64-v3", frozenset({"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"})),
    ("x86-64-v4", frozenset({"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"})),
)

#: Raw-storage and value types of each float layout the kernels read (see ``kernels._LAYOUT``): one compiled
#: entry point per pair.
_LAYOUTS = {"f32": ("<u4", "<f4"), "f16": ("<u2", "<f4"), "f64": ("<i8", "<f8")}
_NUMBA = {"<u4": "u4", "<u2": "u2", "<i8": "i8", "<f4": "f4", "<f8": "f8"}
#: histogram entry points: (values, edges); the edges take np.histogram's type, float32 or float64
_HISTS = (("<f4", "<f4"), ("<f4", "<f8"), ("<f8", "<f8"), ("<f8", "<f4"))


def level_of(flags: set[str] | frozenset[str]) -> str:
    """The highest x86-64 level these CPU flags reach ("" for the baseline)."""
    best, need = "", set[str]()
    for name, more in _LEVELS:
        need |= more
        if not need <= flags:
            break
        best = name
    return best


@cache
def cpu_level() -> Optional[str]:
    """This machine's x86-64 level, from the first ``flags`` line of /proc/cpuinfo; ``None`` where it cannot be
    read (another system or CPU: no ahead-of-time module there)."""
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        return None
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return level_of(set(line.partition(":")[2].split()))
    except OSError:
        return None
    return None


def cache_dir() -> Optional[Path]:
    """Where compiled kernels are kept: ``$MODEL_INSPECTOR_CACHE_DIR/kernels``, or the XDG cache folder; ``None``
    where there is no home to keep them in."""
    root = os.environ.get(ENV_CACHE) or os.environ.get("XDG_CACHE_HOME")
    if not root:
        home = os.path.expanduser("~")
        if home == "~" or not os.path.isabs(home):  # no HOME and no passwd entry: nowhere of this user's own
            return None
        root = os.path.join(home, ".cache")
    if not os.environ.get(ENV_CACHE):
        root = os.path.join(root, "model-inspector")
    return Path(root) / "kernels" if os.path.isabs(root) else None


def package_dir() -> Path:
    """The folder holding the ``inspector`` package this process runs (the build child imports that one)."""
    return Path(__file__).resolve().parents[3]


@cache
def _sources_digest() -> str:
    """Digest of the kernel sources and of this file (which holds the entry points' signatures), with numpy's
    major version (a module is built against one numpy ABI)."""
    h = hashlib.sha256()
    here = Path(__file__).resolve()
    for p in (here.with_name("kernels.py"), here):
        h.update(p.read_bytes())
    h.update(np.__version__.split(".")[0].encode())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Target:
    """The module this machine and these sources call for."""

    name: str  # the extension's import name (its PyInit_ symbol)
    path: Path
    cpu: str  # LLVM CPU name to compile for ("" = the x86-64 baseline)

    @property
    def digest_file(self) -> Path:
        """SHA-256 and size of the module as built, checked before every load."""
        return self.path.with_name(self.name + ".sha256")

    @property
    def failed_marker(self) -> Path:
        """Why the last automatic build failed on this host (a shared home serves hosts with other compilers)."""
        host = "".join(c if c.isalnum() or c in "-_" else "_" for c in platform.node()) or "host"
        return self.path.with_name(f"{self.name}.{host}.failed")


def target() -> Optional[Target]:
    """The module for this machine, or ``None`` where there is none to have (another system, or disabled)."""
    if os.environ.get(ENV_NO_AOT, "").strip().lower() not in ("", "0", "false", "no"):
        return None
    level = cpu_level()
    folder = cache_dir()
    if level is None or folder is None:
        return None
    try:
        digest = _sources_digest()
    except OSError:  # sources not on disk (a frozen app): nothing to key the module on
        return None
    tag = level.rsplit("-", 1)[-1] if level else "v1"
    name = f"scan_kernels_{digest}_{tag}"
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    return Target(name, folder / (name + suffix), level)


def _private_stat(st: os.stat_result, is_dir: bool) -> bool:
    kind_ok = stat.S_ISDIR(st.st_mode) if is_dir else stat.S_ISREG(st.st_mode)
    owner_ok = not hasattr(os, "getuid") or st.st_uid == os.getuid()
    return kind_ok and owner_ok and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _private(p: Path, is_dir: bool) -> bool:
    """Whether ``p`` is this user's own, writable by nobody else (a folder, or a regular file; no link)."""
    try:
        return _private_stat(os.lstat(p), is_dir)
    except OSError:
        return False


def _recorded(t: Target) -> Optional[tuple[str, int]]:
    """The SHA-256 and size the build recorded for the module (``None``: none, or not this user's alone)."""
    if not _private(t.digest_file, False):
        return None
    try:
        digest, size = t.digest_file.read_text(encoding="ascii").split()
        return digest, int(size)
    except (OSError, ValueError):
        return None


def _import(t: Target) -> Optional[ModuleType]:
    """Load the module, or ``None``. The folder, the file and its recorded digest must be this user's alone; the
    file is opened once (no link followed), checked against the digest (a module cut short by a crash or a full
    disk would crash the process when loaded), and loaded through that open descriptor, so that what was
    checked is what is loaded."""
    if not _private(t.path.parent, True):
        if t.path.parent.exists():
            log.warning("not loading compiled kernels from %s: the folder is not this user's alone", t.path.parent)
        return None
    want = _recorded(t)
    try:
        fd = os.open(t.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not _private_stat(st, False):
            log.warning("not loading %s: it is not this user's alone (scans use numba's JIT)", t.path)
            return None
        data = b"".join(iter(lambda: os.read(fd, 1 << 20), b""))
        if want is None or (hashlib.sha256(data).hexdigest(), len(data)) != want or st.st_size != len(data):
            log.warning("the compiled kernels in %s are damaged or unrecorded: not loaded", t.path)
            _set_aside(t)
            return None
        where = f"/proc/self/fd/{fd}"
        loader = importlib.machinery.ExtensionFileLoader(t.name, where)
        spec = importlib.util.spec_from_file_location(t.name, where, loader=loader)
        if spec is None or spec.loader is None:
            return None
        try:
            mod = importlib.util.module_from_spec(spec)  # loads the library
            spec.loader.exec_module(mod)
        except (ImportError, OSError) as e:  # another Python, or a folder mounted noexec
            log.warning("the compiled kernels in %s do not load (%s): scans use numba's JIT", t.path, e)
            _set_aside(t)
            return None
        return mod
    finally:
        os.close(fd)


def _set_aside(t: Target) -> None:
    """Remove a module that cannot be used, so that the next build replaces it (it is rebuilt, not trusted)."""
    for p in (t.path, t.digest_file):
        try:
            p.unlink()
        except OSError:
            pass


def can_build() -> bool:
    """Whether this process could compile the module: numba's ahead-of-time compiler and a C compiler."""
    if getattr(sys, "frozen", False):
        return False
    try:
        if importlib.util.find_spec("numba") is None or importlib.util.find_spec("setuptools") is None:
            return False
    except (ImportError, ValueError):  # blocked (sys.modules entry None) or broken
        return False
    return any(shutil.which(c) for c in (os.environ.get("CC", ""), "cc", "gcc", "clang") if c)


def _writable_folder(t: Target) -> bool:
    """Make the cache folder (this user's only) and say whether a build can write there."""
    try:
        t.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        log.info("no cache folder for the compiled kernels (%s)", e)
        return False
    if not _private(t.path.parent, True):
        log.warning("not building kernels into %s: the folder is not this user's alone", t.path.parent)
        return False
    return os.access(t.path.parent, os.W_OK | os.X_OK)


def build(t: Target, force: bool = False, note: Optional[Callable[[str], None]] = None) -> bool:
    """Compile the module for ``t`` in a child process (about 15 s); whether a loadable module is in place after.
    A failure is written beside it (for this host) and not tried again by scans unless ``force``; an explicit
    ``model-inspector kernels`` always tries."""
    if t.path.exists() and not force:
        return True
    if t.failed_marker.exists() and not force:
        return False
    if not _writable_folder(t):
        return False
    if note is not None:
        note(BUILDING)
    log.info("compiling the scan kernels for this machine (once, about 15 s) into %s", t.path)
    # -I: the child ignores the current folder, PYTHONPATH and the user's site (a model folder holding an
    # ``inspector`` directory must not be what gets compiled and trusted); it imports this very package, and
    # refuses to build if its sources are not the ones the module is named after
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from inspector.core.measure.aot import child_main; sys.exit(child_main(sys.argv[2:]))"
    )
    cmd = [sys.executable, "-I", "-c", code, str(package_dir()), t.name, str(t.path), t.cpu]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, cwd=t.path.parent)
        ok, why = out.returncode == 0 and t.path.exists(), (out.stderr or out.stdout)[-2000:]
    except (OSError, subprocess.SubprocessError) as e:
        ok, why = False, str(e)
    if ok:
        try:
            t.failed_marker.unlink()
        except OSError:
            pass
        _prune(t)
        return True
    log.info("the scan kernels could not be compiled ahead of time; the JIT is used:\n%s", why)
    try:
        t.failed_marker.write_text(why or "failed\n")
    except OSError:
        pass
    return False


#: Modules of other kernel sources (older installs) left unused this long are removed after a build.
PRUNE_AFTER_S = 30 * 24 * 3600


def _prune(t: Target) -> None:
    """Remove other sources' modules left unused for :data:`PRUNE_AFTER_S`, and build folders a killed build
    left behind a day ago or more."""
    now = time.time()
    for p in t.path.parent.glob("scan_kernels_*"):
        if p.name.startswith(t.name):
            continue
        try:
            if now - p.stat().st_mtime > PRUNE_AFTER_S:
                p.unlink()
        except OSError:
            pass
    for d in t.path.parent.glob(".build-*"):
        try:
            if d.is_dir() and not d.is_symlink() and now - d.stat().st_mtime > 24 * 3600:
                shutil.rmtree(d, ignore_errors=True)
        except OSError:
            pass


def ready() -> bool:
    """Whether this machine's module is built (a file test: nothing is loaded)."""
    t = target()
    return t is not None and t.path.is_file() and t.digest_file.is_file()


#: What a scan that builds the module first says meanwhile (the progress bar would otherwise sit still).
BUILDING = "compiling kernels (once, ~15 s)"


def load(build_missing: bool = True, note: Optional[Callable[[str], None]] = None) -> Optional[Entry]:
    """The compiled kernels' entry points for this machine, or ``None``; builds the module first where it is
    missing (or was set aside as damaged) and can be built (``build_missing``), saying so through ``note``."""
    t = target()
    if t is None:
        return None
    mod = _import(t) if t.path.exists() else None
    if mod is None and build_missing and not t.path.exists() and can_build() and build(t, note=note):
        mod = _import(t)
        if mod is None:  # built, yet it does not load (a folder mounted noexec): do not build again each scan
            try:
                t.failed_marker.write_text("built, but the module does not load from this folder\n")
            except OSError:
                pass
    return Entry(mod) if mod is not None else None


# --------------------------------------------------------------------------------------------------------------
# Entry points: the module's typed functions behind checks of every argument


def _arr(a: np.ndarray, dtype: str, ndim: int = 1) -> np.ndarray:
    """``a`` as the compiled signature takes it (C-contiguous, aligned, writable, exactly ``dtype``): itself, or
    a copy; ``TypeError`` for another dtype or shape."""
    if not isinstance(a, np.ndarray) or a.dtype.str != dtype or a.ndim != ndim:
        got = f"{a.dtype.str} {a.ndim}-D" if isinstance(a, np.ndarray) else type(a).__name__
        raise TypeError(f"compiled kernels take {dtype} {ndim}-D arrays here, not {got}")
    f = a.flags
    if f.c_contiguous and f.aligned and f.writeable:
        return a
    return np.array(a, order="C", copy=True)


def _out(a: np.ndarray, dtype: str, ndim: int = 1) -> np.ndarray:
    """An array the kernel writes into: it must be usable as it is (a copy would lose the results)."""
    b = _arr(a, dtype, ndim)
    if b is not a:
        raise TypeError("compiled kernels write into C-contiguous, aligned, writable arrays only")
    return a


class Entry:
    """The five operations :class:`~.kernels.Kernels` calls, dispatched to the module's typed functions."""

    def __init__(self, mod: ModuleType) -> None:
        self.module = mod
        self._p1 = {lay: getattr(mod, f"pass1_{tag}") for tag, lay in _LAYOUTS.items()}
        self._fe = {lay: getattr(mod, f"features_{tag}") for tag, lay in _LAYOUTS.items()}
        self._hi = {pair: getattr(mod, _hist_name(*pair)) for pair in _HISTS}
        self._wi = mod.widen_f16
        self._sp = mod.split_f32

    def pass1(self, u, v, tables, ist, fst, sign_shift, abs_mask, inf_bits) -> None:
        lay = (u.dtype.str, v.dtype.str)
        f = self._p1.get(lay)
        if f is None:
            raise TypeError(f"no compiled pass for {lay}")
        u, v = _arr(u, lay[0]), _arr(v, lay[1])
        _sizes(u.size == v.size, ist.size >= 14, fst.size >= 9, tables.shape == (u.itemsize // 2, 65536))
        f(
            u,
            v,
            _out(tables, "<i8", 2),
            _out(ist, "<i8"),
            _out(fst, "<f8"),
            int(sign_shift),
            int(abs_mask),
            int(inf_bits),
        )

    def features(self, u, v, fi, ff, rs, rq, rc, rp, wc, wl, bc, bl, abs_mask, inf_bits, min_bits) -> bool:
        lay = (u.dtype.str, v.dtype.str)
        f = self._fe.get(lay)
        if f is None:
            raise TypeError(f"no compiled features for {lay}")
        u, v = _arr(u, lay[0]), _arr(v, lay[1])
        _sizes(
            u.size == v.size,
            fi.size >= 24 and ff.size >= 21,
            rs.size == rq.size == rc.size == rp.size == PHASES,
            wc.size == bc.size == 256 and wl.size == bl.size and wl.size in (1, WINDOW),
        )
        i8, f8, u1 = "<i8", "<f8", "|u1"
        return bool(
            f(
                u,
                v,
                _out(fi, i8),
                _out(ff, f8),
                _out(rs, f8),
                _out(rq, f8),
                _out(rc, i8),
                _out(rp, i8),
                _out(wc, i8),
                _out(wl, u1),
                _out(bc, i8),
                _out(bl, u1),
                int(abs_mask),
                int(inf_bits),
                int(min_bits),
            )
        )

    def pass2(self, v, edges, denom, exact, tol, thr, counts, buf) -> int:
        pair = (v.dtype.str, edges.dtype.str)
        f = self._hi.get(pair)
        if f is None:
            raise TypeError(f"no compiled histogram for {pair}")
        v, edges = _arr(v, pair[0]), _arr(edges, pair[1])
        _sizes(edges.size >= 2, counts.shape == (4, edges.size + 1), buf.size >= 1)
        thr = v.dtype.type(thr)
        return int(f(v, edges, float(denom), bool(exact), float(tol), thr, _out(counts, "<i8", 2), _out(buf, "<i4")))

    def widen(self, u, lut, out) -> None:
        _sizes(lut.size == 65536, out.size >= u.size)
        self._wi(_arr(u, "<u2"), _arr(lut, "<f4"), _out(out, "<f4"))

    def split(self, u, v, thr16, above, edges, denom, thr, each) -> int:
        u, v, edges, thr16 = _arr(u, "<u4"), _arr(v, "<f4"), _arr(edges, "<f4"), _arr(thr16, "<i4")
        _sizes(u.size == v.size, thr16.size == above.size == 65536, edges.size >= 2 and each.size >= edges.size - 1)
        return int(self._sp(u, v, thr16, _out(above, "<i8"), edges, float(denom), np.float32(thr), _out(each, "<i8")))


def _sizes(*ok: bool) -> None:
    """The compiled code does not check bounds: arrays of the wrong size are refused here."""
    if not all(ok):
        raise ValueError("compiled kernels got arrays of the wrong size")


def _hist_name(values: str, edges: str) -> str:
    return f"hist_{_NUMBA[values]}_{_NUMBA[edges]}"


# --------------------------------------------------------------------------------------------------------------
# The build, in a child process (it turns the kernel sources into numba functions: never in a scanning process)


def _compile(name: str, dest: Path, cpu: str) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pycc's pending-deprecation notice
        from numba import njit
        from numba.pycc import CC
        from numba.pycc import compiler as pycc_compiler

    # pycc's wrappers hold the GIL while the kernel runs (its Flags() leaves release_gil off), which would leave
    # one core to all the scan's workers: the JIT's kernels are nogil, and so must these be. Checked after the
    # build (the module must call PyEval_SaveThread); a numba that moved this class fails that check and the JIT is used.
    base_flags = pycc_compiler.Flags

    class NoGilFlags(base_flags):  # type: ignore[misc,valid-type]
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.release_gil = True

    pycc_compiler.Flags = NoGilFlags  # type: ignore[misc]

    from inspector.core.measure import kernels

    drivers = kernels.compile_kernels(njit)
    p1, fe, hi, wi, sp = drivers["pass1"], drivers["features"], drivers["pass2"], drivers["widen"], drivers["split"]

    def pass1(u, v, tables, ist, fst, a, b, c):  # pragma: no cover - compiled
        p1(u, v, tables, ist, fst, a, b, c)

    def features(u, v, fi, ff, rs, rq, rc, rp, wc, wl, bc, bl, a, b, c):  # pragma: no cover - compiled
        return fe(u, v, fi, ff, rs, rq, rc, rp, wc, wl, bc, bl, a, b, c)

    def hist(v, edges, denom, exact, tol, thr, counts, buf):  # pragma: no cover - compiled
        return hi(v, edges, denom, exact, tol, thr, counts, buf)

    def widen(u, lut, out):  # pragma: no cover - compiled
        wi(u, lut, out)

    def split(u, v, thr16, above, edges, denom, thr, each):  # pragma: no cover - compiled
        return sp(u, v, thr16, above, edges, denom, thr, each)

    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".build-") as tmp:
        cc = CC(name)
        cc.output_dir = tmp
        cc.target_cpu = cpu
        for tag, (us, vs) in _LAYOUTS.items():
            u, v = _NUMBA[us] + "[::1]", _NUMBA[vs] + "[::1]"
            cc.export(f"pass1_{tag}", f"void({u}, {v}, i8[:, ::1], i8[::1], f8[::1], i8, i8, i8)")(pass1)
            arrays = "i8[::1], f8[::1], f8[::1], f8[::1], i8[::1], i8[::1], i8[::1], u1[::1], i8[::1], u1[::1]"
            cc.export(f"features_{tag}", f"b1({u}, {v}, {arrays}, i8, i8, i8)")(features)
        for vs, es in _HISTS:
            vn, en = _NUMBA[vs], _NUMBA[es]
            sig = f"i8({vn}[::1], {en}[::1], f8, b1, f8, {vn}, i8[:, ::1], i4[::1])"
            cc.export(_hist_name(vs, es), sig)(hist)
        cc.export("widen_f16", "void(u2[::1], f4[::1], f4[::1])")(widen)
        sig = "i8(u4[::1], f4[::1], i4[::1], i8[::1], f4[::1], f8, f4, i8[::1])"
        cc.export("split_f32", sig)(split)
        cc.compile()
        built = Path(tmp) / cc.output_file
        data = built.read_bytes()
        if b"PyEval_SaveThread" not in data:  # the wrappers would hold the GIL (see NoGilFlags)
            raise RuntimeError("the compiled wrappers do not release the GIL: this numba's pycc differs")
        os.chmod(built, 0o755)
        record = Path(tmp) / "digest"
        record.write_text(f"{hashlib.sha256(data).hexdigest()} {len(data)}\n", encoding="ascii")
        for f in (built, record):
            fd = os.open(f, os.O_RDONLY)
            try:
                os.fsync(fd)  # on disk before the rename: a crash leaves no module, or a whole one
            finally:
                os.close(fd)
        t = Target(name, dest, cpu)
        os.replace(built, dest)  # atomic: a scan running beside the build sees no module or a whole one
        os.replace(record, t.digest_file)
        dfd = os.open(dest.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def prepare(force: bool = False) -> tuple[bool, str]:
    """Build this machine's module now unless it is there and loads (``force``: build again); whether compiled
    kernels are ready (or none belong on this system), and one line saying where or why not
    (``model-inspector kernels``; the install script runs it). An earlier failed build is always tried again."""
    t = target()
    if t is None:
        return True, "no ahead-of-time kernels on this system (or MODEL_INSPECTOR_NO_AOT is set): scans use numba's JIT"
    if not force and t.path.exists() and _import(t) is not None:
        return True, f"compiled kernels ready ({t.cpu or 'x86-64'}): {t.path}"
    if not can_build():
        return False, "numba, setuptools or a C compiler is missing: scans use numba's JIT, or numpy without numba"
    if build(t, force=True) and _import(t) is not None:
        return True, f"compiled kernels ready ({t.cpu or 'x86-64'}): {t.path}"
    if t.path.exists() and _import(t) is not None:  # a forced rebuild failed; the module built before is intact
        return False, f"the rebuild failed ({t.failed_marker} says why); the module built before is still used"
    return False, f"no compiled kernels: scans use numba's JIT ({t.failed_marker} says why)"


def child_main(argv: list[str]) -> int:
    """The child process of :func:`build`: ``NAME PATH CPU``. Refuses to compile sources other than those the
    module is named after."""
    name, dest = argv[0], Path(argv[1])
    if name.split("_")[2:3] != [_sources_digest()]:
        print(f"the sources at {package_dir()} are not those {name} is named after", file=sys.stderr)
        return 1
    _compile(name, dest, argv[2] if len(argv) > 2 else "")
    return 0
