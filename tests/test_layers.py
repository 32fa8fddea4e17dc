"""The layers contract, checked on the source (every import statement, including those inside functions):

- ``inspector.core`` imports nothing outside itself (no Qt, no front end, no lab) except the version source;
- code outside core (cli, qt, fleet, lab, the top-level facade) reaches core through package facades only
  (``inspector.core.<package>``, never a module inside it);
- no private name (``_x``) is imported from another module, and a private module only from inside its package;
- the core packages (formats, measure, judge, scrub, evaluate, report, …) import each other without cycles, and
  the foundation modules (errors, progress, dtypes, resources) import no other core package;
- ``import inspector`` is lazy (PEP 562): importing one core module does not load the rest.

docs/architecture.md describes the layers these rules keep apart.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "inspector"
QT = ("PySide6", "pyqtgraph", "shiboken6")
FOUNDATION = ("errors", "progress", "dtypes", "resources")


# --- pending: generated from the tree, then only deleted from ---
# Violations that predate the contract. A new violation fails, and so does an entry that no longer occurs:
# the lists can only shrink. Regenerate nothing; delete an entry when its import is fixed.
#: Imports of a module inside a core package from outside core (use the facade).
PENDING_DEEP: frozenset[str] = frozenset()
#: Private names imported across modules.
PENDING_PRIVATE: frozenset[str] = frozenset()
#: Core package imports that close a cycle (the measure/judge split removes them).
PENDING_BACK_EDGES: frozenset[tuple[str, str]] = frozenset()
# --- end of pending ---


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PKG.rglob("*.py")) if "__pycache__" not in p.parts}


def _imports(name: str) -> list[tuple[int, str, str | None]]:
    """(line, module, imported name or None) for every import in module ``name``; ``from pkg import sub`` of a
    submodule is reported as the module ``pkg.sub``; relative imports are resolved."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[tuple[int, str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:
                sub = f"{mod}.{a.name}"
                out.append((node.lineno, sub, None) if sub in MODULES else (node.lineno, mod, a.name))
    return out


IMPORTS = {m: _imports(m) for m in MODULES}


def _is_package(module: str) -> bool:
    return module in MODULES and MODULES[module].name == "__init__.py"


def _private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def test_the_contract_sees_the_code():
    # a guard against a contract that passes because it parsed nothing
    assert {"inspector.core.formats", "inspector.core.measure", "inspector.cli", "inspector.qt"} <= set(MODULES)
    assert sum(len(v) for v in IMPORTS.values()) > 300


def test_core_imports_only_core():
    bad = [
        f"{m}:{line} imports {mod}"
        for m, imps in IMPORTS.items()
        if m.startswith("inspector.core")
        for line, mod, _ in imps
        if mod.split(".")[0] in QT
        or (mod.split(".")[0] == "inspector" and not mod.startswith(("inspector.core", "inspector._version")))
    ]
    assert not bad, "core must not import Qt, a front end, the lab or the top-level facade:\n" + "\n".join(bad)


def _deep_imports() -> dict[str, str]:
    """Imports from outside core of a module inside a core package (not the package's facade)."""
    found = {}
    for m, imps in IMPORTS.items():
        if m.startswith("inspector.core"):
            continue
        for line, mod, name in imps:
            parts = mod.split(".")
            if parts[:2] == ["inspector", "core"] and len(parts) > 3 and _is_package(".".join(parts[:3])):
                target = mod + (f".{name}" if name else "")
                found[f"{m} -> {target}"] = f"{m}:{line} imports {target}"
    return found


def _private_imports() -> dict[str, str]:
    """Private names imported from another module; private modules imported from outside their package."""
    found = {}
    for m, imps in IMPORTS.items():
        for line, mod, name in imps:
            if mod.split(".")[0] != "inspector":
                continue
            if name is not None and _private(name):
                found[f"{m} -> {mod}.{name}"] = f"{m}:{line} imports private name {mod}.{name}"
            parts = mod.split(".")
            for i, part in enumerate(parts):
                owner = ".".join(parts[:i])
                if _private(part) and not (m == owner or m.startswith(owner + ".")):
                    found[f"{m} -> {mod}"] = f"{m}:{line} imports {mod}, private to {owner}"
    return found


def _ratchet(found: dict[str, str], pending: frozenset[str], rule: str) -> None:
    """Fail on a violation that is not pending, and on a pending entry that no longer occurs (delete it)."""
    new = [found[k] for k in sorted(set(found) - pending)]
    gone = sorted(pending - set(found))
    assert not new, f"{rule}:\n" + "\n".join(new)
    assert not gone, "fixed, so delete from the pending list in tests/test_layers.py:\n" + "\n".join(gone)


def test_outside_core_imports_core_through_facades():
    _ratchet(_deep_imports(), PENDING_DEEP, "import these from the package facade (inspector.core.<package>)")


def test_no_private_names_across_modules():
    _ratchet(
        _private_imports(),
        PENDING_PRIVATE,
        "make the name public (and part of its package facade if used outside) or keep it in its module",
    )


def _core_package(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) >= 3 and parts[:2] == ["inspector", "core"] else None


def _core_graph() -> tuple[dict[str, set[str]], dict[tuple[str, str], list[str]]]:
    edges: dict[str, set[str]] = defaultdict(set)
    why: dict[tuple[str, str], list[str]] = defaultdict(list)
    for m, imps in IMPORTS.items():
        a = _core_package(m)
        if a is None:
            continue
        for line, mod, name in imps:
            b = _core_package(mod)
            if b is not None and b != a:
                edges[a].add(b)
                why[a, b].append(f"{m}:{line} imports {mod}" + (f".{name}" if name else ""))
    return edges, why


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_core_packages_have_no_import_cycles():
    edges, why = _core_graph()
    gone = sorted(f"{a} -> {b}" for a, b in PENDING_BACK_EDGES if b not in edges.get(a, ()))
    assert not gone, "fixed, so delete from PENDING_BACK_EDGES in tests/test_layers.py:\n" + "\n".join(gone)
    for a, b in PENDING_BACK_EDGES:
        edges[a].discard(b)
    lines = []
    for comp in _cycles(edges):
        lines.append(f"cycle between {', '.join(comp)}:")
        lines += [f"    {w}" for a in comp for b in comp if b in edges[a] for w in why[a, b]]
    assert not lines, "\n".join(lines)


def test_foundation_modules_import_no_other_core_package():
    edges, why = _core_graph()
    bad = [w for a in FOUNDATION for b in sorted(edges.get(a, ())) for w in why[a, b]]
    assert not bad, "\n".join(bad)


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    return {m for m in out.stdout.split() if m == "inspector" or m.startswith("inspector.")}


def test_importing_one_core_module_loads_only_that():
    assert _loaded_after("import inspector.core.errors") == {
        "inspector",
        "inspector._version",
        "inspector.core",
        "inspector.core.errors",
    }
    assert _loaded_after("import inspector") == {"inspector", "inspector._version"}


@pytest.mark.parametrize("name", sorted(importlib.import_module("inspector").__all__))
def test_top_level_names_resolve(name):
    import inspector

    assert getattr(inspector, name) is not None
    assert name in dir(inspector)


def test_unknown_top_level_name_is_an_attribute_error():
    import inspector

    with pytest.raises(AttributeError, match="no_such_name"):
        inspector.no_such_name  # noqa: B018


def test_one_version_source():
    from importlib import metadata

    import inspector
    from inspector._version import __version__

    assert inspector.__version__ == __version__
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'dynamic = ["version"]' in pyproject and "inspector._version.__version__" in pyproject
    try:
        installed = metadata.version("model-inspector")
    except metadata.PackageNotFoundError:
        pytest.skip("model-inspector is not installed (pip install -e .)")
    assert installed == __version__, "reinstall (pip install -e .) after changing inspector/_version.py"


def _pending_block() -> str:
    """The pending lists as they stand in the tree, in this file's format (``python tests/test_layers.py``)."""

    def block(name: str, items: list[str]) -> str:
        body = "".join(f'        "{k}",\n' for k in items)
        return (
            f"{name}: frozenset[str] = frozenset(\n    {{\n{body}    }}\n)\n"
            if items
            else f"{name}: frozenset[str] = frozenset()\n"
        )

    return block("PENDING_DEEP", sorted(_deep_imports())) + block("PENDING_PRIVATE", sorted(_private_imports()))


if __name__ == "__main__":  # print the current violations, to paste over the pending lists when some are fixed
    print(_pending_block(), end="")
