"""Errors Django answers itself (no view, or a failure outside DRF), in API.md's shape
for ``/api/`` and ``/internal/``; the control center's pages keep Django's HTML.

https://docs.djangoproject.com/en/5.2/topics/http/views/#customizing-error-views
"""

from __future__ import annotations

import sys

import redis
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.views import defaults

from config.errors import ErrorCode

_API_PREFIXES = ("/api/", "/internal/")
# what a dependency being down looks like from here: PostgreSQL (Django wraps psycopg's
# errors, its pool's timeout included) and Redis (cache, counters, channel layer)
_OUTAGES = (OperationalError, InterfaceError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
RETRY_AFTER_SECONDS = 5


def is_api_path(path: str) -> bool:
    return path.startswith(_API_PREFIXES)


def _json(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail}, status=status)


def not_found(request, exception=None):
    """``handler404``, and the catch-all of unknown ``/api/``, ``/internal/`` paths
    (config/urls.py), so a mobile client gets JSON in development (DEBUG) as well."""
    if is_api_path(request.path):
        return _json(404, ErrorCode.NOT_FOUND, "Not found.")
    return defaults.page_not_found(request, exception)


def bad_request(request, exception=None):
    """``handler400``: Django's refusals before any view (a disallowed host, a body over
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` read by Django itself → 413)."""
    if isinstance(exception, RequestDataTooBig):
        if is_api_path(request.path):
            return _json(413, ErrorCode.PAYLOAD_TOO_LARGE, "The request body is too large.")
        return HttpResponse("Request body too large.", status=413, content_type="text/plain")
    if is_api_path(request.path):
        return _json(400, ErrorCode.BAD_REQUEST, "Bad request.")
    return defaults.bad_request(request, exception)


def is_outage(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) is PostgreSQL or Redis being unreachable."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, _OUTAGES):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def service_unavailable(request):
    """503 ``service_unavailable`` with ``Retry-After`` (API.md): PostgreSQL or Redis is
    unreachable."""
    if is_api_path(request.path):
        response = _json(503, ErrorCode.SERVICE_UNAVAILABLE, "The service is briefly unavailable. Try again shortly.")
    else:
        response = HttpResponse("Service briefly unavailable. Try again shortly.", status=503, content_type="text/plain")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def server_error(request):
    """``handler500`` (called while the exception is being handled): PostgreSQL or Redis
    unreachable is 503 (``service_unavailable``), anything else 500."""
    if is_outage(sys.exc_info()[1]):
        return service_unavailable(request)
    if is_api_path(request.path):
        return _json(500, ErrorCode.SERVER_ERROR, "Something went wrong on our side.")
    return defaults.server_error(request)
