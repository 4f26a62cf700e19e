"""A pairing driven through the ASGI application as daphne serves it, then ``/metrics``
scraped through it too: requests counted by route (fast paths included) and status,
the match time, how attempts ended, open websockets, deadline lateness."""

from __future__ import annotations

import json

import pytest
from channels.testing import HttpCommunicator
from django.urls import resolve

from chat.api.fast_paths import MESSAGES_ROUTE
from config.asgi import application
from metrics.tests.scrape import TOKEN, Samples, parse
from pairing.api.fast_paths import AVAILABILITY_ROUTE
from pairing.models import ChatSession
from pairing.tests.live import MITRA_WS, close_sockets, open_sockets, run_like_a_web_process

pytestmark = pytest.mark.django_db(transaction=True)

START = "api/client/chat/start"
ACCEPT = "api/mitra/chat-requests/<uuid:id>/accept"
CANCEL = "api/client/chat/<uuid:id>/cancel"


@pytest.fixture(autouse=True)
def _token(settings):
    settings.METRICS_TOKEN = TOKEN


async def request(method: str, path: str, *, token: str | None = None, body: dict | None = None) -> tuple[int, object]:
    """One request through ``config.asgi.application``; returns once the app is done
    (the request is counted when its answer has gone out)."""
    raw = json.dumps(body).encode() if body is not None else b""
    headers = [(b"host", b"localhost")]
    if body is not None:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    communicator = HttpCommunicator(application, method, path, body=raw, headers=headers)
    response = await communicator.get_response(timeout=30)
    await communicator.wait(timeout=30)
    content = response["body"]
    return response["status"], json.loads(content) if content.startswith((b"{", b"[")) else content.decode()


async def scrape_over_http() -> Samples:
    status, text = await request("GET", "/metrics", token=TOKEN)
    assert status == 200, text
    return parse(text)


def _delta(before: Samples, after: Samples, name: str, **labels) -> float:
    return after.value(name, **labels) - before.value(name, **labels)


def test_the_fast_paths_name_the_route_django_names():
    assert resolve("/api/client/mitra-availability").route == AVAILABILITY_ROUTE
    assert resolve("/api/chat/5b3c1f52-3c0e-4a53-9d1c-1e0f8f1d2a10/messages").route == MESSAGES_ROUTE
    assert resolve("/api/client/chat/start").route == START


def test_a_match_is_counted_by_route_and_status_with_its_time_from_start(
    online_mitra, make_customer, confirmed_payment, api_client_for,
):
    mitra_client = api_client_for(online_mitra())
    customer_client = api_client_for(make_customer())
    payment = confirmed_payment(customer_client.user)
    customer, mitra = customer_client.tokens["access"], mitra_client.tokens["access"]

    async def scenario():
        before = await scrape_over_http()
        [socket] = await open_sockets(MITRA_WS, [mitra_client])
        with_socket = await scrape_over_http()
        started = await request("POST", "/api/client/chat/start", token=customer,
                                body={"payment_session_id": str(payment.id), "sensitive": False})
        session_id = started[1]["id"]
        accepted = await request("POST", f"/api/mitra/chat-requests/{session_id}/accept", token=mitra)
        sent = await request("POST", f"/api/chat/{session_id}/messages", token=customer,
                             body={"client_message_id": "c-1", "text": "halo"})
        polls = [await request("GET", "/api/client/mitra-availability", token=customer) for _ in range(2)]
        assert [status for status, _ in polls] == [200, 200]
        repeated_accept = await request("POST", f"/api/mitra/chat-requests/{session_id}/accept", token=mitra)
        unknown = await request("GET", f"/api/nothing-here/{session_id}", token=customer)
        await close_sockets([socket])
        after = await scrape_over_http()
        return before, with_socket, after, session_id, [started[0], accepted[0], sent[0], repeated_accept[0], unknown[0]]

    before, with_socket, after, session_id, statuses = run_like_a_web_process(scenario)

    assert statuses == [201, 200, 201, 409, 404]
    requests = "curhat_http_requests_total"
    assert _delta(before, after, requests, route=START, method="POST", status="201") == 1
    assert _delta(before, after, requests, route=ACCEPT, method="POST", status="200") == 1
    assert _delta(before, after, requests, route=ACCEPT, method="POST", status="409") == 1
    assert _delta(before, after, requests, route=MESSAGES_ROUTE, method="POST", status="201") == 1
    assert _delta(before, after, requests, route=AVAILABILITY_ROUTE, method="GET", status="200") == 2
    # the catch-all of unknown /api/ paths, never the raw path with its id
    assert _delta(before, after, requests, route="^(?:api|internal)/", method="GET", status="404") == 1
    assert not [labels for labels in after.series(requests) if session_id in str(labels)]
    # the scrape before this one was counted too
    assert _delta(before, after, requests, route="metrics", method="GET", status="200") >= 2
    latency = "curhat_http_request_duration_seconds_count"
    assert _delta(before, after, latency, route=START, method="POST") == 1
    assert _delta(before, after, latency, route=ACCEPT, method="POST") == 2

    session = ChatSession.objects.get(id=session_id)
    assert _delta(before, after, "curhat_match_duration_seconds_count", request_type="general") == 1
    assert _delta(before, after, "curhat_match_duration_seconds_sum", request_type="general") == pytest.approx(
        (session.started_at - session.created_at).total_seconds(), abs=1e-6)
    assert _delta(before, after, "curhat_pairing_attempts_total", request_type="general", outcome="matched", cause="") == 1

    sockets = "curhat_websocket_connections"
    assert _delta(before, with_socket, sockets, endpoint="mitra") == 1
    assert _delta(before, after, sockets, endpoint="mitra") == 0


def test_failed_and_cancelled_attempts_are_counted_by_cause(make_customer, make_mitra, online_mitra, confirmed_payment, api_client_for):
    alone = api_client_for(make_customer())
    waiting = api_client_for(make_customer())
    payments = {client: confirmed_payment(client.user) for client in (alone, waiting)}

    async def scenario():
        before = await scrape_over_http()
        failed = await request("POST", "/api/client/chat/start", token=alone.tokens["access"],
                               body={"payment_session_id": str(payments[alone].id), "sensitive": False})
        return before, failed

    before, failed = run_like_a_web_process(scenario)
    assert (failed[0], failed[1]["status"]) == (201, "unmatched")  # nobody online

    online_mitra()  # somebody to blast to, who never answers

    async def cancelling():
        started = await request("POST", "/api/client/chat/start", token=waiting.tokens["access"],
                                body={"payment_session_id": str(payments[waiting].id), "sensitive": False})
        cancelled = await request("POST", f"/api/client/chat/{started[1]['id']}/cancel", token=waiting.tokens["access"])
        return started, cancelled, await scrape_over_http()

    started, cancelled, after = run_like_a_web_process(cancelling)
    assert (started[0], started[1]["status"], cancelled[0]) == (201, "waiting", 200)

    attempts = "curhat_pairing_attempts_total"
    assert _delta(before, after, attempts, request_type="general", outcome="failed", cause="no_mitra_available") == 1
    assert _delta(before, after, attempts, request_type="general", outcome="cancelled", cause="customer_cancelled") == 1
    assert _delta(before, after, attempts, request_type="general", outcome="matched", cause="") == 0
    assert _delta(before, after, "curhat_http_requests_total", route=CANCEL, method="POST", status="200") == 1
    assert _delta(before, after, "curhat_match_duration_seconds_count", request_type="general") == 0
