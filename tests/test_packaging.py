"""The wheel is the product: built from the source files alone, it carries every runtime file
(and no development servers), installs into a fresh venv, migrates and serves from there."""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from service.core.settings import Settings
from service.dev.services import free_port
from tests.conftest import DatabaseMaker

REPO = Path(__file__).resolve().parent.parent
SECRET = "wheel-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
# The Redis database the installed server counts in: not the one the `state` fixture flushes.
REDIS_DB = 13


def _run(cmd: list[str], timeout: float, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; a failure shows its output."""
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert done.returncode == 0, f"{cmd} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def _source_files() -> dict[str, Path]:
    """What the wheel must carry: every file under service/ except the development servers."""
    found = {}
    for path in sorted((REPO / "service").rglob("*")):
        relative = path.relative_to(REPO)
        if path.is_dir() or "__pycache__" in relative.parts or relative.parts[1] == "dev":
            continue
        found[relative.as_posix()] = path
    return found


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    """A private folder outside the repository for the build, the venv and the server."""
    path = Path(tempfile.mkdtemp(prefix="civicpoll-wheel-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def wheel(workdir: Path) -> Path:
    """The wheel, built from a copy of exactly what the Dockerfile builds from: a build in
    the tree itself would reuse setuptools' build/ folder, stale files included."""
    source = workdir / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(
        REPO / "service",
        source / "service",
        symlinks=True,  # a link in the tree would stay one, as in the Dockerfile's COPY
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    out = workdir / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-w", str(out), "."],
        timeout=300,
        cwd=source,
    )
    (built,) = out.glob("civicpoll-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(workdir: Path, wheel: Path) -> Path:
    """A fresh venv (no system site-packages) with the wheel and its runtime dependencies,
    held to the versions this test-suite runs on."""
    path = workdir / "venv"
    _run([sys.executable, "-m", "venv", str(path)], timeout=120)
    tested = workdir / "tested-versions.txt"
    tested.write_text(
        "".join(
            f"{dist.metadata['Name']}=={dist.version}\n"
            for dist in importlib.metadata.distributions()
            if dist.metadata["Name"] and dist.metadata["Name"].lower() != "civicpoll"
        )
    )
    _run(
        [str(path / "bin" / "python"), "-m", "pip", "install", "-c", str(tested), str(wheel)],
        timeout=600,
        cwd=workdir,
    )
    return path


def _env(venv: Path, **values: str) -> dict[str, str]:
    """A clean environment: no PYTHONPATH pointing back at the source tree, a HOME of its own."""
    env = {
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(venv.parent),
        "LANG": "C.UTF-8",
    }
    env.update(values)
    return env


def test_the_wheel_carries_every_runtime_file_and_no_dev_servers(wheel: Path) -> None:
    expected = _source_files()
    with zipfile.ZipFile(wheel) as whl:
        carried = {i.filename: i for i in whl.infolist() if i.filename.startswith("service/")}
        assert not [name for name in carried if name.startswith("service/dev/")]
        assert sorted(expected.keys() - carried.keys()) == [], "missing from the wheel"
        assert sorted(carried.keys() - expected.keys()) == [], "in the wheel, not in the tree"
        for name, path in expected.items():
            assert whl.read(name) == path.read_bytes(), name
        # The migrations are the files' real text, every one of them.
        for migration in (REPO / "service" / "storage" / "migrations").glob("*.sql"):
            entry = carried[f"service/storage/migrations/{migration.name}"]
            assert not stat.S_ISLNK(entry.external_attr >> 16)
    for data in (
        "service/storage/migrations/0001_sites_tokens_polls.sql",
        "service/storage/migrations/0006_comments_one_shape.sql",
        "service/voting/vote.lua",
        "service/voting/undo.lua",
        "service/core/locales/vi.json",
        "service/core/locales/en.json",
        "service/widget/templates/embed.html",
        "service/widget/templates/results.svg",
        "service/widget/static/widget.js",
        "service/live/templates/dashboard.html",
        "service/live/static/dashboard.js",
    ):
        assert data in carried


def test_the_installed_wheel_is_what_runs(venv: Path, workdir: Path) -> None:
    python = str(venv / "bin" / "python")
    where = _run(
        [python, "-c", "import service; print(service.__file__)"],
        timeout=60,
        cwd=workdir,
        env=_env(venv),
    )
    assert Path(where.stdout.strip()).is_relative_to(venv)
    uvicorn = _run(
        [python, "-c", "import uvicorn; print(uvicorn.__version__)"],
        timeout=60,
        env=_env(venv),
    )
    assert uvicorn.stdout.strip() == importlib.metadata.version("uvicorn")
    dev = subprocess.run(
        [str(venv / "bin" / "civicpoll"), "dev"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=workdir,
        env=_env(venv),
    )
    assert dev.returncode == 2, dev.stderr
    assert dev.stderr.strip() == (
        "civicpoll dev needs a source checkout with the dev extra"
        " (pip install -e '.[dev]', or make venv; then make run)"
    )


def _flush(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()


def _wait_ready(server: subprocess.Popen[str], base: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the server exited {server.returncode}:\n{log.read_text()}"
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the server did not get ready in 30 s:\n{log.read_text()}")


@pytest.mark.parametrize("how", ["civicpoll serve", "uvicorn"])
async def test_the_installed_wheel_migrates_and_serves(
    how: str, venv: Path, workdir: Path, settings: Settings, make_database: DatabaseMaker
) -> None:
    database_url = await make_database()
    # The commands and the server are other processes; a worker thread keeps the waiting
    # for them off the test-suite's event loop.
    await asyncio.to_thread(_migrate_and_serve, how, venv, workdir, database_url, settings)


def _migrate_and_serve(
    how: str, venv: Path, workdir: Path, database_url: str, settings: Settings
) -> None:
    redis_url = settings.redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    _flush(redis_url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = _env(
        venv,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SECRET_KEY=SECRET,
        PUBLIC_URL=base,
        CIVICPOLL_DATA=str(workdir / "no-data"),
    )
    bin_dir = venv / "bin"
    civicpoll = str(bin_dir / "civicpoll")

    migrated = _run([civicpoll, "migrate"], timeout=60, cwd=workdir, env=env)
    assert migrated.stdout.strip().startswith("schema at version ")
    created = _run(
        [civicpoll, "token", "create", "--scope", "sites:admin", "--scope", "polls:write"],
        timeout=60,
        cwd=workdir,
        env=env,
    )
    token = created.stdout.splitlines()[-1]

    if how == "uvicorn":
        command = [str(bin_dir / "uvicorn"), "service.app:app"]
        command += ["--http", "service.server:HttpToolsProtocol", "--no-access-log"]
    else:
        command = [civicpoll, "serve"]
    log = workdir / f"server-{port}.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        _wait_ready(server, base, log)
        _exercise(base, token)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)
        _flush(redis_url)
    assert "Traceback" not in log.read_text(), log.read_text()


def _exercise(base: str, token: str) -> None:
    """A site and an open poll through the admin API, then every public surface of it."""
    with httpx.Client(base_url=base, timeout=10) as http:
        admin = {"Authorization": f"Bearer {token}"}
        r = http.post(
            "/v1/admin/sites",
            headers=admin,
            json={"slug": "ba-dinh", "name": "Ba Đình", "allowed_origins": [base]},
        )
        assert r.status_code == 201, r.text
        r = http.post(
            "/v1/admin/polls",
            headers=admin,
            json={
                "site": "ba-dinh",
                "question": "Có nên mở thêm tuyến xe buýt điện?",
                "options": ["Có", "Không"],
                "locale": "en",
            },
        )
        assert r.status_code == 201, r.text
        poll = r.json()
        r = http.post(f"/v1/admin/polls/{poll['id']}/open", headers=admin)
        assert r.status_code == 200, r.text

        # The page: the widget's template, the locale file, the versioned style sheet.
        r = http.get(f"/embed/{poll['id']}")
        assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
        assert "Có nên mở thêm tuyến xe buýt điện?" in r.text
        assert '<html lang="en"' in r.text and ">Vote</button>" in r.text
        assert f'action="/v1/polls/{poll["id"]}/votes"' in r.text
        r = http.get("/static/embed.css")
        assert r.status_code == 200 and r.content == _source("widget/static/embed.css")

        # A vote: the Lua scripts load and count.
        r = http.post(
            f"/v1/polls/{poll['id']}/votes",
            json={"choices": [poll["options"][0]["id"]]},
            headers={"Cookie": "pv=wheel-test-voter"},
        )
        assert r.status_code in (200, 201), r.text
        results = http.get(f"/v1/polls/{poll['id']}/results")
        assert results.status_code == 200 and results.json()["total"] == 1, results.text

        r = http.get(f"/v1/polls/{poll['id']}/results.svg")
        assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
        assert r.text.startswith("<svg") and "100%" in r.text and "Total: 1 vote" in r.text

        r = http.get("/widget.js")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
        assert r.content == _source("widget/static/widget.js")

        # The live dashboard: the live package's template and script.
        r = http.get(f"/dashboard/{poll['id']}")
        assert r.status_code == 200 and "Có nên mở thêm tuyến xe buýt điện?" in r.text
        r = http.get("/dashboard/static/dashboard.js")
        assert r.status_code == 200 and r.content == _source("live/static/dashboard.js")


def _source(name: str) -> bytes:
    return (REPO / "service" / name).read_bytes()
