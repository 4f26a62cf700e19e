"""The ``Idempotency-Key`` header for POSTs that change money or pairing state.

The same key from the same user returns the first response and does nothing twice,
also when the duplicates arrive at the same time: the key row is inserted in the
same transaction as the work, and PostgreSQL makes a concurrent ``INSERT`` of the
same unique key wait until the first transaction ends — then it sees the stored
response. If the first request failed (rolled back), the waiting one simply runs.
The same key with another method, path or body is refused with 422.
"""

from __future__ import annotations

import hashlib
import json
from functools import wraps

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from drf_spectacular.utils import OpenApiParameter
from rest_framework.response import Response

from config.errors import AppError, ErrorCode
from idempotency.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 128

IDEMPOTENCY_HEADER = OpenApiParameter(
    HEADER, str, OpenApiParameter.HEADER, required=False,
    description="Replays with the same key return the first response; another body with it → 422.",
)


def _fingerprint(request) -> str:
    try:
        body = json.dumps(request.data, sort_keys=True, cls=DjangoJSONEncoder)
    except TypeError:
        body = repr(request.data)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _claim(user_id, key: str, fingerprint: str) -> bool:
    """Insert the key row; False when it already exists (after waiting for its owner)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO idempotency_keys (user_id, key, request_fingerprint, created_at) "
            "VALUES (%s, %s, %s, now()) ON CONFLICT (user_id, key) DO NOTHING RETURNING id",
            [user_id, key, fingerprint],
        )
        return cursor.fetchone() is not None


def idempotent(view_method):
    """Decorate an APIView's ``post``: with the header, the whole handling runs in one
    transaction together with the key row."""

    @wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view_method(self, request, *args, **kwargs)
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            raise AppError(
                ErrorCode.INVALID_INPUT, f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters.",
                errors={HEADER: ["Invalid key."]},
            )
        fingerprint = _fingerprint(request)
        with transaction.atomic():
            if not _claim(request.user.pk, key, fingerprint):
                record = IdempotencyRecord.objects.get(user_id=request.user.pk, key=key)
                if record.request_fingerprint != fingerprint:
                    raise AppError(
                        ErrorCode.IDEMPOTENCY_KEY_REUSED,
                        "This Idempotency-Key was used for a different request.",
                        status=422,
                    )
                return Response(record.response_body, status=record.response_status, headers={"Idempotent-Replayed": "true"})
            response = view_method(self, request, *args, **kwargs)
            body = json.loads(json.dumps(response.data, cls=DjangoJSONEncoder))
            IdempotencyRecord.objects.filter(user_id=request.user.pk, key=key).update(
                response_status=response.status_code, response_body=body
            )
            return response

    return wrapper

