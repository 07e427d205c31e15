"""Sign-in under pressure: the hash runs off the event loop, within a per-process budget,
behind per-account, per-address and per-network limits that concurrent attempts cannot
race past, with deliberate Argon2id costs."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.console import passwords, throttle
from service.core.settings import Settings
from service.ops.metrics import REGISTRY
from tests.console.conftest import PASSWORD, UserMaker, sign_in


def hashes() -> float:
    """Password verifications this process has run for sign-in."""
    return REGISTRY.get_sample_value("civicpoll_signin_hashes_total") or 0.0


ClientAt = Callable[[str], httpx.AsyncClient]


@asynccontextmanager
async def clients(app: Any) -> AsyncIterator[ClientAt]:
    """Browsers at given addresses (the socket peer, as the service sees it)."""
    opened: list[httpx.AsyncClient] = []

    def at(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 50100))
        opened.append(httpx.AsyncClient(transport=transport, base_url="http://testserver"))
        return opened[-1]

    try:
        yield at
    finally:
        await asyncio.gather(*(c.aclose() for c in opened))


class HeldHasher(PasswordHasher):
    """The production hasher, whose verify notes its thread and then waits for the test."""

    def __init__(self) -> None:
        super().__init__(passwords.TIME_COST, passwords.MEMORY_KIB, passwords.PARALLELISM)
        self.started = threading.Event()
        self.release = threading.Event()
        self.threads: list[threading.Thread] = []
        self.released: bool | None = None

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.threads.append(threading.current_thread())
        self.started.set()
        # On the event loop nothing could set the event: it can only time out.
        self.released = self.release.wait(timeout=20)
        return super().verify(hash, password)


async def test_the_loop_answers_other_requests_while_a_password_is_verified(
    client: httpx.AsyncClient, make_user: UserMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_user("bt@toasoan.vn")
    held = HeldHasher()
    monkeypatch.setattr(passwords, "_hasher", held)
    attempt = asyncio.create_task(sign_in(client, "bt@toasoan.vn"))
    assert await asyncio.to_thread(held.started.wait, 60)
    health = await client.get("/healthz")  # while the hash holds its thread
    held.release.set()
    assert health.status_code == 200
    assert (await attempt).status_code == 303
    assert held.released is True
    assert held.threads and threading.main_thread() not in held.threads


async def test_over_the_process_budget_sign_in_is_refused_without_a_hash(
    settings: Settings, make_user: UserMaker
) -> None:
    await make_user("bt@toasoan.vn")
    # One token, the next due in 100 s: exactly one of the attempts may hash.
    app = create_app(replace(settings, signin_hashes_per_second=0.01))
    async with LifespanManager(app) as manager, clients(manager.app) as at:
        before = hashes()
        # Unknown e-mails from addresses on different networks: neither the account, the
        # address nor the network limit is near; only the budget refuses them.
        answers = await asyncio.gather(
            *(sign_in(at(f"10.{n}.0.1"), f"guess{n}@toasoan.vn") for n in range(12))
        )
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [401] + [429] * 11
        assert hashes() - before == 1
        busy = [r for r in answers if r.status_code == 429]
        assert all(90 <= int(r.headers["retry-after"]) <= 100 for r in busy)
        assert all('role="alert"' in r.text and "<form" in r.text for r in busy)
        # A real person is refused the same way until a token is due.
        r = await sign_in(at("10.200.0.1"), "bt@toasoan.vn")
        assert r.status_code == 429 and hashes() - before == 1


def test_the_production_budget_and_argon2id_costs() -> None:
    assert Settings.signin_hashes_per_second == 5.0
    assert (
        Settings.from_env(
            {"DATABASE_URL": "postgres://x", "REDIS_URL": "redis://x", "SECRET_KEY": "s" * 32}
        ).signin_hashes_per_second
        == 5.0
    )
    made = passwords.hash_password(PASSWORD)
    # OWASP's first Argon2id minimum: 19 MiB, two passes, one lane.
    assert made.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert passwords.verify(made, PASSWORD) and not passwords.verify(made, PASSWORD + "!")


async def test_a_hash_with_the_old_costs_still_signs_in_and_is_remade(
    client: httpx.AsyncClient, make_user: UserMaker, state: Any
) -> None:
    user_id = await make_user("bt@toasoan.vn")
    old = PasswordHasher().hash(PASSWORD)  # argon2-cffi's default: what earlier releases stored
    assert old.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    await state.pool.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, old)
    assert (await sign_in(client, "bt@toasoan.vn")).status_code == 303
    stored = await state.pool.fetchval("SELECT password_hash FROM users WHERE id = $1", user_id)
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert passwords.verify(stored, PASSWORD)


async def test_concurrent_guesses_check_at_most_the_account_limit(
    app_state: tuple[Any, Any], make_user: UserMaker
) -> None:
    await make_user("bt@toasoan.vn")
    async with clients(app_state[0]) as at:
        before = hashes()
        # 40 at once, each from its own network: only the account's limit applies.
        answers = await asyncio.gather(
            *(sign_in(at(f"10.{n}.1.1"), "bt@toasoan.vn", f"guess number {n}") for n in range(40))
        )
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [401] * throttle.PER_ACCOUNT + [429] * (40 - throttle.PER_ACCOUNT)
        assert hashes() - before == throttle.PER_ACCOUNT
        r = await sign_in(at("10.250.1.1"), "bt@toasoan.vn")  # the right password, locked
        assert r.status_code == 429 and r.headers["retry-after"] == "900"
        assert hashes() - before == throttle.PER_ACCOUNT


@pytest.mark.parametrize(
    ("inside", "outside"),
    [
        (lambda n: f"2001:db8:7:7::{n + 1:x}", "2001:db8:7:8::1"),  # one /64
        (lambda n: f"192.0.2.{n + 1}", "192.0.3.1"),  # one /24
    ],
    ids=["ipv6-64", "ipv4-24"],
)
async def test_sign_in_is_throttled_per_network(
    app_state: tuple[Any, Any],
    make_user: UserMaker,
    inside: Callable[[int], str],
    outside: str,
) -> None:
    await make_user("bt@toasoan.vn")
    async with clients(app_state[0]) as at:
        # A guesser who takes a fresh address and a fresh account name every time.
        for n in range(throttle.PER_NETWORK):
            r = await sign_in(at(inside(n)), f"guess{n}@toasoan.vn", "wrong password!")
            assert r.status_code == 401, n
        fresh = at(inside(throttle.PER_NETWORK))
        before = hashes()
        r = await sign_in(fresh, "bt@toasoan.vn")
        assert r.status_code == 429 and hashes() == before
        # Next door is another network.
        assert (await sign_in(at(outside), "bt@toasoan.vn")).status_code == 303
