"""Dependency direction: a lower layer never imports a higher one (issue 18).

Layers, lowest first: ``medassist`` (settings, schemas, access, audit, db…) ← ``knowledge`` ←
``retrieval`` ← ``tools`` ← ``agents`` ← ``ui``. The rule keeps each layer usable and testable
without the ones above it (tools without the graph, the store without tools, the graph without the
screens). ``bench/`` and ``scripts/`` sit beside the top and may import anything; no layer imports
them, except the command line (``ui/cli.py``), which registers the ``eval``/``bench`` commands of
``bench/cli.py``. Tests are not checked.

Every ``import`` statement counts, including those inside functions and under
``TYPE_CHECKING``: a lazy import is still a dependency. A module may not import a private name
(``_x``) or a private module from another top-level package either: what another package needs
should be public there.

The allow-lists below are for violations not fixed yet; each entry says why and how to fix it.
An entry whose violation is gone fails the test, so the lists only shrink.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LAYERS = {"medassist": 0, "knowledge": 1, "retrieval": 2, "tools": 3, "agents": 4, "ui": 5}
FREE = ("bench", "scripts")  # beside the top: may import anything
CHECKED = (*LAYERS, "bench")
COMPOSITION_ROOTS = {("ui/cli.py", "bench")}  # the command line registers bench's commands

# (module path, imported module) pairs still allowed, each with a one-line reason. Keep it empty.
UPWARD_ALLOWED: dict[tuple[str, str], str] = {}
# (module path, module of ours, private name) triples still allowed. Empty them.
PRIVATE_ALLOWED: dict[tuple[str, str, str], str] = {
    ("bench/drafting_eval.py", "tools.drafting.extract", "_DOSE"):
        "the dose pattern is private to tools/drafting/extract.py: make it public (knowledge/drugs.py?) and import that",
    ("ui/app.py", "retrieval.parsing", "_offline_nlp"):
        "the UI warms up the parser's spaCy pipeline: give retrieval/parsing.py a public warm-up function",
}


@dataclass(frozen=True)
class Import:
    path: str  # relative to the repository, e.g. "medassist/audit.py"
    line: int
    module: str  # absolute dotted name of the imported module
    name: str | None  # the name taken from it (``from m import name``), None for ``import m``


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def imports_of(path: Path) -> list[Import]:
    """Every import in a module (at any depth), relative ones resolved to absolute names."""
    rel = path.relative_to(ROOT).as_posix()
    name, is_package = _module_name(path)
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), rel)):
        if isinstance(node, ast.Import):
            found += [Import(rel, node.lineno, alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found += [Import(rel, node.lineno, module, alias.name) for alias in node.names]
    return found


def _modules() -> list[Path]:
    return sorted(p for pkg in CHECKED for p in (ROOT / pkg).rglob("*.py") if ".venv" not in p.parts)


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def private_uses_of(path: Path) -> list[Import]:
    """Private names a module takes from our packages: ``from m import _x``, ``import m._x``, and
    ``m._x`` where ``m`` names a module of ours (``from retrieval import parsing; parsing._f()``)."""
    found = [i for i in imports_of(path)
             if any(_private(p) for p in i.module.split(".") + ([i.name] if i.name else []))]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bound: dict[str, str] = {}  # local name -> module of ours it refers to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                bound[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if _is_module(f"{node.module}.{alias.name}"):
                    bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    rel = path.relative_to(ROOT).as_posix()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                and _private(node.attr)):
            found.append(Import(rel, node.lineno, bound[node.value.id], node.attr))
    return found


def upward_imports() -> list[str]:
    out = []
    for path in _modules():
        for imp in imports_of(path):
            own, target = imp.path.split("/")[0], imp.module.split(".")[0]
            if own in FREE or target == own:
                continue
            upward = (target in FREE and (imp.path, target) not in COMPOSITION_ROOTS) or (
                target in LAYERS and LAYERS[target] > LAYERS[own])
            if upward and (imp.path, imp.module) not in UPWARD_ALLOWED:
                out.append(f"{imp.path}:{imp.line} ({own}) imports {imp.module} ({target})")
    return out


def private_imports() -> list[str]:
    out = []
    for path in _modules():
        for imp in private_uses_of(path):
            own, target = imp.path.split("/")[0], imp.module.split(".")[0]
            if target == own or target not in (*LAYERS, *FREE):
                continue
            if (imp.path, imp.module, imp.name) not in PRIVATE_ALLOWED:
                out.append(f"{imp.path}:{imp.line} uses {imp.module}" + (f".{imp.name}" if imp.name else ""))
    return out


def test_every_package_is_scanned():
    """The scan sees the modules it claims to check (a moved package would empty it silently)."""
    seen = {p.relative_to(ROOT).parts[0] for p in _modules()}
    assert seen == set(CHECKED)
    assert any(i.module == "medassist.settings" for i in imports_of(ROOT / "retrieval" / "docstore.py"))


def test_no_upward_import():
    assert upward_imports() == []


def test_no_private_name_from_another_package():
    assert private_imports() == []


def import_cycles(package: str) -> list[list[str]]:
    """Groups of modules of ``package`` that import each other, directly or through others."""
    modules = {_module_name(p)[0]: p for p in sorted((ROOT / package).rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = set()
        for imp in imports_of(path):
            target = next((m for m in (f"{imp.module}.{imp.name}" if imp.name else "", imp.module) if m in modules), None)
            if target and target != name:
                graph[name].add(target)

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    reachable = {m: reach(m) for m in modules}
    cycles = {frozenset({m} | {o for o in reachable[m] if m in reachable[o]}) for m in modules if m in reachable[m]}
    return sorted(sorted(c) for c in cycles)


def test_foundation_has_no_import_cycle():
    """The shared package is a tree of small modules (access writes to audit, audit knows nothing of
    access: both take ``User`` from the schemas), so each can be read and tested alone."""
    assert import_cycles("medassist") == []


@pytest.mark.parametrize("allowed", [UPWARD_ALLOWED, PRIVATE_ALLOWED])
def test_allow_lists_are_still_needed(allowed):
    """An allowed violation that was fixed leaves the list: entries cannot outlive their reason."""
    present = {(i.path, i.module) for p in _modules() for i in imports_of(p)}
    present |= {(i.path, i.module, i.name) for p in _modules() for i in private_uses_of(p)}
    assert [k for k in allowed if k not in present] == []


def test_the_checker_catches_what_it_should(tmp_path, monkeypatch):
    """A lazy upward import inside a function, a private name and a private attribute of another
    package's module are reported; a private name from one's own package is not."""
    for pkg in ("retrieval", "medassist"):
        (tmp_path / pkg).mkdir()
    (tmp_path / "medassist" / "settings.py").write_text("", encoding="utf-8")
    (tmp_path / "retrieval" / "bad.py").write_text(
        "def f():\n    from agents.graph import build\n\n"
        "from knowledge.french import _fold\n"
        "from .sibling import _ok\n"
        "from medassist import settings\n"
        "settings._cache()\n",
        encoding="utf-8")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    monkeypatch.setitem(globals(), "CHECKED", ("retrieval",))
    assert upward_imports() == ["retrieval/bad.py:2 (retrieval) imports agents.graph (agents)"]
    assert private_imports() == ["retrieval/bad.py:4 uses knowledge.french._fold",
                                 "retrieval/bad.py:7 uses medassist.settings._cache"]
    (tmp_path / "medassist" / "a.py").write_text("def f():\n    from medassist import b\n", encoding="utf-8")
    (tmp_path / "medassist" / "b.py").write_text("from medassist.a import f\n", encoding="utf-8")
    assert import_cycles("medassist") == [["medassist.a", "medassist.b"]]
