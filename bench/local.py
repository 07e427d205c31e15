"""civicpoll alone under wrk, against embedded PostgreSQL and Redis (no peers).

Server pinned to cpu 1, wrk to cpu 0 (as in the team's harness); prints req/s and
latency per mode, and checks that the stored total equals the number of 201s.
"""

from __future__ import annotations

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

from service.dev.services import EmbeddedPostgres, EmbeddedRedis, free_port

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "wrk" / "poll.lua"


def wrk(mode: str, port: int, spec: str, seconds: int) -> dict[str, str]:
    poll_id, options = spec.split(":")
    env = {**os.environ, "BENCH_MODE": mode, "POLL_ID": poll_id, "OPTION_IDS": options}
    cmd = [
        "taskset",
        "-c",
        "0",
        "wrk",
        "-t1",
        "-c64",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(SCRIPT),
        f"http://127.0.0.1:{port}",
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    return dict(re.findall(r"(\w+)=(\S+)", line))


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is missing (apt-get install wrk)")
    work = Path(tempfile.mkdtemp(prefix="civicpoll-bench-"))
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
                "taskset",
                "-c",
                "1",
                str(ROOT / ".venv" / "bin" / "uvicorn"),
                "service.app:app",
                "--http",
                "service.server:HttpToolsProtocol",
                "--port",
                str(port),
                "--no-access-log",
                "--no-proxy-headers",
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        counts = redis.Redis.from_url(env["REDIS_URL"])
        poll_id = spec.split(":")[0]
        for mode in ("vote", "results", "embed"):
            wrk(mode, port, spec, 3)  # warm-up
            before = sum(int(v) for v in counts.hvals(f"{{p:{poll_id}}}:c"))
            result = wrk(mode, port, spec, 10)
            line = (
                f"{mode:8s} {float(result['rps']):9.1f} req/s  p50 "
                f"{int(result['p50_us']) / 1000:6.2f} ms  p99 "
                f"{int(result['p99_us']) / 1000:6.2f} ms  statuses {result['statuses']}"
            )
            if mode == "vote":
                time.sleep(0.5)
                stored = sum(int(v) for v in counts.hvals(f"{{p:{poll_id}}}:c")) - before
                line += f"  stored {stored} (2xx {result['ok2xx']})"
            print(line, flush=True)
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        rd.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
