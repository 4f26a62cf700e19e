"""Chat fixtures: a running session between a paid customer and an online mitra."""

from __future__ import annotations

import json

import pytest
from channels.testing import HttpCommunicator

PHONE, EMAIL = "081234567890", "ayu.rahasia@example.test"


@pytest.fixture
def active_chat(make_customer, online_mitra, confirmed_payment, api_client_for):
    """``active_chat()`` → (session id, customer client, mitra client): paid, started and
    accepted through the API. The first call's customer has a phone and an email."""
    made = []

    def make():
        mitra = online_mitra(display_name="Bestie Sekar")
        customer = make_customer(call_name="Ayu", phone=PHONE, email=EMAIL) if not made else make_customer()
        customer_client, mitra_client = api_client_for(customer), api_client_for(mitra)
        started = customer_client.post(
            "/api/client/chat/start", {"payment_session_id": str(confirmed_payment(customer).id), "sensitive": False}, format="json"
        )
        assert started.status_code == 201, started.json()
        accepted = mitra_client.post(f"/api/mitra/chat-requests/{started.json()['id']}/accept")
        assert (accepted.status_code, accepted.json()["status"]) == (200, "active"), accepted.json()
        made.append(started.json()["id"])
        return started.json()["id"], customer_client, mitra_client

    return make


async def post_message(app, token, session_id, body, *, content_type: bytes = b"application/json", host: bytes = b"localhost"):
    """``POST /api/chat/{id}/messages`` through an ASGI app as daphne drives it:
    ``(status, JSON body or raw bytes, headers)``."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = [(b"host", host), (b"content-type", content_type), (b"content-length", str(len(raw)).encode())]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    communicator = HttpCommunicator(app, "POST", f"/api/chat/{session_id}/messages", body=raw, headers=headers)
    response = await communicator.get_response(timeout=30)
    got_headers = {k.decode().lower(): v.decode() for k, v in response["headers"]}
    is_json = got_headers.get("content-type") == "application/json"
    return response["status"], json.loads(response["body"]) if is_json else response["body"], got_headers
