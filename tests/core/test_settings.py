"""Settings: read once from the environment; a bad value stops start-up naming it."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

from service.core.settings import Settings, SettingsError

GOOD = {
    "DATABASE_URL": "postgresql://app@db:5432/civicpoll",
    "REDIS_URL": "redis://cache:6379/0",
    "SECRET_KEY": "k" * 40,
}


def test_minimal_environment_gives_defaults() -> None:
    s = Settings.from_env(GOOD)
    assert s.database_url == GOOD["DATABASE_URL"]
    assert s.redis_url == GOOD["REDIS_URL"]
    assert s.secret_key == b"k" * 40
    assert s.trusted_proxies == ()
    assert s.public_url == "http://localhost:8000"
    assert s.db_pool_size == 10
    assert s.access_log is True
    assert s.log_level == "info"


def test_every_variable_is_read_and_typed() -> None:
    s = Settings.from_env(
        {
            **GOOD,
            "TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7 2001:db8::/32",
            "PUBLIC_URL": "https://polls.example.vn/",
            "DB_POOL_SIZE": "25",
            "LEDGER_BATCH_MS": "5.5",
            "LEDGER_BATCH_MAX": "100",
            "ACCESS_LOG": "off",
            "LOG_LEVEL": "WARNING",
            "MAX_STREAMS": "500",
            "MAX_STREAMS_PER_IP": "3",
            "MAX_STREAMS_PER_NETWORK": "40",
            "LINK_TOKEN_RECHECK_SECONDS": "0",
            "RECONCILE_SECONDS": "0",
        }
    )
    assert s.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.168.1.7/32"),
        ipaddress.ip_network("2001:db8::/32"),
    )
    assert s.public_url == "https://polls.example.vn"
    assert (s.db_pool_size, s.ledger_batch_ms, s.ledger_batch_max) == (25, 5.5, 100)
    assert s.access_log is False
    assert s.log_level == "warning"
    assert (s.max_streams, s.max_streams_per_ip, s.reconcile_seconds) == (500, 3, 0.0)
    assert (s.max_streams_per_network, s.link_token_recheck_seconds) == (40, 0.0)


def test_settings_are_frozen_and_changed_by_copy() -> None:
    s = Settings.from_env(GOOD)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.redis_url = "redis://other"  # type: ignore[misc]
    other = s.with_changes(redis_url="redis://other:1/0")
    assert other.redis_url == "redis://other:1/0"
    assert s.redis_url == GOOD["REDIS_URL"]


def test_empty_optional_values_mean_the_default() -> None:
    empty = dict.fromkeys(
        ["DB_POOL_SIZE", "LEDGER_BATCH_MS", "ACCESS_LOG", "LOG_LEVEL", "TRUSTED_PROXIES"], ""
    )
    s = Settings.from_env({**GOOD, **empty})
    assert (s.db_pool_size, s.ledger_batch_ms, s.access_log, s.log_level) == (10, 0.0, True, "info")
    assert s.trusted_proxies == ()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", None),
        ("DATABASE_URL", ""),
        ("DATABASE_URL", "mysql://db/x"),
        ("REDIS_URL", None),
        ("REDIS_URL", "   "),
        ("REDIS_URL", "http://cache:6379"),
        ("SECRET_KEY", None),
        ("SECRET_KEY", "too-short"),
        ("TRUSTED_PROXIES", "10.0.0.0/8,not-an-ip"),
        ("TRUSTED_PROXIES", "10.0.0.0/33"),
        ("PUBLIC_URL", "localhost:8000"),
        ("PUBLIC_URL", "ftp://polls.example.vn"),
        ("PUBLIC_URL", "https://"),
        ("PUBLIC_URL", "https://[::1"),
        ("PUBLIC_URL", "https://polls.example.vn:port"),
        ("DB_POOL_SIZE", "ten"),
        ("DB_POOL_SIZE", "0"),
        ("DB_POOL_SIZE", "5.0"),
        ("LEDGER_BATCH_MS", "fast"),
        ("LEDGER_BATCH_MS", "nan"),
        ("LEDGER_BATCH_MS", "-1"),
        ("LEDGER_BATCH_MAX", "999999"),
        ("ACCESS_LOG", "maybe"),
        ("LOG_LEVEL", "verbose"),
        ("MAX_STREAMS", "²"),
        ("MAX_STREAMS_PER_IP", "0"),
        ("MAX_STREAMS_PER_NETWORK", "-5"),
        ("LINK_TOKEN_RECHECK_SECONDS", "3600"),
        ("RECONCILE_SECONDS", "inf"),
    ],
)
def test_a_bad_value_is_refused_in_one_line_naming_the_variable(
    name: str, value: str | None
) -> None:
    env = dict(GOOD)
    if value is None:
        env.pop(name)
    else:
        env[name] = value
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    message = str(info.value)
    assert message.startswith(name), message
    assert "\n" not in message


def test_the_secret_is_not_echoed_in_errors() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({**GOOD, "SECRET_KEY": "hunter2-short"})
    assert "hunter2" not in str(info.value)


def test_reads_os_environ_when_no_mapping_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GOOD.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DB_POOL_SIZE", "7")
    assert Settings.from_env().db_pool_size == 7
