"""MkDocs hook: the configuration reference, generated from service/core/settings.py.

The table's names, defaults and ranges are read from the code (`Settings.from_env`), so they
cannot drift; the sentences come from DESCRIPTIONS below, and a setting without one stops
the build (and tests/test_docs.py) with its name.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SETTINGS = Path(__file__).resolve().parents[2] / "service" / "core" / "settings.py"
MARKER = "<!-- settings-reference -->"
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]+$")
# The parsing helper a setting is read with says what kind of value it takes.
_KINDS = {
    "_required_url": "URL",
    "_public_url": "URL",
    "_redis_url": "URL",
    "_secret": "text",
    "_networks": "CIDR list",
    "_int": "integer",
    "_float": "number",
    "_bool": "true/false",
    "_choice": "one of",
}

DESCRIPTIONS: dict[str, str] = {
    "DATABASE_URL": "PostgreSQL, `postgresql://user:password@host:5432/db`.",
    "REDIS_URL": (
        "Redis 6.2+ or Valkey: `redis://host:6379/0`, `rediss://` for TLS, "
        "`redis+cluster://host:port[,host:port]` for a Redis Cluster (Redis 7+: sharded pub/sub), "
        "`redis+sentinel://host:26379[,host:26379]/master-name[/db]` for a primary watched by "
        "Sentinel."
    ),
    "SECRET_KEY": (
        "At least 32 characters. Keys every hash of voters, addresses and tokens and every "
        "signature; changing it forgets who has voted and signs everyone out."
    ),
    "TRUSTED_PROXIES": (
        "Comma-separated addresses or CIDR networks of reverse proxies whose "
        "`X-Forwarded-For` is believed. Empty: the socket's address is the client."
    ),
    "PUBLIC_URL": (
        "Where browsers reach this service: embed snippets, oEmbed and the Origin rule are "
        "built from it. Requests for another host are logged with a warning."
    ),
    "DB_POOL_SIZE": (
        "PostgreSQL connections per process; `workers × DB_POOL_SIZE` must fit the "
        "server's `max_connections`."
    ),
    "LEDGER_BATCH_MS": (
        "Group commit: a deliberate wait for company before a ledger INSERT (votes arriving "
        "while earlier batches are in flight are grouped anyway). 0 = no wait."
    ),
    "LEDGER_BATCH_MAX": "Most votes per Redis decide call and per ledger INSERT.",
    "ACCESS_LOG": "One JSON line per request.",
    "LOG_LEVEL": "Lowest level logged.",
    "MAX_STREAMS": "Live-result streams per process.",
    "MAX_STREAMS_PER_IP": "Live-result streams per client address.",
    "MAX_STREAMS_PER_NETWORK": "Live-result streams per client /24 (IPv4) or /64 (IPv6).",
    "LINK_TOKEN_RECHECK_SECONDS": (
        "How long a process trusts its last look at the token behind a dashboard link "
        "(0: look at every opening)."
    ),
    "RECONCILE_SECONDS": "Period of the Redis-versus-ledger comparison (0: off).",
    "STREAM_HEARTBEAT_SECONDS": "Comment heartbeat on quiet live streams, for proxies.",
    "STREAM_SEND_TIMEOUT_SECONDS": "A stream reader slower than this to take one event is dropped.",
    "SIGNIN_HASHES_PER_SECOND": "Password hashes a process runs per second for console sign-in;"
    " past it, sign-in answers 429 with Retry-After without hashing (see security/sign-in.md).",
}


@dataclass(frozen=True)
class Setting:
    name: str
    kind: str
    default: str
    bounds: str


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def _helpers(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def _env_name_in(function: ast.FunctionDef) -> str | None:
    for node in ast.walk(function):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _ENV_NAME.match(node.value):
                return node.value
    return None


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return f"{value:,}".replace(",", " ")
    return str(value)


def read_settings(path: Path | None = None) -> list[Setting]:
    """Every environment variable `Settings.from_env` reads, in its order."""
    tree = ast.parse((path or SETTINGS).read_text())
    helpers = _helpers(tree)
    found: list[Setting] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.FunctionDef) and node.name == "from_env"):
            continue
        for call in ast.walk(node):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
                continue
            if call.func.id != "cls":
                continue
            for keyword in call.keywords:
                value = keyword.value
                if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)):
                    continue
                helper = value.func.id
                literals = [_literal(a) for a in value.args]
                names = [v for v in literals if isinstance(v, str) and _ENV_NAME.match(v)]
                if names:
                    name = names[0]
                    rest = literals[literals.index(name) + 1 :]
                elif helper in helpers and (inner := _env_name_in(helpers[helper])):
                    name, rest = inner, []
                else:
                    continue
                kind = _KINDS.get(helper, helper.strip("_"))
                default = "required" if helper.startswith(("_required", "_secret")) else ""
                bounds = ""
                if helper in ("_int", "_float") and len(rest) >= 3:
                    default, bounds = _show(rest[0]), f"{_show(rest[1])} – {_show(rest[2])}"
                elif helper == "_choice" and len(rest) >= 2:
                    default, bounds = _show(rest[0]), _show(rest[1])
                elif rest and not default:
                    default = _show(rest[0])
                found.append(Setting(name, kind, default, bounds))
    return found


def missing_descriptions() -> list[str]:
    return [s.name for s in read_settings() if s.name not in DESCRIPTIONS]


def table() -> str:
    missing = missing_descriptions()
    if missing:
        raise ValueError(f"settings without a description in {__file__}: {', '.join(missing)}")
    rows = ["| Variable | Kind | Default | Allowed | Meaning |", "| --- | --- | --- | --- | --- |"]
    for s in read_settings():
        default = f"`{s.default}`" if s.default and s.default != "required" else s.default
        rows.append(f"| `{s.name}` | {s.kind} | {default} | {s.bounds} | {DESCRIPTIONS[s.name]} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, table())
    return markdown
