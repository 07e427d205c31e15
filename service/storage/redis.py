"""The Redis client the service uses, with the timeouts the vote path relies on: one
Redis server (`redis://`), a primary watched by Sentinel
(`redis+sentinel://host:port[,host:port]/master-name[/db]`) or a Redis Cluster
(`redis+cluster://host:port[,host:port]`), and the few operations that differ between
them (pub/sub, scans, per-node marks, a primary that changed)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import ClusterDownError, SlotNotCoveredError
from redis.exceptions import ConnectionError as RedisConnectionError

# Every wait on Redis is bounded by these: a stalled Redis costs a command at most one
# read timeout, so a vote or a results read hears 503 within about a second (the
# engine's own budgets, voting/engine.py, bound the rest).
CONNECT_TIMEOUT = 0.25
READ_TIMEOUT = 0.5

CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")
SENTINEL_SCHEMES = ("redis+sentinel://", "rediss+sentinel://")


class _Cluster(RedisCluster):
    """redis-py's cluster client, which follows MOVED and ASK itself (the command did not
    run on the node that answered so) and reloads a script on NoScriptError (a new
    primary after a failover has none). It would also resend a command after a read
    timeout; not here: a vote script may have run, and resent it would be decided twice."""

    ERRORS_ALLOW_RETRY = (  # type: ignore[assignment]  # the base's, less TimeoutError
        RedisConnectionError,
        ClusterDownError,
        SlotNotCoveredError,
    )


def is_cluster(redis: aioredis.Redis) -> bool:
    return isinstance(redis, RedisCluster)


def connect_redis(url: str) -> aioredis.Redis:
    # One quick retry on a broken connection only (the first stale connection after a
    # restart). Never on a timeout: the command may still run once Redis wakes up, and
    # a resent vote script would then be decided twice.
    if url.startswith(CLUSTER_SCHEMES):
        return _connect_cluster(url)
    if url.startswith(SENTINEL_SCHEMES):
        return _connect_sentinel(url)
    return aioredis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=READ_TIMEOUT,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        health_check_interval=30,
        max_connections=200,
    )


def cluster_nodes(url: str) -> list[tuple[str, int]]:
    """host:port pairs of a redis+cluster:// URL; any one is enough to find the rest."""
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    nodes = []
    for part in netloc.split(","):
        host, _, port = part.strip().rpartition(":")
        if not host:
            host, port = port, "6379"
        nodes.append((host.strip("[]"), int(port)))
    return nodes


def sentinel_target(url: str) -> tuple[list[tuple[str, int]], str, int]:
    """The sentinels (port 26379 unless named), the master's name and the database of a
    redis+sentinel://host[:port][,host[:port]]/master-name[/db] URL."""
    nodes = []
    for part in urlsplit(url).netloc.rpartition("@")[2].split(","):
        part = part.strip()
        if part.startswith("["):  # [IPv6]:port
            host, _, rest = part[1:].partition("]")
            port = rest.removeprefix(":")
        else:
            host, _, port = part.partition(":")
        nodes.append((host, int(port) if port else 26379))
    path = [p for p in urlsplit(url).path.split("/") if p]
    if not path:
        raise ValueError("a redis+sentinel:// URL names its master: .../master-name")
    db = int(path[1]) if len(path) > 1 else 0
    return nodes, unquote(path[0]), db


def _connect_sentinel(url: str) -> aioredis.Redis:
    """The primary Sentinel names, followed through a failover: a new connection asks the
    sentinels where the primary is, and a connection to a primary that was demoted fails
    with READONLY, which redis-py turns into a connection error (retried once: the
    command did not run)."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    username, _, password = credentials.partition(":")
    nodes, master, db = sentinel_target(url)
    timeouts: dict[str, Any] = {
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": READ_TIMEOUT,
    }
    sentinel = Sentinel(nodes, sentinel_kwargs=timeouts)
    primary: aioredis.Redis = sentinel.master_for(
        master,
        db=db,
        username=unquote(username) or None,
        password=unquote(password) or None,
        ssl=url.startswith("rediss+"),
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        health_check_interval=30,
        max_connections=200,
        **timeouts,
    )
    return primary


class PrimaryWatch:
    """Tells when Sentinel has moved the primary: writes the old primary acknowledged may
    not have reached its replica (replication is asynchronous), so the counts must be
    rebuilt from the ledger. Always False for one server or a cluster, which need it not
    (a cluster's empty node is found by its missing per-node mark)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        pool = redis.connection_pool
        self._pool = pool if isinstance(pool, SentinelConnectionPool) else None
        self._primary: Any = None

    async def changed(self) -> bool:
        if self._pool is None:
            return False
        primary = await self._pool.get_master_address()  # type: ignore[no-untyped-call]
        moved = self._primary is not None and primary != self._primary
        self._primary = primary
        return moved


def _connect_cluster(url: str) -> aioredis.Redis:
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    username, _, password = credentials.partition(":")
    client = _Cluster(
        startup_nodes=[ClusterNode(host, port) for host, port in cluster_nodes(url)],
        username=unquote(username) or None,
        password=unquote(password) or None,
        ssl=url.startswith("rediss+"),
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=READ_TIMEOUT,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
        max_connections=200,
    )
    # The commands the service uses are the same on both clients; where they differ
    # (pub/sub, scans, marks per node) the helpers below take both.
    return cast(aioredis.Redis, client)


# ---------------------------------------------------------------- pub/sub


async def publish(redis: aioredis.Redis, channel: str, message: str) -> None:
    """Tell every process: sharded pub/sub on a cluster (SPUBLISH travels only within
    the channel's shard, where plain PUBLISH floods every node of the cluster)."""
    if is_cluster(redis):
        await redis.spublish(channel, message)
    else:
        await redis.publish(channel, message)


async def messages(
    redis: aioredis.Redis, channel: str, subscribed: Callable[[], None]
) -> AsyncIterator[bytes]:
    """The messages published on `channel`, as they come, until the connection fails
    (the caller subscribes again). `subscribed` runs once the subscription holds."""
    if is_cluster(redis):
        cluster = cast(RedisCluster, redis)
        await cluster.initialize()  # ssubscribe looks up the slot map without loading it
        sharded = cluster.pubsub()
        try:
            await sharded.ssubscribe(channel)
            subscribed()
            while True:
                message = await sharded.get_sharded_message(
                    ignore_subscribe_messages=True, timeout=1.0
                )
                if message is not None and isinstance(message.get("data"), bytes):
                    yield message["data"]
        finally:
            await _close(sharded)
        return
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(channel)
        subscribed()
        async for message in pubsub.listen():
            data = message.get("data")
            if isinstance(data, bytes):
                yield data
    finally:
        await _close(pubsub)


async def _close(pubsub: Any) -> None:
    # Bounded: closing a subscription whose connection is mid-read can wait on that
    # read, and shutdown must not hang on it.
    with contextlib.suppress(aioredis.RedisError, OSError, TimeoutError):
        async with asyncio.timeout(1.0):
            await pubsub.aclose()


# ---------------------------------------------------------------- keys


async def scan_tagged(redis: aioredis.Redis, tag: str, pattern: str) -> AsyncIterator[bytes]:
    """Keys matching `pattern` whose hash tag is `tag`: on a cluster, scanned on the one
    node holding the tag's slot (a full scan would visit every node)."""
    if is_cluster(redis):
        cluster = cast(RedisCluster, redis)
        node = cluster.get_node_from_key("{" + tag + "}")
        async for key in cluster.scan_iter(match=pattern, count=1000, target_nodes=node):
            yield key
        return
    async for key in redis.scan_iter(match=pattern, count=1000):
        yield key


async def per_node_keys(redis: aioredis.Redis, name: str) -> list[str]:
    """One key per primary, spelled from `name`: marks that say something about each
    node's memory (a node that restarted empty has lost its own copy). One server: the
    name itself."""
    if not is_cluster(redis):
        return [name]
    cluster = cast(RedisCluster, redis)
    await cluster.initialize()  # the slot map is loaded on first use; a no-op after
    slots = cluster.nodes_manager.slots_cache
    first: dict[str, int] = {}
    for slot in sorted(slots):
        first.setdefault(slots[slot][0].name, slot)
    return [f"{name}:{{{_tag_for_slot(slot)}}}" for _, slot in sorted(first.items())]


@functools.cache
def _tag_for_slot(slot: int) -> str:
    """A short hash tag whose keys land in `slot` (found by trying numbers: one in
    16384 fits, so some ten thousand CRC16s, once per slot a process needs)."""
    n = 0
    while key_slot(str(n).encode()) != slot:
        n += 1
    return str(n)
