"""Safety rules checked on the source itself (docs/architecture.md, "Safety rules"): torch is imported only inside
functions, only where a model is run; nothing calls torch.load on a file. The layers contract is tests/test_layers.py."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "inspector"


def _imports(tree: ast.AST, top_level_only: bool):
    nodes = tree.body if top_level_only else ast.walk(tree)  # type: ignore[attr-defined]
    for node in nodes:
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _py(folder: Path):
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def test_torch_is_never_imported_at_module_level_in_core_or_cli():
    bad = []
    for folder in ("core", "cli"):
        for p in _py(ROOT / folder):
            for mod in _imports(ast.parse(p.read_text(encoding="utf-8")), top_level_only=True):
                if mod.split(".")[0] == "torch":
                    bad.append(str(p.relative_to(ROOT)))
    assert not bad, f"module-level torch imports (import it inside the function that runs a model): {bad}"


def test_nothing_calls_torch_load_on_user_files():
    offenders = []
    for p in _py(ROOT):
        tree = ast.parse(p.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                f = node.func
                if f.attr in ("load",) and isinstance(f.value, ast.Name) and f.value.id == "torch":
                    offenders.append(f"{p.relative_to(ROOT)}:{node.lineno}")
                if f.attr == "load" and isinstance(f.value, ast.Attribute) and f.value.attr in ("jit", "export"):
                    offenders.append(f"{p.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, f"torch.load / torch.jit.load / torch.export.load called in: {offenders}"


def test_nothing_cites_files_outside_the_repository():
    repo = ROOT.parent
    outside = ("DESIGN" + ".md", "RESEARCH" + ".md", "STYLE" + ".md", "../" + "shared")
    texts = [repo / "README.md", repo / "pyproject.toml"]
    for folder in ("inspector", "tests", "docs", "scripts", "packaging", "benchmarks", ".ci"):
        texts += [
            p for p in (repo / folder).rglob("*") if p.is_file() and p.suffix in ("", ".py", ".md", ".sh", ".toml")
        ]
    bad = [
        f"{p.relative_to(repo)}: {name}"
        for p in texts
        if "__pycache__" not in p.parts
        for name in outside
        if name in p.read_text(encoding="utf-8", errors="replace")
    ]
    assert len(texts) > 100
    assert not bad, "say it in the repository's own words (docs/architecture.md) instead of citing:\n" + "\n".join(bad)
