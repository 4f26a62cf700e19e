"""The availability poll through the ASGI application as daphne serves it: the happy
path is answered before Django (no query, same body and headers), and everything else
falls through to ``AvailabilityApi`` with the errors of API.md."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.testing import HttpCommunicator

from config.asgi import application, django_http_app
from pairing.api.fast_paths import AvailabilityFastPath
from config.redis_client import get_redis
from pairing.tests.conftest import availability_key
from pairing.tests.live import RecordingApp

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "/api/client/mitra-availability"


@pytest.fixture(autouse=True)
def _no_process_memo(settings):
    """Each poll reads the shared cache (the per-process memo has its own test)."""
    settings.AVAILABILITY_PROCESS_CACHE_SECONDS = 0


def _get(token: str | None, *, method: str = "GET", host: bytes = b"localhost", app=application) -> tuple[int, dict, dict]:
    headers = [(b"host", host)]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))

    async def call():
        return await HttpCommunicator(app, method, PATH, headers=headers).get_response(timeout=30)

    response = asyncio.run(call())
    headers = {k.decode().lower(): v.decode() for k, v in response["headers"]}
    is_json = headers.get("content-type") == "application/json"
    return response["status"], json.loads(response["body"]) if is_json else response["body"], headers


def test_a_warm_cache_is_answered_without_django_and_so_without_a_query(customer_client):
    django = RecordingApp(django_http_app)
    app = AvailabilityFastPath(django)
    token = customer_client.tokens["access"]
    status, body, django_headers = _get(token, app=app)  # cold: Django computes and caches it
    assert (status, body, django.calls) == (200, {"available": False}, 1)
    assert get_redis().get(availability_key()) == "0"

    status, body, headers = _get(token, app=app)

    assert (status, body) == (200, {"available": False})
    assert django.calls == 1  # the fast path holds no database code: no Django, no query
    # X-Request-ID: Django's middleware sets it here; in front of both, RequestIdAsgi does
    assert set(django_headers) - {"content-length", "x-request-id"} == set(headers) - {"content-length"}
    for name in headers:
        assert headers[name] == django_headers[name], name


def test_the_fast_path_answers_what_the_cache_holds(customer_client):
    token = customer_client.tokens["access"]
    get_redis().set(availability_key(), "1", ex=10)
    assert _get(token)[:2] == (200, {"available": True})
    get_redis().set(availability_key(), "0", ex=10)
    assert _get(token)[:2] == (200, {"available": False})


def test_a_mitra_going_online_is_seen_by_the_next_poll(customer_client, online_mitra, django_capture_on_commit_callbacks):
    token = customer_client.tokens["access"]
    assert _get(token)[:2] == (200, {"available": False})

    with django_capture_on_commit_callbacks(execute=True):
        online_mitra()

    assert _get(token)[:2] == (200, {"available": True})


@pytest.mark.parametrize("token_kind, status, code", [
    (None, 401, "not_authenticated"),
    ("garbage", 401, "token_not_valid"),
    ("mitra", 403, "permission_denied"),
])
def test_refusals_come_from_django_in_the_api_error_shape(token_kind, status, code, make_mitra, api_client_for):
    get_redis().set(availability_key(), "1", ex=10)  # a warm cache must not let anyone through
    token = {"garbage": "not-a-jwt", "mitra": None}.get(token_kind)
    if token_kind == "mitra":
        token = api_client_for(make_mitra()).tokens["access"]

    got_status, body, _ = _get(token)

    assert got_status == status
    assert body["code"] == code and "available" not in body


def test_other_methods_and_unknown_hosts_go_to_django(customer_client):
    token = customer_client.tokens["access"]
    get_redis().set(availability_key(), "1", ex=10)

    assert _get(token, method="POST")[0] == 405
    assert _get(token, host=b"evil.example")[0] == 400


def test_each_process_keeps_the_shared_answer_for_its_memo_lifetime(customer_client, settings):
    token = customer_client.tokens["access"]
    settings.AVAILABILITY_PROCESS_CACHE_SECONDS = 600
    get_redis().set(availability_key(), "1", ex=10)
    assert _get(token)[:2] == (200, {"available": True})

    get_redis().set(availability_key(), "0", ex=10)
    assert _get(token)[:2] == (200, {"available": True})  # still the memo

    settings.AVAILABILITY_PROCESS_CACHE_SECONDS = 0  # its lifetime is over
    assert _get(token)[:2] == (200, {"available": False})


def test_an_expired_token_is_refused_even_after_it_was_verified(make_customer):
    import time as clock

    from rest_framework_simplejwt.tokens import AccessToken

    customer = make_customer()
    token = AccessToken.for_user(customer)
    token["role"] = "customer"
    token["exp"] = int(clock.time()) + 6  # room for the first poll on a busy machine
    raw = str(token)
    get_redis().set(availability_key(), "1", ex=30)
    assert _get(raw)[:2] == (200, {"available": True})  # verified once, remembered

    clock.sleep(max(0.0, token["exp"] - clock.time()) + 0.1)

    assert _get(raw)[0] == 401
