"""Fixtures of the extension tests: an active session made the way the apps make it
(pay, start, a mitra accepts, all through the API), extension payments picked and
confirmed through the API, and the state a refusal must leave exactly as it was."""

from __future__ import annotations

import pytest

from extensions.tests.state import EXTENSION_AMOUNT, EXTENSION_MINUTES, PAYMENTS, Live, extensions_url
from payments.models import TierKind


@pytest.fixture
def live_session(make_customer, online_mitra, start_chat, api_client_for):
    """``live_session()`` → a new customer's chat that a new online mitra accepted
    through the API (``mitra=`` reuses one)."""

    def make(*, mitra=None, customer=None) -> Live:
        mitra = mitra or online_mitra()
        customer = customer or make_customer()
        customer_client, body = start_chat(customer)
        mitra_client = api_client_for(mitra)
        response = mitra_client.post(f"/api/mitra/chat-requests/{body['id']}/accept")
        assert response.status_code == 200 and response.json()["status"] == "active", response.json()
        return Live(body["id"], customer, mitra, customer_client, mitra_client)

    return make


@pytest.fixture
def extension_tier(make_tier):
    return make_tier(kind=TierKind.EXTENSION, minutes=EXTENSION_MINUTES, amount=EXTENSION_AMOUNT, name="15 menit")


@pytest.fixture
def extension_payment(extension_tier):
    """``extension_payment(client, chat_session_id)`` → the confirmed extension payment
    (API body), picked and paid through the API as the client app does."""

    def make(client, chat_session_id, *, tier=None, confirm: bool = True) -> dict:
        tier = tier or extension_tier
        body = {"tier_id": str(tier.id), "is_extension": True, "chat_session_id": str(chat_session_id)}
        response = client.post(PAYMENTS, body, format="json")
        assert response.status_code == 201, response.json()
        payment = response.json()
        if confirm:
            response = client.post(f"{PAYMENTS}/{payment['id']}/confirm")
            assert response.status_code == 200 and response.json()["status"] == "confirmed", response.json()
            payment = response.json()
        return payment

    return make


@pytest.fixture
def request_extension(extension_payment):
    """``request_extension(live)`` → the 201 extension body, on a new confirmed payment."""

    def make(live: Live, **payment_kwargs) -> dict:
        payment = extension_payment(live.customer_client, live.id, **payment_kwargs)
        response = live.customer_client.post(extensions_url(live.id), {"payment_session_id": payment["id"]}, format="json")
        assert response.status_code == 201, response.json()
        return response.json()

    return make
