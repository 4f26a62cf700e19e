"""The availability poll without Django's request cycle.

Every customer on the home screen polls ``GET /api/client/mitra-availability`` every
5 s (SPEC §3), so it is the most frequent request by far. Its happy path — a valid
customer access token and an answer already in the shared cache — needs no database,
no middleware and no thread: this ASGI wrapper answers it on the event loop from the
JWT claims and one Redis read. Everything else (no or bad token, another role, another
method, a cold cache, a Redis error) goes to Django and ``AvailabilityApi`` unchanged,
so errors keep the one shape of API.md and the schema still describes the endpoint.
"""

from __future__ import annotations

import json
import logging
import time

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import Role
from pairing.selectors import availability_cached

logger = logging.getLogger(__name__)

AVAILABILITY_PATH = "/api/client/mitra-availability"

# what Django's SecurityMiddleware, XFrameOptionsMiddleware and DRF add to the same answer
_HEADERS = [
    (b"content-type", b"application/json"),
    (b"allow", b"GET, HEAD, OPTIONS"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_BODIES = {value: json.dumps({"available": value}, separators=(",", ":")).encode() for value in (True, False)}


class _VerifiedTokens:
    """Access tokens this process has verified, with their expiry and role. A customer
    polls with the same token every 5 s; its signature is checked once, its expiry on
    every poll. Bounded: emptied when full."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self.entries: dict[str, tuple[float, str]] = {}

    def role(self, raw: str) -> str | None:
        entry = self.entries.get(raw)
        if entry is None:
            try:
                token = AccessToken(raw)
            except TokenError:
                return None
            if len(self.entries) >= self.size:
                self.entries.clear()
            entry = self.entries[raw] = (float(token["exp"]), token.get("role"))
        expires, role = entry
        if expires <= time.time():
            self.entries.pop(raw, None)
            return None
        return role


_verified = _VerifiedTokens()


def _customer_token(scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            kind, _, raw = value.decode("latin-1").partition(" ")
            if kind.lower() != "bearer" or not raw.strip():
                return False
            return _verified.role(raw.strip()) == Role.CUSTOMER
    return False


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


def _host_allowed(scope) -> bool:
    """Django's own ``ALLOWED_HOSTS`` check (``HttpRequest.get_host``)."""
    for name, value in scope.get("headers", ()):
        if name == b"host":
            domain, _port = split_domain_port(value.decode("latin-1"))
            return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)
    return False


class AvailabilityFastPath:
    """ASGI middleware in front of Django's HTTP handler (``config.asgi``)."""

    def __init__(self, django_app):
        self.django_app = django_app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] == AVAILABILITY_PATH and scope["method"] == "GET":
            available = await self._answer(scope)
            if available is not None:
                body = _BODIES[available]
                await send({"type": "http.response.start", "status": 200,
                            "headers": [*_HEADERS, (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.django_app(scope, receive, send)

    @staticmethod
    async def _answer(scope) -> bool | None:
        if not (_host_allowed(scope) and _customer_token(scope)):
            return None
        try:
            return await _memo.get()
        except Exception as exc:  # Redis trouble: Django's path answers (or fails) the usual way
            logger.warning("availability fast path: cache read failed: %s", exc)
            return None
