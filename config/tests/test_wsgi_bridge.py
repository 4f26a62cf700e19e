"""Django's request handling behind daphne (``config/wsgi_bridge.py``), driven through the
ASGI application as daphne drives it."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.testing import HttpCommunicator

from config.asgi import application


def _call(method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> dict:
    async def call():
        return await HttpCommunicator(application, method, path, body=body, headers=headers).get_response(timeout=30)

    return asyncio.run(call())


@pytest.mark.django_db(transaction=True)
def test_a_request_runs_through_django_with_its_body_and_headers():
    # no Content-Length (as with a chunked request): the body still reaches the view
    response = _call(
        "POST", "/api/auth/token", [(b"host", b"localhost"), (b"content-type", b"application/json")],
        body=json.dumps({"login": "nobody@example.test", "password": "wrong-password"}).encode(),
    )

    assert response["status"] == 401
    assert json.loads(response["body"])["code"] == "invalid_credentials"
    assert (b"content-type", b"application/json") in response["headers"]


def test_too_many_duplicate_headers_get_the_api_error_shape():
    headers = [(b"host", b"localhost")] + [(b"x-repeated", b"1")] * 101

    response = _call("GET", "/health", headers)

    assert response["status"] == 400
    assert json.loads(response["body"]) == {"code": "invalid_input", "detail": "Too many duplicate headers."}


def test_a_pool_thread_keeps_its_own_state_across_requests_and_gets_each_requests_id():
    """Django keeps per-thread state (``caches``) in context variables: the bridge hands
    the request id to its thread without running the request in a fresh context, which
    would build a new cache client (and connection) per request."""
    from django.core.cache import caches

    from config.request_id import RequestIdAsgi, current_request_id
    from config.wsgi_bridge import ThreadPoolWsgi

    seen = []

    def wsgi_app(environ, start_response):
        seen.append((id(caches["default"]), current_request_id.get()))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    app = RequestIdAsgi(ThreadPoolWsgi(wsgi_app, threads=1))

    async def call(rid: bytes):
        return await HttpCommunicator(app, "GET", "/", headers=[(b"host", b"localhost"), (b"x-request-id", rid)]).get_response(timeout=30)

    for rid in (b"first", b"second"):
        assert asyncio.run(call(rid))["status"] == 200

    (cache_1, rid_1), (cache_2, rid_2) = seen
    assert (rid_1, rid_2) == ("first", "second")
    assert cache_1 == cache_2
