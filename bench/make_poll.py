"""Create the benchmark's site and poll, print or write `POLL_ID:OPT1,OPT2,...`.

Run before the server starts (it applies the schema itself). The site's rate limits are
raised so that wrk's random client addresses measure the vote path, not the limiter.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys

import asyncpg

from service.polls.store import insert_open_poll
from service.storage.db import apply_schema


async def main() -> str:
    con = await asyncpg.connect(os.environ["DATABASE_URL"])
    try:
        await apply_schema(con)
        site_id = await con.fetchval(
            "INSERT INTO sites (slug, name, voter_secret, rate_per_ip_per_minute, burst_per_ip,"
            " rate_per_network_per_minute, burst_per_network)"
            " VALUES ('bench', 'Benchmark', $1, 600, 100, 6000, 1000)"
            " ON CONFLICT (slug) DO UPDATE SET name = excluded.name RETURNING id",
            secrets.token_urlsafe(32),
        )
        if os.environ.get("BENCH_POLL_KIND") == "rating":
            # A 1-5 star rating: its points are options like any other (the harness
            # votes by option id), so the same wrk script measures it.
            poll_id, options = await insert_open_poll(
                con, site_id, "How satisfied are you?", [str(n) for n in range(1, 6)]
            )
            await con.execute("UPDATE polls SET kind = 'rating' WHERE id = $1", poll_id)
            await con.execute(
                "UPDATE poll_options SET value = label::int WHERE poll_id = $1", poll_id
            )
        else:
            poll_id, options = await insert_open_poll(
                con, site_id, "Which option do you prefer?", [f"Option {n}" for n in range(1, 5)]
            )
        return f"{poll_id}:{','.join(options)}"
    finally:
        await con.close()


if __name__ == "__main__":
    spec = asyncio.run(main())
    target = os.environ.get("BENCH_POLL_FILE")
    if target:
        with open(target, "w") as f:
            f.write(spec + "\n")
    print(spec, file=sys.stderr)
