"""Failed-login counter per login identifier, in Redis, atomic across processes.

DRF throttling is not a security control (its cache read-modify-write is not
atomic), so logins are limited with ``SET NX EX`` + ``INCR`` in one MULTI transaction.
"""

from __future__ import annotations

import hashlib

from django.conf import settings

from accounts.identifiers import login_identifier
from config.redis_client import get_redis


def _key(login: str) -> str:
    digest = hashlib.sha256(login_identifier(login).encode()).hexdigest()[:32]
    return f"{settings.REDIS_PREFIX}:login-failures:{digest}"


def login_retry_after(login: str) -> int | None:
    """Seconds until ``login`` may try again, or None when it is not locked out."""
    client = get_redis()
    key = _key(login)
    failures = client.get(key)
    if failures is not None and int(failures) >= settings.LOGIN_FAILURE_LIMIT:
        ttl = client.ttl(key)
        return max(int(ttl), 1)
    return None


def login_failure_record(login: str) -> None:
    # SET NX EX starts the window on the first failure; INCR keeps the TTL.
    # (EXPIRE ... NX would do the same in one step but needs Redis 7; the embedded one is 6.2.)
    pipe = get_redis().pipeline(transaction=True)
    key = _key(login)
    pipe.set(key, 0, ex=settings.LOGIN_FAILURE_WINDOW_SECONDS, nx=True)
    pipe.incr(key)
    pipe.execute()


def login_failures_clear(login: str) -> None:
    get_redis().delete(_key(login))
