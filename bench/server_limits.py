"""What one HTTP server lets hostile connections make it hold: huge request heads, heads
dribbled a byte at a time (slowloris), bodies that never finish. Run against a server
already listening, with its process id for its memory:

    .venv/bin/python bench/server_limits.py --url http://127.0.0.1:8000 --pid 1234 \\
        [--hold 35] [--path /v1/polls/1/votes]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from urllib.parse import urlsplit


def rss_mb(pid: int) -> float:
    """Resident memory of the process and its children, in MB."""
    total = 0
    pids = [pid, *_children(pid)]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def _children(pid: int) -> list[int]:
    try:
        found = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return found + [c for p in found for c in _children(p)]


async def big_head(host: str, port: int, pid: int, mb: int = 100, clients: int = 4) -> str:
    """`clients` connections each send a head with one `mb` MB header, as fast as it
    takes it; what they hear and how much the server grew."""
    before = rss_mb(pid)
    peak = before

    async def one() -> str:
        nonlocal peak
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
        chunk = b"a" * (1 << 20)
        answer = "accepted all"
        try:
            for _ in range(mb):
                writer.write(chunk)
                await asyncio.wait_for(writer.drain(), 10)
                peak = max(peak, rss_mb(pid))
            writer.write(b"\r\n\r\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), 10)
            answer = line.decode(errors="replace").strip() or "closed"
        except (ConnectionError, TimeoutError) as exc:
            # The server stopped reading or hung up: what did it say first?
            try:
                line = await asyncio.wait_for(reader.readline(), 2)
                answer = line.decode(errors="replace").strip() or type(exc).__name__
            except (ConnectionError, TimeoutError) as again:
                answer = type(again).__name__
        finally:
            writer.close()
        return answer

    answers = await asyncio.gather(*(one() for _ in range(clients)))
    heard = sorted(set(answers))
    return f"big head ({clients} x {mb} MB): {heard}; RSS {before:.0f} -> peak {peak:.0f} MB"


async def slow(host: str, port: int, hold: float, part: str, clients: int = 150) -> str:
    """`clients` connections dribbling a byte a second of the head (part=head) or of a
    declared body (part=body); how many the server still holds after `hold` seconds."""
    opened: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    for _ in range(clients):
        reader, writer = await asyncio.open_connection(host, port)
        if part == "head":
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        else:
            writer.write(
                b"POST /v1/polls/1/votes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                b"\r\nContent-Length: 100000\r\n\r\n{"
            )
        opened.append((reader, writer))
    started = time.monotonic()
    while time.monotonic() - started < hold:
        for reader, writer in opened:
            if not writer.is_closing() and not reader.at_eof():
                try:
                    writer.write(b"X" if part == "head" else b" ")
                except ConnectionError:
                    pass
        await asyncio.sleep(1.0)
    alive = 0
    for reader, writer in opened:
        try:
            await asyncio.wait_for(reader.read(1 << 16), 0.05)
        except TimeoutError:
            alive += 1  # nothing said and not closed: still held open
        except ConnectionError:
            pass
        else:
            if not reader.at_eof():
                alive += 1
        writer.close()
    what = f"slow {part} ({clients} connections, a byte a second)"
    return f"{what}: {alive} still open after {hold:.0f} s"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--hold", type=float, default=35.0)
    args = parser.parse_args()
    parts = urlsplit(args.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    print(await big_head(host, port, args.pid), flush=True)
    print(await slow(host, port, args.hold, "head"), flush=True)
    print(await slow(host, port, args.hold, "body"), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
