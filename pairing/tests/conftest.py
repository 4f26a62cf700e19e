"""Fixtures of the pairing tests: chats started and sessions matched the way the apps
do it (through the API), settings that apply at once. The root conftest resets the
availability cache and presence between tests."""

from __future__ import annotations

import pytest
from django.conf import settings

START = "/api/client/chat/start"


def availability_key() -> str:
    return f"{settings.REDIS_PREFIX}:availability"


@pytest.fixture
def settings_now(set_config):
    """``set_config`` that also takes effect in this process at once.

    Outside ``transaction=True`` tests nothing commits, so the after-commit
    invalidation never runs; dropping the cached values here stands in for it."""
    from live_settings.selectors import live_settings_cache

    def apply(**values):
        result = set_config(**values)
        live_settings_cache.clear()
        return result

    return apply


@pytest.fixture
def start_chat(api_client_for, confirmed_payment):
    """``start_chat(customer)`` → (customer client, 201 body): pays and starts a general blast."""

    def start(customer, *, sensitive: bool = False, minutes: int = 30, amount: int = 50_000):
        client = api_client_for(customer)
        payment = confirmed_payment(customer, minutes=minutes, amount=amount)
        response = client.post(START, {"payment_session_id": str(payment.id), "sensitive": sensitive}, format="json")
        assert response.status_code == 201, response.json()
        return client, response.json()

    return start


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
