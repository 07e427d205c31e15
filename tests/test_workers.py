"""`civicpoll serve --workers 2`: two processes keep counts exact, a worker killed with
SIGKILL loses no accepted vote and is replaced, SIGHUP replaces the workers and SIGTERM
stops them without dropping a vote that was answered "accepted"."""

from __future__ import annotations

import asyncio
import os
import signal

from tests.conftest import SECRET
from tests.scaling import (
    civicpoll_serve,
    eventually,
    flood,
    ledger_voters,
    open_poll,
    results_total,
    voter_hashes,
    wait_ready,
)
from tests.serving import admin_token


async def test_two_workers_keep_counts_exact_under_concurrent_votes(database_url, redis_url):
    token = await admin_token(database_url, SECRET)
    with civicpoll_serve(database_url, redis_url, SECRET, workers=2, log_name="workers.log") as s:
        poll = await open_poll(s.url, token)
        sent = await flood(s.url, poll, 400, concurrency=24)
        assert sent.unanswered == 0 and not sent.refused, sent
        assert len(sent.accepted) == 400
        ledger = await ledger_voters(database_url, poll["id"])
        assert ledger == voter_hashes(SECRET, poll["id"], sent.accepted)
        # Either worker answers the results; both must say what the ledger says.
        for _ in range(8):
            await eventually(lambda: results_total(s.url, poll["id"]), len(ledger), 5)


async def test_a_killed_worker_loses_no_accepted_vote_and_is_replaced(database_url, redis_url):
    token = await admin_token(database_url, SECRET)
    # Reconcile every second: the killed worker may have had votes counted in Redis
    # that never reached the ledger (their voters heard no "accepted"); the repair
    # brings Redis back to the ledger.
    with civicpoll_serve(
        database_url,
        redis_url,
        SECRET,
        workers=2,
        log_name="workers-kill.log",
        RECONCILE_SECONDS="1",
    ) as s:
        poll = await open_poll(s.url, token)
        before = s.workers()
        victim = min(before)

        async def kill() -> None:
            os.kill(victim, signal.SIGKILL)

        sent = await flood(s.url, poll, 600, concurrency=24, during=kill())
        await asyncio.to_thread(wait_ready, s, 2, "workers-kill.log")
        after = s.workers()
        assert victim not in after and len(after - before) == 1  # replaced by a new one
        ledger = await ledger_voters(database_url, poll["id"])
        accepted = voter_hashes(SECRET, poll["id"], sent.accepted)
        assert accepted <= ledger  # every vote answered "accepted" is in the ledger
        # Beyond those, the ledger holds at most the votes that were in flight.
        assert len(ledger - accepted) <= sent.unanswered + sent.refused.get(503, 0)
        # The repair waits out the grace for other processes' votes in flight
        # (counts.OTHERS_GRACE): Redis really differs from the ledger here.
        await eventually(lambda: results_total(s.url, poll["id"]), len(ledger), 60)


async def test_sighup_replaces_the_workers_and_sigterm_drops_no_accepted_vote(
    database_url, redis_url
):
    token = await admin_token(database_url, SECRET)
    with civicpoll_serve(
        database_url, redis_url, SECRET, workers=2, log_name="workers-hup.log"
    ) as s:
        poll = await open_poll(s.url, token)
        before = s.workers()

        async def restart() -> None:
            os.kill(s.proc.pid, signal.SIGHUP)

        sent = await flood(s.url, poll, 600, concurrency=24, during=restart())

        async def replaced() -> bool:
            return not (s.workers() & before) and len(s.workers()) == 2

        await eventually(replaced, True, 60)
        await asyncio.to_thread(wait_ready, s, 2, "workers-hup.log")
        ledger = await ledger_voters(database_url, poll["id"])
        assert voter_hashes(SECRET, poll["id"], sent.accepted) <= ledger
        await eventually(lambda: results_total(s.url, poll["id"]), len(ledger), 10)

        async def stop() -> None:
            s.proc.terminate()

        last = await flood(s.url, poll, 300, concurrency=24, during=stop())
        assert s.proc.wait(timeout=60) == 0
    ledger = await ledger_voters(database_url, poll["id"])
    assert voter_hashes(SECRET, poll["id"], sent.accepted + last.accepted) <= ledger
