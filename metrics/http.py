"""Counting every HTTP request by route and status, and its latency.

The web tier answers some requests on the event loop without Django (the fast paths of
``pairing/api/fast_paths.py`` and ``chat/api/fast_paths.py``), so the counting is an
ASGI wrapper around the whole HTTP app (``config/asgi.py``), not a Django middleware
(django-prometheus' middleware would miss those, and the wait for a request thread).

The label is the URL route, never the raw path (ids would make a series per session):
whoever answers names it in the request's ``RouteLabel`` — a fast path with its route
constant, Django through ``route_label_middleware`` (its ``resolver_match.route``, handed
over in the WSGI environ by ``config/wsgi_bridge.py``). The copies of the scope a fast
path hands on share the one label object.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings

from metrics.instruments import HTTP_REQUEST_DURATION, HTTP_REQUESTS

logger = logging.getLogger(__name__)

ROUTE_LABEL = "curhat.metrics.route"
"""Scope and WSGI environ key of the request's ``RouteLabel`` (a client cannot set it:
headers become ``HTTP_*`` keys)."""

UNMATCHED = "unmatched"
STATIC = "static"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RouteLabel:
    __slots__ = ("route",)

    def __init__(self) -> None:
        self.route: str | None = None


def set_route(scope, route: str) -> None:
    """Called by a fast path that answers the request itself."""
    label = scope.get(ROUTE_LABEL)
    if label is not None:
        label.route = route


class _Series:
    """This process's label children, looked up once per (route, method, status): a
    dict hit instead of ``labels()``' validation and lock on every request. Routes are
    the URL patterns, so the dict stays small."""

    def __init__(self) -> None:
        self.counters: dict[tuple[str, str, str], object] = {}
        self.histograms: dict[tuple[str, str], object] = {}

    def record(self, route: str, method: str, status: str, seconds: float) -> None:
        counter = self.counters.get((route, method, status))
        if counter is None:
            counter = self.counters[(route, method, status)] = HTTP_REQUESTS.labels(route, method, status)
        histogram = self.histograms.get((route, method))
        if histogram is None:
            histogram = self.histograms[(route, method)] = HTTP_REQUEST_DURATION.labels(route, method)
        counter.inc()
        histogram.observe(seconds)


_series = _Series()


class HttpMetrics:
    """ASGI wrapper: counts each HTTP request once it is answered (``status`` "0" when
    the client left before an answer, "500" when the app raised before answering)."""

    def __init__(self, app):
        self.app = app
        self.static_prefix = "/" + settings.STATIC_URL.lstrip("/")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        label = scope[ROUTE_LABEL] = RouteLabel()
        status = 0

        async def send_counted(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        except BaseException:
            status = status or 500
            raise
        finally:
            route = label.route
            if route is None:
                route = STATIC if scope["path"].startswith(self.static_prefix) else UNMATCHED
            method = scope["method"] if scope["method"] in _METHODS else "other"
            try:
                _series.record(route, method, str(status), time.perf_counter() - started)
            except Exception as exc:  # noqa: BLE001 - a metrics problem never fails a request
                logger.error("request metrics not recorded: %s", exc)


def route_label_middleware(get_response):
    """Django middleware (first in ``MIDDLEWARE``): names the route Django resolved for
    ``HttpMetrics``. Outside the ASGI app (Django's test client) there is nothing to name."""

    def middleware(request):
        response = get_response(request)
        label = request.META.get(ROUTE_LABEL)
        if label is not None and request.resolver_match is not None:
            label.route = request.resolver_match.route
        return response

    return middleware
