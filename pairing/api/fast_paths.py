"""The availability poll without Django's request cycle.

Every customer on the home screen polls ``GET /api/client/mitra-availability`` every
5 s (SPEC §3), so it is the most frequent request by far. Its happy path — a valid
customer access token and an answer already in the shared cache — needs no database,
no middleware and no thread: this ASGI wrapper answers it on the event loop from the
JWT claims and one Redis read (and, once a second per process, the shared set of
suspended accounts). Everything else (no or bad token, another role, a suspended
account or one not known not to be, another method, a cold cache, a Redis error) goes
to Django and ``AvailabilityApi`` unchanged, so errors keep the one shape of API.md
and the schema still describes the endpoint.
"""

from __future__ import annotations

import json
import logging
import time

from django.conf import settings

from accounts.models import Role
from accounts.suspended import suspended_users
from config.fast_path import bearer_claims, host_allowed, send_json
from metrics.http import set_route
from pairing.selectors import availability_cached

logger = logging.getLogger(__name__)

AVAILABILITY_PATH = "/api/client/mitra-availability"
AVAILABILITY_ROUTE = "api/client/mitra-availability"
"""The URL route Django names for this path (the request metrics' label)."""

_BODIES = {value: json.dumps({"available": value}, separators=(",", ":")).encode() for value in (True, False)}


async def _customer_in_good_standing(scope) -> bool:
    """A customer's valid token, of an account not known to be suspended."""
    claims = bearer_claims(scope)
    if claims is None or claims.role != Role.CUSTOMER:
        return False
    return await suspended_users.suspended_async(claims.user_id) is False


class _ProcessMemo:
    """The shared (Redis) answer, kept in this process for
    ``AVAILABILITY_PROCESS_CACHE_SECONDS`` (default 1 s): clients poll every 5 s and
    must see a change within 5 s (SPEC §3), so one Redis read a second per process is
    plenty."""

    def __init__(self) -> None:
        self.value: bool | None = None
        self.read_at = 0.0

    async def get(self) -> bool | None:
        ttl = settings.AVAILABILITY_PROCESS_CACHE_SECONDS
        now = time.monotonic()
        if self.value is not None and now - self.read_at < ttl:
            return self.value
        value = await availability_cached()
        self.value, self.read_at = value, now
        return value


_memo = _ProcessMemo()


class AvailabilityFastPath:
    """ASGI middleware in front of Django's HTTP handler (``config.asgi``)."""

    def __init__(self, django_app):
        self.django_app = django_app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] == AVAILABILITY_PATH and scope["method"] == "GET":
            available = await self._answer(scope)
            if available is not None:
                set_route(scope, AVAILABILITY_ROUTE)
                await send_json(send, 200, _BODIES[available], allow=b"GET, HEAD, OPTIONS")
                return
        await self.django_app(scope, receive, send)

    @staticmethod
    async def _answer(scope) -> bool | None:
        try:
            if not (host_allowed(scope) and await _customer_in_good_standing(scope)):
                return None
            return await _memo.get()
        except Exception as exc:  # Redis trouble: Django's path answers (or fails) the usual way
            logger.warning("availability fast path: cache read failed: %s", exc)
            return None
