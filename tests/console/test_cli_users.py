"""`civicpoll user ...`: create (password from standard input or made up and printed
once), set-password, disable; and `civicpoll dev`'s demo admin on first start."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest

from service import cli
from service.console import passwords
from service.dev import seed
from tests.test_cli import _fetch, cli_env  # noqa: F401 -- the fixture, reused


def test_user_create_set_password_disable(
    cli_env: dict[str, str],  # noqa: F811
    site: dict[str, Any],
    people: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("một mật khẩu thật dài\n"))
    cli.main(
        [
            "user",
            "create",
            "--email",
            "BT@ToaSoan.vn",
            "--role",
            "editor",
            "--site",
            "hoan-kiem",
            "--password-stdin",
        ]
    )
    out, _ = capsys.readouterr()
    assert out.strip() == "user 1 (bt@toasoan.vn) created"
    [row] = _fetch(cli_env["DATABASE_URL"], "SELECT * FROM users")
    assert row["role"] == "editor" and row["password_hash"].startswith("$argon2id$")
    assert passwords.verify(row["password_hash"], "một mật khẩu thật dài")
    [audit] = _fetch(cli_env["DATABASE_URL"], "SELECT actor, after FROM audit_log")
    assert audit["actor"] == "cli"

    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal: a one-time password
    cli.main(["user", "set-password", "--email", "bt@toasoan.vn"])
    out, err = capsys.readouterr()
    made = out.splitlines()[1].removeprefix("one-time password: ")
    assert "shown once" in err
    [row] = _fetch(cli_env["DATABASE_URL"], "SELECT password_hash FROM users")
    assert passwords.verify(row["password_hash"], made)

    cli.main(["user", "disable", "--email", "bt@toasoan.vn"])
    [row] = _fetch(cli_env["DATABASE_URL"], "SELECT disabled_at FROM users")
    assert row["disabled_at"] is not None

    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    with pytest.raises(SystemExit) as info:
        cli.main(
            ["user", "create", "--email", "x@toasoan.vn", "--role", "admin", "--password-stdin"]
        )
    assert "password must be" in str(info.value.code)
    with pytest.raises(SystemExit) as info:
        cli.main(
            ["user", "create", "--email", "y@toasoan.vn", "--role", "editor", "--password-stdin"]
        )
    assert "at least one site" in str(info.value.code)


def test_dev_start_makes_a_demo_admin_once(
    cli_env: dict[str, str],  # noqa: F811
    settings: Any,
    state: Any,
    people: None,
) -> None:
    first = asyncio.run(seed.seed(settings))
    login = first[3]
    assert login is not None and login[0] == seed.DEMO_ADMIN
    [row] = _fetch(cli_env["DATABASE_URL"], "SELECT role, password_hash FROM users")
    assert row["role"] == "admin" and passwords.verify(row["password_hash"], login[1])
    assert asyncio.run(seed.seed(settings))[3] is None  # printed at first start only
