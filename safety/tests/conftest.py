"""Safety fixtures: sessions between a customer with contact details and a mitra, made
through the API as the apps make them, and an operator's control-center socket."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from config.asgi import application
from conftest import EMAIL, PHONE
from pairing import lifecycle
from pairing.models import EndedBy

OPERATOR_WS = "/ws/operator/"
CC_ORIGIN = b"http://localhost:8000"


@pytest.fixture
def session_between(make_customer, online_mitra, start_chat, api_client_for):
    """``session_between(mitra=None, customer=None)`` → (session id, customer client,
    mitra client): a paid chat the mitra accepted through the API (a made mitra is
    online)."""

    def make(*, mitra=None, customer=None):
        mitra = mitra or online_mitra(display_name="Bestie Sekar")
        customer = customer or make_customer()
        _, chat = start_chat(customer)
        mitra_client = api_client_for(mitra)
        accepted = mitra_client.post(f"/api/mitra/chat-requests/{chat['id']}/accept")
        assert accepted.status_code == 200, accepted.json()
        return chat["id"], api_client_for(customer), mitra_client

    return make


@pytest.fixture
def ayu(make_customer):
    """A customer with a phone and an email (the secrets a mitra must never see)."""
    return make_customer(call_name="Ayu", phone=PHONE, email=EMAIL)


@pytest.fixture
def end_session(make_operator):
    def end(session_id):
        return lifecycle.chat_end(user=make_operator(), chat_session_id=session_id, ended_by=EndedBy.OPERATOR)

    return end


def operator_headers(user) -> list[tuple[bytes, bytes]]:
    """What a control-center page's socket sends: the user's session cookie, the page's
    origin. Sync (it signs in through the database): call it before the event loop."""
    browser = Client()
    browser.force_login(user)
    return [(b"origin", CC_ORIGIN), (b"cookie", f"sessionid={browser.cookies['sessionid'].value}".encode())]


def operator_socket(headers) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, OPERATOR_WS, headers=headers)
