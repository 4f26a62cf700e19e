"""One Redis connection pool per process (and per URL), for code that talks to Redis
directly: settings invalidation, login counters, presence, health."""

from __future__ import annotations

import asyncio
import os
import threading
import weakref

import redis
import redis.asyncio
from django.conf import settings

_pools: dict[tuple[int, str], redis.ConnectionPool] = {}
_lock = threading.Lock()


def get_redis(url: str | None = None) -> redis.Redis:
    url = url or settings.REDIS_URL
    key = (os.getpid(), url)  # a forked child must not reuse its parent's sockets
    pool = _pools.get(key)
    if pool is None:
        with _lock:
            pool = _pools.get(key)
            if pool is None:
                # blocking: a full pool makes a caller wait, never fail (settings.py, Redis pools)
                pool = redis.BlockingConnectionPool.from_url(
                    url, decode_responses=True, socket_connect_timeout=2, socket_timeout=5,
                    health_check_interval=30, max_connections=settings.REDIS_CLIENT_MAX_CONNECTIONS,
                    timeout=settings.REDIS_POOL_TIMEOUT,
                )
                _pools[key] = pool
    return redis.Redis(connection_pool=pool)


# keyed by the loop object itself (weakly): a loop id may be reused once a loop is gone
_async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class AsyncRedis:
    """An asyncio client for one event loop (redis-py asyncio pools are bound to the loop
    that made them) and the slots that bound its commands in flight: a storm of a
    thousand sockets then waits for a slot instead of failing with "Too many
    connections" (settings.py, Redis pools)."""

    def __init__(self) -> None:
        pool = redis.asyncio.ConnectionPool.from_url(
            settings.REDIS_URL, decode_responses=True, socket_connect_timeout=2, socket_timeout=5,
            health_check_interval=30, max_connections=settings.REDIS_ASYNC_MAX_CONNECTIONS,
        )
        self.client = redis.asyncio.Redis(connection_pool=pool)
        self.slot = asyncio.Semaphore(settings.REDIS_ASYNC_COMMAND_CONCURRENCY)


def get_async_redis() -> AsyncRedis:
    """For async hot paths (presence heartbeats, the availability poll):
    ``async with r.slot: await r.client.get(...)``."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = _async_clients[loop] = AsyncRedis()
    return client
