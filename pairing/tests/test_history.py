"""GET /api/client/chat/history (SPEC §5.3, API.md): the customer's completed sessions,
newest first, each with its mitra and "Curhat lagi" offered; nothing else, nobody else's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pairing import deadlines
from pairing.models import ChatSession

pytestmark = pytest.mark.django_db

HISTORY = "/api/client/chat/history"


@pytest.fixture
def completed(matched_session, api_client_for, settings_now):
    """``completed(mitra, customer, by=...)`` → the id of a session that ended, early by
    the customer or by the timer (no goodbye phase)."""

    def make(mitra, customer, *, by: str = "customer") -> str:
        session_id = matched_session(mitra, customer=customer)
        if by == "customer":
            assert api_client_for(customer).post(f"/api/client/chat/{session_id}/end").status_code == 200
        else:
            settings_now(closing_goodbye_seconds=0)
            ChatSession.objects.filter(id=session_id).update(ends_at=timezone.now() - timedelta(seconds=1))
            assert deadlines.chat_timer_fire(chat_session_id=session_id) is True
        assert ChatSession.objects.get(id=session_id).status == "completed"
        return session_id

    return make


def test_history_lists_completed_sessions_only_newest_first_with_the_mitra_and_curhat_lagi(
    make_customer, online_mitra, completed, matched_session, start_chat, api_client_for
):
    # given: two completed sessions (one ended early, one by the timer) ...
    first_mitra = online_mitra(display_name="Bestie Satu")
    second_mitra = online_mitra(display_name="Bestie Dua")
    customer = make_customer()
    client = api_client_for(customer)
    older = completed(first_mitra, customer, by="customer")
    newer = completed(second_mitra, customer, by="timer")
    # ... and what is not history: a running session, a declined attempt, a cancelled one
    running = matched_session(online_mitra(), customer=customer)
    _, declined = start_chat(customer)
    for mitra in (first_mitra, second_mitra):
        assert api_client_for(mitra).post(f"/api/mitra/chat-requests/{declined['id']}/decline").status_code == 200
    _, cancelled = start_chat(customer)
    assert client.post(f"/api/client/chat/{cancelled['id']}/cancel").status_code == 200
    # ... and another customer's completed session with the same mitra
    completed(first_mitra, make_customer())
    assert {s: ChatSession.objects.get(id=s).status for s in (running, declined["id"], cancelled["id"])} == {
        running: "active", declined["id"]: "unmatched", cancelled["id"]: "cancelled",
    }

    # when
    response = client.get(HISTORY)

    # then
    assert response.status_code == 200
    expected = [{**client.get(f"/api/client/chat/{s}").json(), "can_return": True} for s in (newer, older)]
    assert response.json() == {"results": expected}
    assert [(r["id"], r["status"], r["ended_by"], r["mitra"]) for r in response.json()["results"]] == [
        (newer, "completed", "timer", {"id": str(second_mitra.id), "display_name": "Bestie Dua"}),
        (older, "completed", "customer", {"id": str(first_mitra.id), "display_name": "Bestie Satu"}),
    ]


def test_a_customer_without_completed_sessions_has_an_empty_history(customer_client):
    assert (customer_client.get(HISTORY).status_code, customer_client.get(HISTORY).json()) == (200, {"results": []})


def test_history_is_for_customers_only(mitra_client, anon_client):
    assert mitra_client.get(HISTORY).status_code == 403
    assert anon_client.get(HISTORY).status_code == 401


def test_the_history_costs_the_same_queries_for_two_or_six_sessions(
    make_customer, online_mitra, completed, api_client_for, django_assert_num_queries
):
    # given
    mitra = online_mitra()
    customer = make_customer()
    client = api_client_for(customer)
    for _ in range(2):
        completed(mitra, customer)
    with CaptureQueriesContext(connection) as two:
        assert len(client.get(HISTORY).json()["results"]) == 2
    two_sessions = [q["sql"] for q in two.captured_queries]  # read now: the next request resets the log
    for _ in range(4):
        completed(mitra, customer)

    # when / then: user lookup + one select of the sessions with their mitras
    assert len(two_sessions) == 2, two_sessions
    with django_assert_num_queries(2):
        assert len(client.get(HISTORY).json()["results"]) == 6
