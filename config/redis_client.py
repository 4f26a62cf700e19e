"""One Redis connection pool per process (and per URL), for code that talks to Redis
directly: settings invalidation, login counters, presence, health."""

from __future__ import annotations

import os
import threading

import redis
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
