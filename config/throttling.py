"""Rate limits (API.md: 429 ``rate_limited`` with ``retry_after`` and ``Retry-After``).

DRF throttle classes (https://www.django-rest-framework.org/api-guide/throttling/) over
counters in the shared Redis, so a limit holds across every web process. DRF's own
``SimpleRateThrottle`` keeps a list in the cache with a read-modify-write that is not
atomic; here each window is a fixed-window counter (``SET NX EX`` + ``INCR`` in one
MULTI, one round trip for all windows of a limit), exact under concurrency.

A limit is a scope with one or more windows, e.g. ``messages`` = ``5/s,120/min``: a burst
allowance for normal typing and a sustained rate. Rates come from ``RATE_LIMITS``
(settings, each overridable by ``RATE_LIMIT_<SCOPE>``). Who is counted: the user for
``per = "user"`` scopes, the client address for ``per = "address"`` (``client_address``:
``REMOTE_ADDR``, or the configured trusted proxy header), everyone at once for
``per = "all"``.
"""

from __future__ import annotations

import hashlib
import math

from django.conf import settings
from rest_framework.exceptions import Throttled
from rest_framework.throttling import BaseThrottle

from config.exception_handler import exception_handler
from config.redis_client import get_async_redis, get_redis
from config.wsgi_bridge import COUNTED_RATE_LIMITS

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> list[tuple[int, int]]:
    """``"5/s,120/min"`` → ``[(5, 1), (120, 60)]``; units s, m(in), h(our), d(ay)."""
    windows = []
    for part in rate.split(","):
        count, _, unit = part.strip().partition("/")
        seconds = _UNITS.get(unit.strip()[:1].lower())
        if not count.strip().isdigit() or seconds is None:
            raise ValueError(f"bad rate {part!r}: use e.g. 5/s, 120/min, 20/hour, 100/day")
        windows.append((int(count), seconds))
    return windows


def client_address(request_meta: dict) -> str:
    """The client's address: ``REMOTE_ADDR``, or behind a proxy the last entry of the
    header the proxy sets (``CLIENT_IP_HEADER``, e.g. ``X-Forwarded-For``: the address
    our proxy saw; what a client wrote there itself comes before it). Never a header
    that is not configured: a client could write any address there."""
    header = settings.CLIENT_IP_HEADER
    if header:
        value = request_meta.get("HTTP_" + header.upper().replace("-", "_"), "")
        last = value.split(",")[-1].strip()
        if last:
            return last
    return request_meta.get("REMOTE_ADDR", "") or "unknown"


def _keys(scope: str, ident: str, windows: list[tuple[int, int]]) -> list[str]:
    digest = hashlib.sha256(ident.encode()).hexdigest()[:24]
    return [f"{settings.REDIS_PREFIX}:rate:{scope}:{seconds}:{digest}" for _, seconds in windows]


def _queue(pipe, keys: list[str], windows: list[tuple[int, int]]) -> None:
    for key, (_, seconds) in zip(keys, windows):
        pipe.set(key, 0, ex=seconds, nx=True)
        pipe.incr(key)
        pipe.ttl(key)


def _wait(results: list, windows: list[tuple[int, int]]) -> float | None:
    """Seconds until the call would be allowed, or None when it is within every window."""
    wait = None
    for index, (count, seconds) in enumerate(windows):
        used, ttl = results[3 * index + 1], results[3 * index + 2]
        if used > count:
            wait = max(wait or 0, ttl if ttl and ttl > 0 else seconds)
    return wait


def hit(scope: str, ident: str) -> float | None:
    """Count one call of ``ident`` in ``scope``; the seconds to wait if it is over a limit."""
    windows = parse_rate(settings.RATE_LIMITS[scope])
    keys = _keys(scope, ident, windows)
    pipe = get_redis().pipeline(transaction=True)
    _queue(pipe, keys, windows)
    return _wait(pipe.execute(), windows)


async def hit_async(scope: str, ident: str) -> float | None:
    """``hit`` from an event loop (the message send fast path)."""
    windows = parse_rate(settings.RATE_LIMITS[scope])
    keys = _keys(scope, ident, windows)
    redis = get_async_redis()
    async with redis.slot:
        pipe = redis.client.pipeline(transaction=True)
        _queue(pipe, keys, windows)
        return _wait(await pipe.execute(), windows)


def throttled_body(wait: float) -> dict:
    """The 429 body DRF's handler gives for a throttled request (config/exception_handler.py)."""
    response = exception_handler(Throttled(wait), {})
    return response.data


class RateLimit(BaseThrottle):
    """A DRF throttle for one scope. Subclasses set ``scope``, ``per`` and, when only
    some methods count, ``methods``."""

    scope = ""
    per = "user"  # "user" | "address" | "all"
    methods: tuple[str, ...] = ("POST",)

    def __init__(self) -> None:
        self._wait: float | None = None

    def ident(self, request) -> str:
        if self.per == "all":
            return "all"
        if self.per == "user" and getattr(request.user, "is_authenticated", False):
            return f"user:{request.user.pk}"
        return f"addr:{client_address(request.META)}"

    def allow_request(self, request, view) -> bool:
        if request.method not in self.methods:
            return True
        if self.scope in request.META.get(COUNTED_RATE_LIMITS, ()):
            return True  # a fast path counted this request before handing it to Django
        self._wait = hit(self.scope, self.ident(request))
        return self._wait is None

    def wait(self) -> float | None:
        return math.ceil(self._wait) if self._wait is not None else None


def rate_limit(scope: str, *, per: str = "user", methods: tuple[str, ...] = ("POST",)) -> type[RateLimit]:
    """A throttle class for a view's ``throttle_classes``."""
    return type(f"RateLimit_{scope}", (RateLimit,), {"scope": scope, "per": per, "methods": methods})
