"""The civicpoll command: migrate, token create (printed once, stored hashed), token revoke."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from service import cli
from service.core.settings import Settings
from service.identity.principal import hash_token
from tests.storage.test_db import CURRENT_VERSION

DatabaseMaker = Callable[[], Awaitable[str]]
SECRET = "cli-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings, tmp_path: Path) -> dict[str, str]:
    """The environment the command reads: the test database and Redis, no dev env file."""
    env = {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "SECRET_KEY": settings.secret_key.decode(),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(cli, "DEV_ENV", tmp_path / "no-such-env")
    return env


def _fetch(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        con = await asyncpg.connect(url)
        try:
            return list(await con.fetch(query, *args))
        finally:
            await con.close()

    return asyncio.run(run())


def test_token_create_prints_it_once_and_keeps_a_keyed_hash(
    cli_env: dict[str, str],
    site: dict[str, Any],
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli.main(["token", "create", "--scope", "polls:read", "--site", "hoan-kiem", "--label", "tòa"])
    out, err = capsys.readouterr()
    header, token = out.splitlines()
    assert header.endswith("(scopes polls:read, site hoan-kiem):")
    assert token.startswith("cp_") and len(token) > 40
    assert "shown once" in err
    assert token not in err

    rows = _fetch(
        cli_env["DATABASE_URL"],
        "SELECT t.*, t::text AS whole, s.slug FROM api_tokens t JOIN sites s ON s.id = t.site_id",
    )
    [row] = rows
    assert row["scopes"] == ["polls:read"]
    assert row["slug"] == "hoan-kiem"
    assert row["label"] == "tòa"
    assert row["token_hash"] == hash_token(settings.secret_key, token)
    assert token not in row["whole"]
    assert token[3:] not in row["whole"]


def test_token_create_for_every_site_with_several_scopes(
    cli_env: dict[str, str], state: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    cli.main(["token", "create", "--scope", "polls:write", "--scope", "polls:read"])
    header = capsys.readouterr().out.splitlines()[0]
    assert "all sites" in header
    [row] = _fetch(cli_env["DATABASE_URL"], "SELECT scopes, site_id FROM api_tokens")
    assert row["scopes"] == ["polls:read", "polls:write"]
    assert row["site_id"] is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["token", "create", "--scope", "polls:read", "--site", "nowhere"], "no site 'nowhere'"),
        (["token", "create", "--scope", "polls:delete"], "scopes must be"),
        (["token", "revoke", "4242"], "no active token 4242"),
    ],
)
def test_mistakes_exit_with_one_line(
    cli_env: dict[str, str], state: dict[str, Any], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    text = str(info.value.code)
    assert text.startswith("civicpoll: ")
    assert message in text
    assert "\n" not in text
    assert _fetch(cli_env["DATABASE_URL"], "SELECT id FROM api_tokens") == []


def test_revoke(
    cli_env: dict[str, str], state: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    cli.main(["token", "create", "--scope", "sites:admin"])
    token_id = capsys.readouterr().out.split()[1]
    cli.main(["token", "revoke", token_id])
    assert capsys.readouterr().out.strip() == f"token {token_id} revoked"
    [row] = _fetch(cli_env["DATABASE_URL"], "SELECT revoked_at FROM api_tokens")
    assert row["revoked_at"] is not None
    with pytest.raises(SystemExit):
        cli.main(["token", "revoke", token_id])


@pytest.mark.parametrize(
    ("unset", "bad"),
    [("DATABASE_URL", None), (None, ("SECRET_KEY", "short")), (None, ("REDIS_URL", "x"))],
)
def test_bad_settings_stop_the_command_naming_the_variable(
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    unset: str | None,
    bad: tuple[str, str] | None,
) -> None:
    if unset:
        monkeypatch.delenv(unset)
    if bad:
        monkeypatch.setenv(*bad)
    name = unset or (bad[0] if bad else "")
    with pytest.raises(SystemExit) as info:
        cli.main(["migrate"])
    assert str(info.value.code).startswith(f"civicpoll: {name}")
    assert "\n" not in str(info.value.code)


async def test_migrate_a_fresh_database(
    cli_env: dict[str, str],
    make_database: DatabaseMaker,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = await make_database()
    monkeypatch.setenv("DATABASE_URL", url)
    # The command runs its own event loop; a worker thread keeps it off the test's loop.
    await asyncio.to_thread(cli.main, ["migrate"])
    assert capsys.readouterr().out.strip() == f"schema at version {CURRENT_VERSION}"
    con = await asyncpg.connect(url)
    try:
        assert await con.fetchval("SELECT max(version) FROM schema_version") == CURRENT_VERSION
    finally:
        await con.close()


async def test_a_created_token_works_until_revoked(
    cli_env: dict[str, str],
    client: httpx.AsyncClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await asyncio.to_thread(cli.main, ["token", "create", "--scope", "sites:admin"])
    out = capsys.readouterr().out
    token_id, token = out.split()[1], out.splitlines()[1]
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/v1/admin/sites", headers=headers)).status_code == 200
    await asyncio.to_thread(cli.main, ["token", "revoke", token_id])
    assert (await client.get("/v1/admin/sites", headers=headers)).status_code == 401


def test_the_installed_command(cli_env: dict[str, str], state: dict[str, Any]) -> None:
    command = Path(sys.executable).parent / "civicpoll"
    done = subprocess.run(
        [str(command), "migrate"],
        env={**os.environ, **cli_env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"schema at version {CURRENT_VERSION}"
    done = subprocess.run(
        [str(command), "migrate"],
        env={**os.environ, **cli_env, "SECRET_KEY": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().startswith("civicpoll: SECRET_KEY")
    assert len(done.stderr.strip().splitlines()) == 1


def test_dev_env_file_fills_what_the_environment_lacks(
    cli_env: dict[str, str],
    state: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env_file = tmp_path / "env"
    env_file.write_text(
        f"DATABASE_URL={cli_env['DATABASE_URL']}\nSECRET_KEY=ignored-because-the-env-has-one\n"
    )
    monkeypatch.setattr(cli, "DEV_ENV", env_file)
    monkeypatch.delenv("DATABASE_URL")
    cli.main(["migrate"])
    assert capsys.readouterr().out.strip() == f"schema at version {CURRENT_VERSION}"
    assert cli._env()["SECRET_KEY"] == cli_env["SECRET_KEY"]
