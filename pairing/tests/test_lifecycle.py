"""The session lifecycle (SPEC §5.4): ``active`` until ``ends_at`` → ``closing`` for
``closing_goodbye_seconds`` → ``completed`` by the timer; early end by the customer or
the mitra where the ``early_end_*`` keys allow; a mitra going offline ends nothing."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import EMAIL, PHONE
from pairing import deadlines
from pairing.models import ChatSession
from pairing.representations import iso_datetime
from pairing.tasks import fire_chat_deadline
from pairing.tests.live import (
    CLIENT_WS, MITRA_WS, assert_anonymous, close_sockets, last_push_id, off_loop, open_sockets, received_by_all,
)
from pairing.tests.state import pairing_state
from realtime.models import PushOutbox

CLOSING_TITLE = "Sesi akan berakhir"
CLOSING_TEXT = "Waktu curhatmu hampir habis. Sampaikan salam penutupmu."
AVAILABILITY = "/api/client/mitra-availability"


def _end_url(session_id) -> str:
    return f"/api/client/chat/{session_id}/end"


def _mitra_end_url(session_id) -> str:
    return f"/api/mitra/chat/{session_id}/end"


def _ends_now(session_id) -> None:
    ChatSession.objects.filter(id=session_id).update(ends_at=timezone.now() - timedelta(seconds=1))


def _closes_now(session_id) -> None:
    ChatSession.objects.filter(id=session_id).update(closes_at=timezone.now() - timedelta(seconds=1))


def _lifecycle_columns(session_id) -> tuple:
    return ChatSession.objects.filter(id=session_id).values_list(
        "status", "ends_at", "closing_started_at", "closes_at", "ended_at", "ended_by", "ended_by_user_id"
    ).get()


@pytest.fixture
def running(make_customer, online_mitra, matched_session, api_client_for):
    """``running()`` → (session id, customer client, mitra client): an active session of a
    customer (with phone and email) and a mitra who is the only one online."""

    def make(**customer_fields):
        mitra = online_mitra(display_name="Bestie Sekar")
        customer = make_customer(call_name="Ayu", phone=PHONE, email=EMAIL, **customer_fields)
        session_id = matched_session(mitra, customer=customer)
        return session_id, api_client_for(customer), api_client_for(mitra)

    return make


# --- by the timer ------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_at_ends_at_the_session_closes_for_the_goodbye_phase_then_the_timer_completes_it(running, set_config):
    # given: a 45-second goodbye phase; the only mitra is in this session (capacity 1)
    set_config(closing_goodbye_seconds=45)
    session_id, customer_client, mitra_client = running()
    customer = customer_client.user
    assert customer_client.get(AVAILABILITY).json() == {"available": False}
    _ends_now(session_id)
    last_push = last_push_id()

    async def scenario():
        sockets = await open_sockets(CLIENT_WS, [customer_client])
        sockets += await open_sockets(MITRA_WS, [mitra_client])
        closing_fired = await off_loop(lambda: deadlines.chat_timer_fire(chat_session_id=session_id))
        closing_events = await received_by_all(sockets)
        closing_row = await off_loop(lambda: _lifecycle_columns(session_id))
        early = await off_loop(deadlines.due_deadlines_fire)  # the goodbye phase is not over yet
        during = await off_loop(lambda: customer_client.get(AVAILABILITY).json())
        await off_loop(lambda: _closes_now(session_id))
        completed_fired = await off_loop(deadlines.due_deadlines_fire)
        completed_events = await received_by_all(sockets)
        again = await off_loop(lambda: deadlines.chat_timer_fire(chat_session_id=session_id))
        events_again = await received_by_all(sockets)
        await close_sockets(sockets)
        return closing_fired, closing_events, closing_row, early, during, completed_fired, completed_events, again, events_again

    # when
    (
        closing_fired, closing_events, closing_row, early, during, completed_fired, completed_events, again, events_again
    ) = asyncio.run(scenario())

    # then: closing, for exactly the configured goodbye phase, told to both (socket and push)
    assert closing_fired is True
    status, _, closing_started_at, closes_at, ended_at, ended_by, _ = closing_row
    assert (status, ended_at, ended_by) == ("closing", None, "")
    assert closes_at - closing_started_at == timedelta(seconds=45)
    assert closing_events == [[{"type": "session_closing", "chat_session_id": session_id, "closes_at": iso_datetime(closes_at)}]] * 2
    assert list(PushOutbox.objects.filter(id__gt=last_push).order_by("id").values_list("user_id", "title", "body", "data")) == [
        (user.id, CLOSING_TITLE, CLOSING_TEXT, {"type": "session_closing", "chat_session_id": session_id})
        for user in (customer, mitra_client.user)
    ]
    assert early == 0
    assert during == {"available": False}  # a closing session still holds the slot

    # then: completed by the timer, told to both
    assert completed_fired == 1
    assert completed_events == [[{"type": "session_completed", "chat_session_id": session_id, "ended_by": "timer"}]] * 2
    status, _, _, _, ended_at, ended_by, ended_by_user = _lifecycle_columns(session_id)
    assert (status, ended_by, ended_by_user) == ("completed", "timer", None) and ended_at is not None
    detail = customer_client.get(f"/api/client/chat/{session_id}").json()
    assert (detail["status"], detail["ended_by"]) == ("completed", "timer")

    # then: the slot is free again, and firing again does nothing
    assert customer_client.get(AVAILABILITY).json() == {"available": True}
    assert again is False
    assert events_again == [[], []]
    mitra_pushes = list(PushOutbox.objects.filter(id__gt=last_push, user=mitra_client.user).values("title", "body", "data"))
    assert_anonymous([closing_events[1], completed_events[1], mitra_pushes], customer)


@pytest.mark.django_db(transaction=True)
def test_with_no_goodbye_phase_the_timer_completes_the_session_at_once(running, set_config):
    # given
    set_config(closing_goodbye_seconds=0)
    session_id, customer_client, mitra_client = running()
    _ends_now(session_id)
    last_push = last_push_id()

    async def scenario():
        sockets = await open_sockets(CLIENT_WS, [customer_client])
        sockets += await open_sockets(MITRA_WS, [mitra_client])
        fired = await off_loop(deadlines.due_deadlines_fire)
        events = await received_by_all(sockets)
        await close_sockets(sockets)
        return fired, events

    # when
    fired, events = asyncio.run(scenario())

    # then: straight to completed, no closing event, no "Sesi akan berakhir"
    assert fired == 1
    assert events == [[{"type": "session_completed", "chat_session_id": session_id, "ended_by": "timer"}]] * 2
    status, _, closing_started_at, closes_at, ended_at, ended_by, _ = _lifecycle_columns(session_id)
    assert (status, closing_started_at, closes_at, ended_by) == ("completed", None, None, "timer")
    assert ended_at is not None
    assert PushOutbox.objects.filter(id__gt=last_push).count() == 0


@pytest.mark.django_db
def test_a_session_not_due_yet_is_left_alone_by_every_timer(running):
    session_id, _, _ = running()
    before = pairing_state()

    assert deadlines.chat_timer_fire(chat_session_id=session_id) is False
    assert deadlines.due_deadlines_fire() == 0

    assert pairing_state() == before
    assert _lifecycle_columns(session_id)[0] == "active"


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_closes_and_completes_a_short_session_on_time(
    celery_process, make_customer, online_mitra, start_chat, api_client_for, set_config
):
    # given: a worker; a 1-minute session made through the API
    celery_process("worker")
    set_config(closing_goodbye_seconds=1)
    mitra = online_mitra()
    customer_client, chat = start_chat(make_customer(), minutes=1)
    mitra_client = api_client_for(mitra)
    assert mitra_client.post(f"/api/mitra/chat-requests/{chat['id']}/accept").status_code == 200

    def end_soon():
        """Shorten it: its end 2 s from now, with the timer task the accept would have enqueued."""
        ends_at = timezone.now() + timedelta(seconds=2)
        ChatSession.objects.filter(id=chat["id"]).update(ends_at=ends_at)
        fire_chat_deadline.apply_async(args=[chat["id"]], eta=ends_at)
        return ends_at

    async def collect(socket, count: int) -> list[tuple[dict, float]]:
        got = []
        while len(got) < count:
            got.append((await socket.receive_json_from(timeout=20), time.time()))
        return got

    async def scenario():
        sockets = await open_sockets(CLIENT_WS, [customer_client])
        sockets += await open_sockets(MITRA_WS, [mitra_client])
        ends_at = await off_loop(end_soon)
        got = await asyncio.gather(*(collect(socket, 2) for socket in sockets))
        await close_sockets(sockets)
        return ends_at, got

    # when
    ends_at, (customer_got, mitra_got) = asyncio.run(scenario())

    # then: both heard closing, then completed by the timer, in that order and not early
    session = ChatSession.objects.get(id=chat["id"])
    for got in (customer_got, mitra_got):
        (closing, closing_at), (completed, completed_at) = got
        assert closing == {"type": "session_closing", "chat_session_id": chat["id"], "closes_at": iso_datetime(session.closes_at)}
        assert completed == {"type": "session_completed", "chat_session_id": chat["id"], "ended_by": "timer"}
        assert ends_at.timestamp() <= closing_at <= ends_at.timestamp() + 8
        assert session.closes_at.timestamp() <= completed_at <= session.closes_at.timestamp() + 8
    assert session.closes_at - session.closing_started_at == timedelta(seconds=1)
    assert (session.status, session.ended_by) == ("completed", "timer")


# --- early end -------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_the_customer_ends_early_both_are_told_and_the_mitra_is_available_again(running):
    # given: early end for customers is on by default; the only mitra is busy
    session_id, customer_client, mitra_client = running()
    assert customer_client.get(AVAILABILITY).json() == {"available": False}

    async def scenario():
        sockets = await open_sockets(CLIENT_WS, [customer_client])
        sockets += await open_sockets(MITRA_WS, [mitra_client])
        response = await off_loop(lambda: customer_client.post(_end_url(session_id)))
        events = await received_by_all(sockets)
        available = await off_loop(lambda: customer_client.get(AVAILABILITY).json())
        await close_sockets(sockets)
        return response, events, available

    # when
    response, events, available = asyncio.run(scenario())

    # then
    assert response.status_code == 200, response.json()
    assert response.json() == customer_client.get(f"/api/client/chat/{session_id}").json()
    assert (response.json()["status"], response.json()["ended_by"]) == ("completed", "customer")
    assert events == [[{"type": "session_completed", "chat_session_id": session_id, "ended_by": "customer"}]] * 2
    status, _, _, _, ended_at, ended_by, ended_by_user = _lifecycle_columns(session_id)
    assert (status, ended_by, ended_by_user) == ("completed", "customer", customer_client.user.id)
    assert ended_at is not None
    assert available == {"available": True}
    assert mitra_client.get("/api/mitra/status").json()["active_sessions"] == 0


@pytest.mark.django_db
def test_the_customer_cannot_end_early_when_it_is_disabled_and_nothing_changes(running, settings_now):
    session_id, customer_client, _ = running()
    settings_now(early_end_customer_enabled=False)
    before = pairing_state()

    response = customer_client.post(_end_url(session_id))

    assert response.status_code == 403
    assert response.json()["code"] == "early_end_disabled"
    assert pairing_state() == before
    assert _lifecycle_columns(session_id)[0] == "active"


@pytest.mark.django_db
def test_the_mitra_cannot_end_early_by_default_and_nothing_changes(running):
    session_id, _, mitra_client = running()
    before = pairing_state()

    response = mitra_client.post(_mitra_end_url(session_id))

    assert response.status_code == 403
    assert response.json()["code"] == "early_end_disabled"
    assert pairing_state() == before


@pytest.mark.django_db
def test_the_mitra_ends_early_when_it_is_enabled(running, settings_now):
    # given
    session_id, customer_client, mitra_client = running()
    settings_now(early_end_mitra_enabled=True)

    # when
    response = mitra_client.post(_mitra_end_url(session_id))

    # then: the mitra's view, ended by the mitra
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body == {
        "id": session_id, "status": "completed", "request_type": "general", "sensitive": False,
        "customer": {"call_name": "Ayu"}, "mitra": {"id": str(mitra_client.user.id), "display_name": "Bestie Sekar"},
        "started_at": body["started_at"], "ends_at": body["ends_at"], "closes_at": None, "ended_by": "mitra",
        "created_at": body["created_at"],
    }
    assert_anonymous(body, customer_client.user)
    status, _, _, _, ended_at, ended_by, ended_by_user = _lifecycle_columns(session_id)
    assert (status, ended_by, ended_by_user) == ("completed", "mitra", mitra_client.user.id)
    assert customer_client.get(f"/api/client/chat/{session_id}").json()["ended_by"] == "mitra"


@pytest.mark.django_db
def test_ending_someone_elses_session_is_404_and_changes_nothing(running, make_customer, make_mitra, api_client_for, settings_now):
    # given: early end is allowed for both roles
    settings_now(early_end_mitra_enabled=True)
    session_id, _, _ = running()
    stranger_customer, stranger_mitra = api_client_for(make_customer()), api_client_for(make_mitra())
    before = pairing_state()

    # when
    responses = [stranger_customer.post(_end_url(session_id)), stranger_mitra.post(_mitra_end_url(session_id))]

    # then
    assert [(r.status_code, r.json()["code"]) for r in responses] == [(404, "not_found"), (404, "not_found")]
    assert pairing_state() == before


@pytest.mark.django_db
def test_ending_a_session_still_waiting_is_409_and_changes_nothing(make_customer, online_mitra, start_chat):
    online_mitra()
    customer_client, chat = start_chat(make_customer())
    before = pairing_state()

    response = customer_client.post(_end_url(chat["id"]))

    assert (response.status_code, response.json()["code"]) == (409, "session_not_active")
    assert pairing_state() == before


@pytest.mark.django_db
def test_ending_again_or_a_late_timer_after_an_early_end_changes_nothing(running):
    # given: ended by the customer
    session_id, customer_client, _ = running()
    first = customer_client.post(_end_url(session_id))
    assert first.status_code == 200
    _ends_now(session_id)
    before = pairing_state()

    # when
    again = customer_client.post(_end_url(session_id))
    fired = deadlines.chat_timer_fire(chat_session_id=session_id)

    # then
    assert (again.status_code, again.json()["status"], again.json()["ended_by"]) == (200, "completed", "customer")
    assert again.json() == customer_client.get(f"/api/client/chat/{session_id}").json()
    assert fired is False and deadlines.due_deadlines_fire() == 0
    assert pairing_state() == before


# --- a mitra going offline ----------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_mitra_going_offline_neither_ends_nor_interrupts_the_session(running):
    # given
    session_id, customer_client, mitra_client = running()
    before = _lifecycle_columns(session_id)

    async def scenario():
        sockets = await open_sockets(CLIENT_WS, [customer_client])
        sockets += await open_sockets(MITRA_WS, [mitra_client])
        response = await off_loop(lambda: mitra_client.post("/api/mitra/status/offline"))
        events = await received_by_all(sockets)
        await close_sockets(sockets)
        return response, events

    # when
    response, events = asyncio.run(scenario())

    # then: nothing about the session changed and nobody was told it did
    assert (response.status_code, response.json()) == (200, {"status": "offline"})
    assert events == [[], []]
    assert _lifecycle_columns(session_id) == before
    assert before[0] == "active" and before[5] == ""
    detail = customer_client.get(f"/api/client/chat/{session_id}").json()
    assert (detail["status"], detail["ended_by"]) == ("active", None)
    assert [s["id"] for s in mitra_client.get("/api/mitra/sessions?status=active").json()["results"]] == [session_id]
    assert mitra_client.get("/api/mitra/status").json()["active_sessions"] == 1
    assert customer_client.get(AVAILABILITY).json() == {"available": False}

    # then: it still ends by its timer, not "mitra offline"
    _ends_now(session_id)
    assert deadlines.chat_timer_fire(chat_session_id=session_id) is True
    _closes_now(session_id)
    assert deadlines.chat_timer_fire(chat_session_id=session_id) is True
    assert _lifecycle_columns(session_id)[5] == "timer"
