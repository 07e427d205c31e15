"""The manual: the configuration reference covers every setting, README stays a front door."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "settings_reference", ROOT / "docs" / "hooks" / "settings_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_setting_has_a_description() -> None:
    hook = _hook()
    names = [s.name for s in hook.read_settings()]
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DB_POOL_SIZE"} <= set(names)
    assert hook.missing_descriptions() == []
    stale = set(hook.DESCRIPTIONS) - set(names)
    assert not stale, f"descriptions of settings the code no longer reads: {stale}"


def test_the_reference_reads_names_defaults_and_bounds_from_the_code(tmp_path: Path) -> None:
    hook = _hook()
    code = tmp_path / "settings.py"
    code.write_text(
        "def _int(env, name, default, low, high): ...\n"
        "class Settings:\n"
        "    @classmethod\n"
        "    def from_env(cls, env):\n"
        '        return cls(pool=_int(env, "NEW_POOL", 7, 1, 50))\n'
    )
    (setting,) = hook.read_settings(code)
    assert (setting.name, setting.default, setting.bounds) == ("NEW_POOL", "7", "1 – 50")
    with pytest.raises(ValueError, match="NEW_POOL"):
        hook.SETTINGS = code
        hook.table()


def test_readme_is_a_front_door() -> None:
    readme = (ROOT / "README.md").read_text().splitlines()
    assert len(readme) <= 200
    assert readme[0] == "# civicpoll"
    commands = "\n".join(readme[:15])
    assert "make run" in commands and "make test" in commands
