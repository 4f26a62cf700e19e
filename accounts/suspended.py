"""Which accounts are suspended, for the stateless hot paths (SPEC §12).

Most requests load their user (``accounts.authentication``), and the message send's
statement reads the user row; the availability poll does neither, on purpose (it must
stay query-free, ``make bench`` P1). For it, the ids of suspended accounts (and of
deactivated or erased ones) are shared through one Redis set, rebuilt from the database after every suspension or
reactivation and by a beat task (``accounts.tasks.publish_suspended_users``), and
each process keeps what it read for ``SUSPENDED_USERS_PROCESS_CACHE_SECONDS`` (1 s).
The set carries a marker member: without it (Redis restarted, never built) nobody's
status is known, and the poll takes Django's path, which builds it again.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db.models import Q

from accounts.models import User
from config.redis_client import get_async_redis, get_redis

_BUILT = "*"


def _key() -> str:
    return f"{settings.REDIS_PREFIX}:suspended-users"


def suspended_users_publish() -> int:
    """Rebuild the shared set from the database (one query, one Redis transaction)."""
    # suspended, and deactivated or erased (SPEC §13): neither may poll any more
    shut = User.objects.filter(Q(suspended_at__isnull=False) | Q(is_active=False))
    ids = [str(pk) for pk in shut.values_list("id", flat=True)]
    pipe = get_redis().pipeline(transaction=True)
    pipe.delete(_key())
    pipe.sadd(_key(), _BUILT, *ids)
    pipe.execute()
    suspended_users.forget()
    return len(ids)


class _Memo:
    def __init__(self) -> None:
        self.members: frozenset[str] | None = None
        self.read_at = float("-inf")

    def _fresh(self) -> bool:
        return time.monotonic() - self.read_at < settings.SUSPENDED_USERS_PROCESS_CACHE_SECONDS

    def _keep(self, members) -> None:
        self.members = frozenset(members) if _BUILT in members else None
        self.read_at = time.monotonic()

    def forget(self) -> None:
        self.read_at = float("-inf")

    def suspended(self, user_id) -> bool:
        """Whether ``user_id`` is suspended (Django's path: builds the shared set when
        it is missing, one query, so the next polls need none)."""
        if not self._fresh():
            self._keep(get_redis().smembers(_key()))
        if self.members is None:
            suspended_users_publish()
            self._keep(get_redis().smembers(_key()))
        if self.members is None:  # rebuilt and lost again at once: read the row
            return User.objects.filter(id=user_id, suspended_at__isnull=False).exists()
        return str(user_id) in self.members

    async def suspended_async(self, user_id) -> bool | None:
        if not self._fresh():
            redis = get_async_redis()
            async with redis.slot:
                self._keep(await redis.client.smembers(_key()))
        return None if self.members is None else str(user_id) in self.members


suspended_users = _Memo()
