"""PostgreSQL from a web process's event loop, for the fast paths that answer a request
without Django's request cycle (``chat/api/fast_paths.py``).

Django's ORM is synchronous: from async code it runs on a thread (``sync_to_async``),
which is the hop the fast paths exist to avoid. Here psycopg's own asyncio pool
(https://www.psycopg.org/psycopg3/docs/advanced/pool.html) runs a single statement on
the loop, with the connection settings of ``DATABASES["default"]`` as Django reads them
(so a test run reaches the test database). Connections are in autocommit: a statement
is its own transaction. One pool per event loop (a psycopg async connection belongs to
the loop that opened it), sized by ``WEB_ASYNC_DB_POOL_SIZE``.
"""

from __future__ import annotations

import asyncio
import weakref

from django.conf import settings
from django.db import connections
from psycopg_pool import AsyncConnectionPool

# keyed by the loop object itself (weakly): a loop id may be reused once a loop is gone
_pools: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _connection_kwargs() -> dict:
    params = connections["default"].get_connection_params()
    # Django's sync cursor class and its adapters' template are for its own connections
    for name in ("cursor_factory", "context"):
        params.pop(name, None)
    return {**params, "autocommit": True}


async def _pool() -> AsyncConnectionPool:
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        pool = AsyncConnectionPool(
            kwargs=_connection_kwargs(),
            # all opened at once: a pool that grows under a burst makes the burst wait
            min_size=max(1, settings.WEB_ASYNC_DB_POOL_SIZE),
            max_size=max(1, settings.WEB_ASYNC_DB_POOL_SIZE),
            timeout=settings.WEB_ASYNC_DB_TIMEOUT,
            name="web-async",
            open=False,
        )
        _pools[loop] = pool
        await pool.open()
    return pool


async def fetchone(sql: str, params: dict) -> tuple | None:
    """Run one statement (its own transaction) and return its first row, if any.
    Raises psycopg's errors (and ``PoolTimeout`` when every connection stays busy for
    ``WEB_ASYNC_DB_TIMEOUT`` seconds)."""
    pool = await _pool()
    async with pool.connection() as conn:
        cursor = await conn.execute(sql, params)
        return await cursor.fetchone()


async def close() -> None:
    """Close this loop's pool (tests: the test database is dropped at the end)."""
    pool = _pools.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        await pool.close()
