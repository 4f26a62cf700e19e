"""Deadline lateness: observed when a deadline fires, as the time since its stored
deadline — exactly in-process, and through a real Celery worker (another process, whose
observation the scrape adds up)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from conftest import eventually
from metrics.tests.scrape import scrape
from pairing import attempts, lifecycle
from pairing.models import ChatSession

LATENESS = "curhat_deadline_lateness_seconds"


def _delta(before, after, name, **labels) -> float:
    return after.value(name, **labels) - before.value(name, **labels)


@pytest.mark.django_db
def test_each_deadline_that_fires_is_observed_with_its_lateness(
    django_capture_on_commit_callbacks, online_mitra, make_customer, start_chat, api_client_for,
):
    mitra = online_mitra()
    _, waiting = start_chat(make_customer())
    _, accepted = start_chat(make_customer())
    assert api_client_for(mitra).post(f"/api/mitra/chat-requests/{accepted['id']}/accept").status_code == 200
    deadline = ChatSession.objects.get(id=waiting["id"]).deadline_at
    before = scrape()

    with django_capture_on_commit_callbacks(execute=True):
        assert attempts.chat_deadline_fire(chat_session_id=waiting["id"], now=deadline + timedelta(seconds=2.5))
        # a second firing changes nothing and observes nothing
        assert not attempts.chat_deadline_fire(chat_session_id=waiting["id"], now=deadline + timedelta(seconds=9))
    ends_at = ChatSession.objects.get(id=accepted["id"]).ends_at
    with django_capture_on_commit_callbacks(execute=True):
        assert not lifecycle.session_timer_fire(chat_session_id=accepted["id"], now=ends_at - timedelta(seconds=1))
        assert lifecycle.session_timer_fire(chat_session_id=accepted["id"], now=ends_at + timedelta(seconds=0.25))
    closes_at = ChatSession.objects.get(id=accepted["id"]).closes_at
    with django_capture_on_commit_callbacks(execute=True):
        assert lifecycle.session_timer_fire(chat_session_id=accepted["id"], now=closes_at + timedelta(seconds=40))

    after = scrape()
    assert _delta(before, after, f"{LATENESS}_count", deadline="pairing") == 1
    assert _delta(before, after, f"{LATENESS}_sum", deadline="pairing") == pytest.approx(2.5)
    assert _delta(before, after, f"{LATENESS}_bucket", deadline="pairing", le="2.0") == 0
    assert _delta(before, after, f"{LATENESS}_bucket", deadline="pairing", le="3.0") == 1
    assert _delta(before, after, f"{LATENESS}_count", deadline="session_end") == 1
    assert _delta(before, after, f"{LATENESS}_sum", deadline="session_end") == pytest.approx(0.25)
    assert _delta(before, after, f"{LATENESS}_count", deadline="goodbye") == 1
    assert _delta(before, after, f"{LATENESS}_bucket", deadline="goodbye", le="30.0") == 0
    assert _delta(before, after, f"{LATENESS}_bucket", deadline="goodbye", le="60.0") == 1
    assert _delta(before, after, "curhat_pairing_attempts_total",
                  request_type="general", outcome="failed", cause="no_mitra_available") == 1


@pytest.mark.django_db(transaction=True)
def test_a_deadline_fired_by_a_worker_process_shows_in_this_process_scrape(
    celery_process, set_config, online_mitra, make_customer, start_chat,
):
    celery_process("worker")
    set_config(pairing_blast_timeout_seconds=2)
    online_mitra()  # somebody to blast to, who never answers
    before = scrape()
    _, body = start_chat(make_customer())
    assert body["status"] == "waiting"

    # generous: a busy machine must not fail this
    eventually(lambda: ChatSession.objects.get(id=body["id"]).status != "waiting", "the blast timeout", timeout=90)
    assert ChatSession.objects.get(id=body["id"]).status == "unmatched"
    # the worker counts after its commit: give it that moment
    eventually(lambda: _delta(before, scrape(), f"{LATENESS}_count", deadline="pairing") >= 1, "the lateness observation")

    after = scrape()
    assert _delta(before, after, f"{LATENESS}_count", deadline="pairing") == 1
    assert _delta(before, after, f"{LATENESS}_sum", deadline="pairing") >= 0  # never early
    assert _delta(before, after, "curhat_pairing_attempts_total",
                  request_type="general", outcome="failed", cause="no_mitra_available") == 1
