"""Settings: read once from the environment into a frozen, typed object."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(ValueError):
    """A bad environment value; the message names the variable and the problem."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str
    secret_key: bytes
    trusted_proxies: tuple[Network, ...] = ()
    public_url: str = "http://localhost:8000"
    db_pool_size: int = 10
    # Group commit: votes arriving while earlier batches are in flight go out together,
    # in batches of at most ledger_batch_max, several in flight at once (measured best:
    # small overlapping batches keep the event loop busy while commits wait on fsync).
    # ledger_batch_ms adds a deliberate wait for company; 0 = none.
    ledger_batch_ms: float = 0.0
    ledger_batch_max: int = 16
    access_log: bool = True
    log_level: str = "info"
    max_streams: int = 10_000
    max_streams_per_ip: int = 20
    # One /24 or /64 holds many addresses: without a cap per network, one neighbourhood
    # could take every stream with a few hundred addresses.
    max_streams_per_network: int = 200
    # How long a process trusts its last look at the token behind a dashboard link:
    # revoking that token shuts its links within this many seconds. 0 = look every time.
    link_token_recheck_seconds: float = 5.0
    reconcile_seconds: float = 60.0
    # Live results: a comment line keeps proxies from closing quiet streams; a reader that
    # takes longer than the send timeout to accept one event is dropped.
    stream_heartbeat_seconds: float = 15.0
    stream_send_timeout_seconds: float = 10.0
    # Password hashes a process runs per second for sign-in (Argon2id, ~28 ms of CPU each):
    # past it, sign-in answers 429 without hashing (docs/security/sign-in.md).
    signin_hashes_per_second: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            database_url=_required_url(env, "DATABASE_URL", ("postgres://", "postgresql://")),
            redis_url=_redis_url(env, "REDIS_URL"),
            secret_key=_secret(env),
            trusted_proxies=_networks(env, "TRUSTED_PROXIES"),
            public_url=_public_url(env, "PUBLIC_URL", "http://localhost:8000"),
            db_pool_size=_int(env, "DB_POOL_SIZE", 10, 1, 200),
            ledger_batch_ms=_float(env, "LEDGER_BATCH_MS", 0.0, 0.0, 100.0),
            ledger_batch_max=_int(env, "LEDGER_BATCH_MAX", 16, 1, 5000),
            access_log=_bool(env, "ACCESS_LOG", True),
            log_level=_choice(env, "LOG_LEVEL", "info", ("debug", "info", "warning", "error")),
            max_streams=_int(env, "MAX_STREAMS", 10_000, 1, 1_000_000),
            max_streams_per_ip=_int(env, "MAX_STREAMS_PER_IP", 20, 1, 10_000),
            max_streams_per_network=_int(env, "MAX_STREAMS_PER_NETWORK", 200, 1, 1_000_000),
            link_token_recheck_seconds=_float(env, "LINK_TOKEN_RECHECK_SECONDS", 5.0, 0.0, 300.0),
            reconcile_seconds=_float(env, "RECONCILE_SECONDS", 60.0, 0.0, 86_400.0),
            stream_heartbeat_seconds=_float(env, "STREAM_HEARTBEAT_SECONDS", 15.0, 0.05, 300.0),
            stream_send_timeout_seconds=_float(
                env, "STREAM_SEND_TIMEOUT_SECONDS", 10.0, 0.05, 300.0
            ),
            signin_hashes_per_second=_float(env, "SIGNIN_HASHES_PER_SECOND", 5.0, 0.01, 1000.0),
        )

    def with_changes(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _required_url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is not set (expected a URL starting with {schemes[0]})")
    if not value.startswith(schemes):
        raise SettingsError(f"{name} must start with one of {', '.join(schemes)}")
    return value


_REDIS_SCHEMES = (
    "redis://",
    "rediss://",
    "unix://",
    "redis+cluster://",
    "rediss+cluster://",
    "redis+sentinel://",
    "rediss+sentinel://",
)


def _redis_url(env: Mapping[str, str], name: str) -> str:
    value = _required_url(env, name, _REDIS_SCHEMES)
    if value.startswith(("redis+sentinel://", "rediss+sentinel://")):
        # Sentinel watches primaries by name: without it no primary can be found.
        if not urlsplit(value).path.strip("/"):
            raise SettingsError(
                f"{name} must name the Sentinel master: redis+sentinel://host:26379/mymaster"
            )
    return value


def _secret(env: Mapping[str, str]) -> bytes:
    value = env.get("SECRET_KEY", "")
    if len(value) < 32:
        raise SettingsError(
            "SECRET_KEY must be at least 32 characters "
            '(generate one: python -c "import secrets; print(secrets.token_urlsafe(48))")'
        )
    return value.encode()


def _networks(env: Mapping[str, str], name: str) -> tuple[Network, ...]:
    nets = []
    for part in env.get(name, "").replace(" ", ",").split(","):
        if not part:
            continue
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise SettingsError(f"{name}: {part!r} is not an IP address or CIDR network") from None
    return tuple(nets)


def _public_url(env: Mapping[str, str], name: str, default: str) -> str:
    # Embed snippets and the Origin check are built from it: a URL without a scheme or
    # host would produce broken snippets and refuse every browser vote.
    value = env.get(name, "").strip().rstrip("/") or default
    try:
        parts = urlsplit(value)
        valid = parts.scheme in ("http", "https") and parts.hostname and parts.port != 0
    except ValueError:  # "https://[::1" or a port that is not a number
        valid = False
    if not valid or parts.query or parts.fragment:
        raise SettingsError(f"{name} must be an http(s) URL like https://polls.example.vn")
    return value


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name, "").strip().lower() or default
    if raw not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw
