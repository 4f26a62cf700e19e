"""Errors a client can cause outside any view's own rules (API.md, "errors used
everywhere"): unparseable or too deeply nested JSON → 400 invalid_json, a body over the
limit → 413 payload_too_large, an unknown /api/ or /internal/ path → 404 not_found, all
in the ``{code, detail}`` shape and never a server error; nothing is written."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.testing import HttpCommunicator
from rest_framework.test import APIClient

from accounts.models import User
from config.asgi import application

pytestmark = pytest.mark.django_db


def _nested(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("path, client_fixture", [
    ("/api/auth/token", "anon_client"), ("/api/auth/register", "anon_client"), ("/api/devices", "customer_client"),
])
@pytest.mark.parametrize("body", [
    _nested(950),  # the finding: 1.9 KB, no token needed → RecursionError, 500
    '{"login": ' + _nested(100_000) + "}",  # deeper than Python's own recursion limit
    '{"login": ' + "[" * 33 + "]" * 33 + ', "password": "x"}',  # just past API_MAX_JSON_DEPTH
    "{not json",
    '{"login": NaN}',
    b"\xff\xfe{}",
])
def test_bad_or_deep_json_is_400_invalid_json(path, client_fixture, body, request):
    client = request.getfixturevalue(client_fixture)
    users = User.objects.count()

    response = client.generic("POST", path, body, content_type="application/json")

    assert response.status_code == 400, response.content[:300]
    assert response.json()["code"] == "invalid_json"
    assert set(response.json()) == {"code", "detail"}
    assert User.objects.count() == users


def test_json_as_deep_as_the_limit_is_read(anon_client, settings):
    body = json.dumps({"call_name": "Ayu", "email": "ayu@example.test", "password": "rahasia-sekali-123",
                       "extra": json.loads(_nested(settings.API_MAX_JSON_DEPTH - 1))})

    response = anon_client.generic("POST", "/api/auth/register", body, content_type="application/json")

    assert response.status_code == 201, response.json()


def test_a_body_over_the_limit_is_413_before_it_is_parsed(anon_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"call_name": "A" * 2000, "email": "a@example.test", "password": "rahasia-sekali-123"})

    response = anon_client.generic("POST", "/api/auth/register", body, content_type="application/json")

    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert User.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("declared", [True, False])
def test_the_web_tier_refuses_a_body_over_the_limit_without_reading_it(declared, settings):
    """Through the ASGI application as daphne serves it: with a Content-Length over the
    limit, or (chunked) once the body read so far passes it."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = b"x" * 5000
    headers = [(b"host", b"localhost"), (b"content-type", b"application/json")]
    if declared:
        headers.append((b"content-length", str(len(body)).encode()))

    async def call():
        return await HttpCommunicator(application, "POST", "/api/auth/register", body=body, headers=headers).get_response(timeout=30)

    response = asyncio.run(call())

    assert response["status"] == 413
    assert json.loads(response["body"])["code"] == "payload_too_large"


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/nothing-here"),
    ("GET", "/api/client/chat/abc"),  # not a UUID
    ("POST", "/api/chat/not-a-uuid/messages"),
    ("GET", "/internal/nothing-here"),
    ("DELETE", "/api/"),
])
def test_unknown_api_paths_are_404_not_found_in_the_error_shape(method, path, customer_client):
    response = customer_client.generic(method, path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"code": "not_found", "detail": "Not found."}


def test_pages_outside_the_api_keep_django_html_404(client):
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert "application/json" not in response["Content-Type"]


# --- a dependency down --------------------------------------------------------------
def test_redis_unreachable_is_503_service_unavailable_not_500(settings, make_customer):
    """The login counter lives in Redis: with Redis gone the API says so, in its shape."""
    user = make_customer()
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    client = APIClient(raise_request_exception=False)

    response = client.post("/api/auth/token", {"login": user.email, "password": "whatever"}, format="json")

    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"
    assert response["Retry-After"] == "5"


def test_what_counts_as_an_outage():
    import psycopg
    import redis
    from django.db import OperationalError

    from config.error_views import is_outage

    assert is_outage(OperationalError("connection refused"))
    assert is_outage(redis.exceptions.ConnectionError("down"))
    try:
        try:
            raise psycopg.OperationalError("server closed the connection")
        except psycopg.OperationalError as exc:
            raise OperationalError(str(exc)) from exc
    except OperationalError as wrapped:
        assert is_outage(wrapped)
    assert not is_outage(ValueError("a bug"))
    assert not is_outage(None)
