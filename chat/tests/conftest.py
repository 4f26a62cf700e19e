"""Chat fixtures: a running session between a paid customer and an online mitra."""

from __future__ import annotations

import pytest

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
