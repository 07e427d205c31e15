"""storage/budget.py: workers * DB_POOL_SIZE against the server's max_connections,
checked by `civicpoll serve` before any worker starts."""

from __future__ import annotations

import asyncio

import pytest

from service import cli
from service.core.settings import Settings
from service.storage.budget import (
    RESERVE,
    ConnectionBudgetError,
    check_connection_budget,
    server_capacity,
)


def test_a_budget_that_fits_passes(settings: Settings) -> None:
    capacity = asyncio.run(check_connection_budget(settings.database_url, 2, 10))
    # The embedded server runs PostgreSQL's stock max_connections (100, 3 reserved).
    assert capacity == asyncio.run(server_capacity(settings.database_url))
    assert capacity <= 100 - 3 - RESERVE


def test_a_budget_that_cannot_fit_names_its_figures(settings: Settings) -> None:
    capacity = asyncio.run(server_capacity(settings.database_url))
    with pytest.raises(ConnectionBudgetError) as refused:
        asyncio.run(check_connection_budget(settings.database_url, capacity + 1, 1))
    message = str(refused.value)
    assert f"= {capacity + 1} PostgreSQL connections" in message
    assert f"allows {capacity}" in message


def test_serve_stops_with_one_line_before_starting_workers(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "SECRET_KEY": settings.secret_key.decode(),
        "DB_POOL_SIZE": "200",
    }.items():
        monkeypatch.setenv(key, value)
    started: list[int] = []
    monkeypatch.setattr(cli, "_serve", lambda env, host, port, workers: started.append(workers))
    with pytest.raises(SystemExit) as stopped:
        cli.main(["serve", "--workers", "4"])
    assert "4 worker(s) × DB_POOL_SIZE 200 = 800 PostgreSQL connections" in str(stopped.value)
    assert started == []
    monkeypatch.setenv("DB_POOL_SIZE", "5")
    cli.main(["serve", "--workers", "2"])
    assert started == [2]
