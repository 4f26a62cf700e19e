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


def get_async_redis() -> redis.asyncio.Redis:
    """An asyncio client for the running event loop (redis-py asyncio pools are bound to
    the loop that made them): for async hot paths such as the availability poll."""
    key = asyncio.get_running_loop()
    client = _async_clients.get(key)
    if client is None:
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            settings.REDIS_URL, decode_responses=True, socket_connect_timeout=2, socket_timeout=5,
            health_check_interval=30, max_connections=settings.REDIS_CLIENT_MAX_CONNECTIONS,
            timeout=settings.REDIS_POOL_TIMEOUT,
        )
        client = _async_clients[key] = redis.asyncio.Redis(connection_pool=pool)
    return client
