"""Layers point down (STYLE.md 15, docs/security/identity.md): a package may import its own
rank and those below it, never one above; and no runtime module is over 450 lines. Walks
every module's imports (ast), including those under TYPE_CHECKING and inside functions,
and fails on an upward one.

The order, lowest first, is defined here and only here:

0 core       errors, http, settings, i18n, templates, assets; server (the HTTP protocol
             and hot-lane routing): know no feature
1 storage    PostgreSQL and Redis clients
2 identity   who the client is: address, network, reader, tokens, keyed hashes, origin,
             principal, audit writer
3 polls      poll definitions and who may see them: imports no feature and no surface
4 features   voting, feedback, ops, placements, the surfaces admin, live, widget, console, and
             services (their typed accessor, which names every feature: nothing below
             may import it; identity and polls read it through Protocols)
5 top        app, cli, dev, __main__
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "service"
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core", "server"),
    ("storage",),
    ("identity",),
    ("polls",),
    ("voting", "feedback", "ops", "admin", "live", "widget", "console", "services", "placements"),
    ("app", "cli", "dev", "__main__"),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _package(dotted: str) -> str | None:
    """The top-level part of `service.X...` (None: not ours, or the package root)."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "service" else None


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            if node.module == "service":  # from service import voting
                found += [(node.lineno, f"service.{a.name}") for a in node.names]
    return found


def upward_imports(root: Path = ROOT) -> list[str]:
    wrong = []
    for path in sorted(root.rglob("*.py")):
        own = _package("service." + ".".join(path.relative_to(root).with_suffix("").parts))
        if own is None or own == "__init__":
            continue
        for line, module in _imports(path):
            target = _package(module)
            if target is None or target == own:
                continue
            if RANK[target] > RANK[own]:
                where = path.relative_to(root.parent)
                wrong.append(f"{where}:{line} ({own}, layer {RANK[own]}) imports {module}")
    return wrong


def test_every_package_has_a_layer() -> None:
    packages = {p.stem if p.is_file() else p.name for p in ROOT.iterdir()}
    packages -= {"__init__", "__pycache__"}
    unplaced = sorted(p for p in packages if p not in RANK and not p.startswith("."))
    assert not [p for p in unplaced if (ROOT / p).is_dir() or (ROOT / f"{p}.py").exists()]


def test_layers_point_down() -> None:
    assert upward_imports() == []


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    """The walk itself can fail: polls importing a surface, identity importing services."""
    (tmp_path / "polls").mkdir()
    (tmp_path / "polls" / "access.py").write_text("from service.admin.auth import Principal\n")
    (tmp_path / "identity").mkdir()
    (tmp_path / "identity" / "x.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import service.services\n"
    )
    found = upward_imports(tmp_path)
    assert len(found) == 2 and "imports service.admin.auth" in found[1]


@pytest.mark.parametrize("low", ["core", "storage", "identity", "polls"])
def test_the_lower_packages_import_no_feature(low: str) -> None:
    for line in upward_imports():
        assert not line.startswith(f"service/{low}/"), line


def test_no_runtime_module_over_450_lines() -> None:
    root = ROOT
    pending: set[str] = set()  # a module being split by a change in flight, while it lands
    long = {
        p.relative_to(root).as_posix(): n
        for p in root.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 450
    }
    assert {k: v for k, v in long.items() if k not in pending} == {}
