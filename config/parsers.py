"""The API's one JSON parser: DRF's, with API.md's limits.

- A body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (Django's own limit, ``MAX_BODY_BYTES``)
  → 413 ``payload_too_large``, before it is read.
- Unparseable JSON, or JSON nested deeper than ``API_MAX_JSON_DEPTH`` → 400
  ``invalid_json``. No API body needs more than a few levels; a deep one (a few KB of
  ``[[[[…``) would otherwise end in a ``RecursionError`` somewhere after parsing.

https://www.django-rest-framework.org/api-guide/parsers/#custom-parsers
"""

from __future__ import annotations

import json

from django.conf import settings
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError

from config.errors import ErrorCode


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = ErrorCode.PAYLOAD_TOO_LARGE


class InvalidJson(ParseError):
    default_detail = "The request body is not valid JSON."
    default_code = ErrorCode.INVALID_JSON


def reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")  # as DRF's JSONParser: no NaN or Infinity


def json_depth_exceeds(data, limit: int) -> bool:
    """Whether ``data`` (parsed JSON) nests lists/objects deeper than ``limit``; iterative."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def body_too_large(meta) -> bool:
    try:
        length = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        if request is not None and body_too_large(request.META):
            raise PayloadTooLarge()
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) if stream is not None else b""
        if len(raw) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            raise PayloadTooLarge()
        try:
            data = json.loads(raw.decode(encoding), parse_constant=reject_constant)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise InvalidJson(f"The request body is not valid JSON: {str(exc)[:200]}") from None
        if json_depth_exceeds(data, settings.API_MAX_JSON_DEPTH):
            raise InvalidJson(f"The request body nests deeper than {settings.API_MAX_JSON_DEPTH} levels.")
        return data
