"""One DRF exception handler: every error leaves as ``{"code", "detail", ...}``.

https://www.django-rest-framework.org/api-guide/exceptions/#custom-exception-handling
"""

from __future__ import annotations

import math

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from accounts.authentication import AccountSuspended
from config.errors import AppError, ErrorCode
from config.parsers import PayloadTooLarge

_CODES = {
    # API.md (second release): unparseable or too deeply nested JSON is invalid_json
    exceptions.ParseError: ErrorCode.INVALID_JSON,
    AccountSuspended: ErrorCode.ACCOUNT_SUSPENDED,
    exceptions.NotAuthenticated: ErrorCode.NOT_AUTHENTICATED,
    exceptions.AuthenticationFailed: ErrorCode.AUTHENTICATION_FAILED,
    exceptions.PermissionDenied: ErrorCode.PERMISSION_DENIED,
    exceptions.NotFound: ErrorCode.NOT_FOUND,
    exceptions.MethodNotAllowed: ErrorCode.METHOD_NOT_ALLOWED,
    exceptions.UnsupportedMediaType: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    exceptions.Throttled: ErrorCode.RATE_LIMITED,
    PayloadTooLarge: ErrorCode.PAYLOAD_TOO_LARGE,
}


def _flatten_first_message(errors) -> str:
    if isinstance(errors, dict):
        for field, value in errors.items():
            message = _flatten_first_message(value)
            return message if field == "non_field_errors" else f"{field}: {message}"
    if isinstance(errors, list) and errors:
        return _flatten_first_message(errors[0])
    return str(errors)


def exception_handler(exc, context):
    if isinstance(exc, AppError):
        body = exc.as_dict()
        # a 429 of the service's own (too_many_login_attempts) says when, as rate_limited does
        retry_after = body.get("retry_after")
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return Response(body, status=exc.status_code, headers=headers)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real server error: let Django log it and answer 500

    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = {
            "code": ErrorCode.INVALID_INPUT,
            "detail": _flatten_first_message(errors),
            "errors": errors,
        }
        return response

    data = response.data if isinstance(response.data, dict) else {}
    code = _CODES.get(type(exc))
    if code is None:
        code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), None)
    # simplejwt's InvalidToken carries {"code": "token_not_valid", "messages": [...]}
    code = data.get("code") if isinstance(data.get("code"), str) else code
    body = {"code": code or ErrorCode.INVALID_INPUT, "detail": str(data.get("detail", exc))}
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        # API.md: retry_after (the Retry-After header's value); retry_after_seconds as before
        body["retry_after"] = body["retry_after_seconds"] = int(math.ceil(exc.wait))
    response.data = body
    return response
