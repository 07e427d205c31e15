"""CPU per vote of each part — the app's processes, Redis, PostgreSQL — for the capacity
model (README "Scaling"). CPU time, not throughput: on a shared machine the time a vote
costs each process is steadier than the votes a second it gets through.

Starts embedded PostgreSQL (fsync on) and Redis, `civicpoll serve --workers N`, drives
wrk at the vote route (or `--mode embed|results`) and reads each process's CPU from /proc
before and after; Redis's own time inside the vote script from INFO commandstats.

    .venv/bin/python bench/capacity.py [--workers 1] [--seconds 10] [--mode vote]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.local import wrk  # noqa: E402
from service.dev.services import EmbeddedPostgres, EmbeddedRedis, free_port  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rpartition(")")[2].split()[1])
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _tree(root: int) -> list[int]:
    tree, found, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def _cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes have used so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--mode", default="vote", choices=("vote", "embed", "results"))
    parser.add_argument("--cpus", default="1", help="taskset list for the server")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="civicpoll-capacity-"))
    pg = EmbeddedPostgres(work / "pg", free_port())
    rd = EmbeddedRedis(work / "redis", free_port(), appendonly=False)
    server = None
    try:
        env = {
            **os.environ,
            "DATABASE_URL": pg.start(),
            "REDIS_URL": rd.start(),
            "SECRET_KEY": "bench-secret-key-not-for-production-0123456789",
            "TRUSTED_PROXIES": "127.0.0.1/32",
            "ACCESS_LOG": "true",
            "LOG_LEVEL": "warning",
            "PYTHONPATH": str(ROOT),
        }
        spec = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "make_poll.py")],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stderr.strip()
        port = free_port()
        server = subprocess.Popen(
            [
                *("taskset", "-c", args.cpus, sys.executable, "-m", "service.cli", "serve"),
                *("--port", str(port), "--workers", str(args.workers)),
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        client = redis.Redis.from_url(env["REDIS_URL"])
        redis_pid = int(client.info("server")["process_id"])
        pg_pid = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
        wrk(args.mode, port, spec, 3)  # warm-up
        client.config_resetstat()
        app_pids, pg_pids = _tree(server.pid), _tree(pg_pid)
        before = (_cpu(app_pids), _cpu([redis_pid]), _cpu(pg_pids))
        result = wrk(args.mode, port, spec, args.seconds)
        app_pids, pg_pids = _tree(server.pid), _tree(pg_pid)
        after = (_cpu(app_pids), _cpu([redis_pid]), _cpu(pg_pids))
        stats = client.info("commandstats")
        done = int(result["ok2xx"])
        app, red, pgc = (1e6 * (b - a) / max(done, 1) for a, b in zip(before, after, strict=True))
        evalsha = stats.get("cmdstat_evalsha", {})
        script_us = float(evalsha.get("usec", 0)) / max(done, 1)
        print(
            f"{args.mode} workers={args.workers} cpus={args.cpus}:"
            f" {float(result['rps']):.0f} req/s,"
            f" {done} answered 2xx ({result['statuses']}); CPU per request: app {app:.0f} µs,"
            f" redis {red:.1f} µs (inside EVALSHA {script_us:.1f} µs over"
            f" {evalsha.get('calls', 0)} calls), postgres {pgc:.0f} µs",
            flush=True,
        )
        print("  raw:", re.sub(r"\s+", " ", str(result)))
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        rd.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
