"""``GET /metrics``: the Prometheus exposition of every process on this machine.

Readable by an operator signed in to the control center (its session cookie) or by a
scraper with ``Authorization: Bearer <METRICS_TOKEN>``; anyone else gets API.md's error
shape (401 without credentials or with a wrong token, 403 for a signed-in non-operator).

In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set) each scrape builds a fresh
registry over the directory's files, as prometheus_client's docs do:
https://prometheus.github.io/client_python/multiprocess/
"""

from __future__ import annotations

import hmac
import os

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.exposition import choose_encoder

from config.errors import ErrorCode
from metrics.collectors import ScrapeTimeCollector

_ALLOWED_METHODS = ("GET", "HEAD")


def _error(status: int, code: str, detail: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"code": code, "detail": detail}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    response["Cache-Control"] = "no-store"
    return response


def _bearer(request) -> str | None:
    kind, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return value.strip() if kind.lower() == "bearer" else None


def _refusal(request) -> JsonResponse | None:
    """None when the caller may read the metrics."""
    token = _bearer(request)
    if token is not None:
        expected = settings.METRICS_TOKEN
        # bytes: compare_digest refuses non-ASCII str, and a client chooses the header
        if expected and hmac.compare_digest(token.encode(), expected.encode()):
            return None
        return _error(401, ErrorCode.AUTHENTICATION_FAILED, "Invalid metrics token.", WWW_Authenticate='Bearer realm="metrics"')
    user = request.user
    if not user.is_authenticated:
        return _error(401, ErrorCode.NOT_AUTHENTICATED, "Sign in as an operator or send the metrics token.",
                      WWW_Authenticate='Bearer realm="metrics"')
    if not (user.is_active and user.is_operator):
        return _error(403, ErrorCode.PERMISSION_DENIED, "Only operators may read the metrics.")
    return None


def scrape_registry() -> CollectorRegistry:
    """A registry over every process's values (or this process's, outside multiprocess
    mode) plus what is read at scrape time."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(ScrapeTimeCollector())
    return registry


class _ThisProcess:
    def collect(self):
        return REGISTRY.collect()


@csrf_exempt  # reads only; a POST gets the 405 below in API.md's shape, not the CSRF page
def metrics(request):
    if request.method not in _ALLOWED_METHODS:
        response = _error(405, ErrorCode.METHOD_NOT_ALLOWED, f'Method "{request.method}" not allowed.')
        response["Allow"] = ", ".join(_ALLOWED_METHODS)
        return response
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    encoder, content_type = choose_encoder(request.META.get("HTTP_ACCEPT", ""))
    response = HttpResponse(encoder(scrape_registry()), content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response
