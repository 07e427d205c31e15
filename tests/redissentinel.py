"""A real local Redis with Sentinel for the tests: a primary, a replica and three
sentinels (`redis-server sentinel.conf --sentinel`) on free ports."""

from __future__ import annotations

import subprocess
from pathlib import Path

from service.dev.services import free_port
from tests.rediscluster import LocalRedises

MASTER = "civicpoll"


class LocalSentinel(LocalRedises):
    def __init__(self, folder: Path, server: Path, cli: Path) -> None:
        self.folder, self.server, self.cli = folder, server, cli
        self.primary_port = free_port()
        self.replica_port = free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return (
            "redis+sentinel://"
            + ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
            + f"/{MASTER}"
        )

    def start(self) -> None:
        self._redis(self.primary_port)
        self._redis(self.replica_port, "--replicaof", "127.0.0.1", str(self.primary_port))
        for port in (self.primary_port, self.replica_port):
            self._wait(lambda p=port: self._cli(p, "ping") == "PONG", f"redis {port} answers")
        self._wait(
            lambda: "master_link_status:up" in self._cli(self.replica_port, "info", "replication"),
            "the replica follows the primary",
        )
        for port in self.sentinel_ports:
            self._sentinel(port)
        for port in self.sentinel_ports:
            self._wait(
                lambda p=port: self._sentinel_sees(p, replicas=1, sentinels=2),
                f"sentinel {port} sees the replica and the other sentinels",
            )

    def primary(self) -> int:
        """The port the sentinels now name as primary."""
        out = self._cli(
            self.sentinel_ports[0], "sentinel", "get-master-addr-by-name", MASTER
        ).split()
        return int(out[1])

    def kill(self, port: int) -> None:
        proc = self.procs.pop(port)
        proc.kill()
        proc.wait()

    def _sentinel_sees(self, port: int, *, replicas: int, sentinels: int) -> bool:
        info = self._cli(port, "sentinel", "master", MASTER).split()
        fields = dict(zip(info[::2], info[1::2], strict=False))
        return (
            int(fields.get("num-slaves", 0)) >= replicas
            and int(fields.get("num-other-sentinels", 0)) >= sentinels
        )

    def _redis(self, port: int, *extra: str) -> None:
        data = self.folder / str(port)
        data.mkdir(parents=True, exist_ok=True)
        self._spawn(
            port,
            [
                str(self.server),
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--dir", str(data),
                "--appendonly", "no",
                "--save", "",
                "--daemonize", "no",
                "--logfile", str(data / "redis.log"),
                *extra,
            ],
        )  # fmt: skip

    def _sentinel(self, port: int) -> None:
        data = self.folder / f"sentinel-{port}"
        data.mkdir(parents=True, exist_ok=True)
        conf = data / "sentinel.conf"  # Sentinel rewrites its file: one each, writable
        conf.write_text(
            f"port {port}\n"
            "bind 127.0.0.1\n"
            f"dir {data}\n"
            f"logfile {data / 'sentinel.log'}\n"
            f"sentinel monitor {MASTER} 127.0.0.1 {self.primary_port} 2\n"
            f"sentinel down-after-milliseconds {MASTER} 1000\n"
            f"sentinel failover-timeout {MASTER} 10000\n"
            f"sentinel parallel-syncs {MASTER} 1\n"
        )
        self._spawn(port, [str(self.server), str(conf), "--sentinel"])

    def _spawn(self, port: int, argv: list[str]) -> None:
        self.procs[port] = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
