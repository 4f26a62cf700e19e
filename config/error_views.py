"""Errors Django answers itself (no view, or a failure outside DRF), in API.md's shape
for ``/api/`` and ``/internal/``; the control center's pages keep Django's HTML.

https://docs.djangoproject.com/en/5.2/topics/http/views/#customizing-error-views
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views import defaults

from config.errors import ErrorCode

_API_PREFIXES = ("/api/", "/internal/")


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
        return _json(413, ErrorCode.PAYLOAD_TOO_LARGE, "The request body is too large.")
    if is_api_path(request.path):
        return _json(400, ErrorCode.BAD_REQUEST, "Bad request.")
    return defaults.bad_request(request, exception)


def server_error(request):
    if is_api_path(request.path):
        return _json(500, ErrorCode.SERVER_ERROR, "Something went wrong on our side.")
    return defaults.server_error(request)
