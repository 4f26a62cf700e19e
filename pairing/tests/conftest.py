"""Fixtures of the pairing tests: sessions matched the way the apps do it (through the
API). ``start_chat`` and ``settings_now`` live in the root conftest; it also resets the
availability cache and presence between tests."""

from __future__ import annotations

import pytest
from django.conf import settings


def availability_key() -> str:
    return f"{settings.REDIS_PREFIX}:availability"


@pytest.fixture
def matched_session(make_customer, start_chat, api_client_for):
    """``matched_session(mitra)`` → the chat session id of a new customer's chat that
    ``mitra`` (online, below capacity) accepted through the API."""

    def match(mitra, *, customer=None):
        _, body = start_chat(customer or make_customer())
        response = api_client_for(mitra).post(f"/api/mitra/chat-requests/{body['id']}/accept")
        assert response.status_code == 200, response.json()
        return body["id"]

    return match
