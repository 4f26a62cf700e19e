"""Sending messages is rate-limited per user (API.md: 429 ``rate_limited``), on the DRF
path and on the event-loop fast path with one shared count: a send the fast path counted
and then handed to Django is not counted twice. Hour-long windows: no clock dependence."""

from __future__ import annotations

import pytest

from chat.models import Message
from chat.tests.conftest import post_message
from config.asgi import application
from pairing.tests.live import run_like_a_web_process

pytestmark = pytest.mark.django_db


def _limit(settings, scope: str, rate: str) -> None:
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, scope: rate}


def test_messages_are_limited_per_user_on_the_drf_path(settings, active_chat):
    _limit(settings, "messages", "3/hour")
    session_id, customer_client, mitra_client = active_chat()

    sends = [customer_client.post(f"/api/chat/{session_id}/messages", {"client_message_id": f"c-{n}", "text": "halo"}, format="json")
             for n in range(4)]
    reply = mitra_client.post(f"/api/chat/{session_id}/messages", {"client_message_id": "m-1", "text": "hai"}, format="json")
    listing = customer_client.get(f"/api/chat/{session_id}/messages")

    assert [s.status_code for s in sends[:3]] == [201] * 3
    assert (sends[3].status_code, sends[3].json()["code"]) == (429, "rate_limited")
    assert sends[3]["Retry-After"] == str(sends[3].json()["retry_after"])
    assert reply.status_code == 201  # the other side has its own count
    assert listing.status_code == 200  # reading is not limited
    assert Message.objects.filter(chat_session_id=session_id, sender="customer").count() == 3


@pytest.mark.django_db(transaction=True)
def test_the_fast_path_counts_each_send_once_and_answers_429_itself(settings, active_chat):
    """Limit 3: a new message (fast path), its replay (counted by the fast path, answered
    by Django, which must not count it again), a third message; the fourth is refused."""
    _limit(settings, "messages", "3/hour")
    session_id, customer_client, _ = active_chat()
    token = customer_client.tokens["access"]

    async def scenario():
        return [
            await post_message(application, token, session_id, {"client_message_id": cmid, "text": "halo"})
            for cmid in ("c-1", "c-1", "c-2", "c-3")
        ]

    first, replay, second, refused = run_like_a_web_process(scenario)

    assert (first[0], replay[0], second[0]) == (201, 200, 201)
    status, body, headers = refused
    assert status == 429
    assert body["code"] == "rate_limited" and body["retry_after"] > 0
    assert headers["retry-after"] == str(body["retry_after"])
    assert sorted(Message.objects.values_list("client_message_id", flat=True)) == ["c-1", "c-2"]


def test_the_default_message_limit_allows_a_burst_of_typing():
    from config import settings as project_settings

    assert project_settings._DEFAULT_RATE_LIMITS["messages"] == "5/s,120/min"
