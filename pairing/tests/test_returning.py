""""Curhat lagi" (SPEC §5.3): a paid request to the one mitra the customer talked with
before — offered to that mitra only, refused with a cause when they cannot take it,
auto-rejected when they do not answer, and the fallback to a general blast on the
same payment (no second charge)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from conftest import EMAIL, PHONE
from failed_pairings.models import PairingFailure
from pairing import attempts, deadlines
from pairing.models import ChatRequestNotification, ChatSession
from pairing.representations import iso_datetime
from pairing.tests.live import (
    CLIENT_WS, MITRA_WS, assert_anonymous, close_sockets, last_push_id, off_loop, open_sockets, race, received_by_all,
)
from pairing.tests.state import pairing_state
from payments.models import PaymentEvent, PaymentSession, Transaction
from realtime.models import PushOutbox

RETURNING = "/api/client/chat/returning"
UNAVAILABLE_TEXT = "Bestie sedang tidak online"


# --- helpers ------------------------------------------------------------------------------
@pytest.fixture
def history_with(matched_session, api_client_for):
    """``history_with(mitra, customer)`` → the id of a completed session of ``customer``
    with ``mitra``: accepted through the API, then ended by the customer."""

    def make(mitra, customer) -> str:
        session_id = matched_session(mitra, customer=customer)
        response = api_client_for(customer).post(f"/api/client/chat/{session_id}/end")
        assert (response.status_code, response.json()["status"]) == (200, "completed"), response.json()
        return session_id

    return make


@pytest.fixture
def pay_for(make_tier):
    """``pay_for(customer_client, mitra)`` → a confirmed payment (API body) made for "Curhat
    lagi" with ``mitra``, created and confirmed through the API."""

    def pay(client, mitra, *, minutes: int = 30, amount: int = 50_000) -> dict:
        tier = make_tier(amount=amount, minutes=minutes)
        created = client.post(
            "/api/client/payment-sessions", {"tier_id": str(tier.id), "targeted_mitra_id": str(mitra.id)}, format="json"
        )
        assert created.status_code == 201, created.json()
        assert created.json()["targeted_mitra_id"] == str(mitra.id)
        confirmed = client.post(f"/api/client/payment-sessions/{created.json()['id']}/confirm")
        assert (confirmed.status_code, confirmed.json()["status"]) == (200, "confirmed"), confirmed.json()
        return confirmed.json()

    return pay


def _returning(client, payment: dict, mitra, *, sensitive: bool = False):
    body = {"payment_session_id": payment["id"], "mitra_id": str(mitra.id), "sensitive": sensitive}
    return client.post(RETURNING, body, format="json")


def _accept(client, session_id):
    return client.post(f"/api/mitra/chat-requests/{session_id}/accept")


def _decline(client, session_id):
    return client.post(f"/api/mitra/chat-requests/{session_id}/decline")


def _fallback(client, session_id):
    return client.post(f"/api/client/chat/{session_id}/fallback-to-blast")


def _payment_status(client, payment: dict) -> str:
    response = client.get(f"/api/client/payment-sessions/{payment['id']}")
    assert response.status_code == 200, response.json()
    return response.json()["status"]


def _mitra_pushes(mitra, after: int) -> list[dict]:
    return list(PushOutbox.objects.filter(id__gt=after, user=mitra).values("title", "body", "data"))


def _unavailable_event(session_id, cause: str, mitra, display_name: str) -> dict:
    return {
        "type": "targeted_unavailable", "chat_session_id": str(session_id), "cause": cause,
        "mitra": {"id": str(mitra.id), "display_name": display_name},
    }


def _failures() -> list[tuple]:
    return list(
        PairingFailure.objects.order_by("created_at").values_list(
            "customer_id", "targeted_mitra_id", "cause_tag", "amount", "payment_session_id", "chat_session_id", "operator_action"
        )
    )


def _without_failures(state: dict) -> dict:
    return {key: value for key, value in state.items() if key != "failures"}


# --- offering ------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_only_the_targeted_mitra_is_offered_it_with_the_live_confirmation_timeout(
    make_customer, online_mitra, history_with, pay_for, api_client_for, set_config
):
    # given: the customer talked with Sekar before; another mitra is online too
    set_config(returning_chat_confirmation_timeout_seconds=37)
    mitra = online_mitra(display_name="Bestie Sekar")
    other = online_mitra()
    customer = make_customer(call_name="Ayu", phone=PHONE, email=EMAIL)
    history_with(mitra, customer)
    customer_client, mitra_client, other_client = (api_client_for(u) for u in (customer, mitra, other))
    payment = pay_for(customer_client, mitra, amount=90_000, minutes=60)
    last_push = last_push_id()

    async def scenario():
        sockets = await open_sockets(CLIENT_WS, [customer_client])
        sockets += await open_sockets(MITRA_WS, [mitra_client, other_client])
        response = await off_loop(lambda: _returning(customer_client, payment, mitra, sensitive=True))
        events = await received_by_all(sockets)
        await close_sockets(sockets)
        return response, events

    # when
    response, (customer_events, mitra_events, other_events) = asyncio.run(scenario())

    # then: the customer's waiting attempt carries the setting's window
    assert response.status_code == 201, response.json()
    session = ChatSession.objects.get(id=response.json()["id"])
    assert response.json() == {
        "id": str(session.id), "status": "waiting", "request_type": "returning", "sensitive": True,
        "payment_session_id": payment["id"], "mitra": None, "started_at": None, "ends_at": None, "closes_at": None,
        "ended_by": None, "created_at": iso_datetime(session.created_at), "confirmation_timeout_seconds": 37,
    }
    assert (session.targeted_mitra_id, session.mitra_id, session.duration_minutes) == (mitra.id, None, 60)
    assert round((session.deadline_at - session.created_at).total_seconds()) == 37

    # then: the targeted mitra alone is offered it (socket, push, list); nobody else hears a thing
    request = {
        "request_id": str(session.id), "request_type": "returning", "customer": {"call_name": "Ayu"}, "sensitive": True,
        "timeout_seconds": 37, "expires_at": iso_datetime(session.deadline_at), "created_at": iso_datetime(session.created_at),
    }
    assert mitra_events == [{"type": "chat_request", **request}]
    assert other_events == []
    assert customer_events == []
    assert list(ChatRequestNotification.objects.filter(chat_session=session).values_list("mitra_id", "status")) == [
        (mitra.id, "offered")
    ]
    assert list(PushOutbox.objects.filter(id__gt=last_push).values_list("user_id", "title", "body", "data")) == [
        (mitra.id, "Ada yang ingin curhat", "Ayu sedang menunggu bestie.",
         {"type": "chat_request", "request_id": str(session.id), "request_type": "returning"})
    ]
    listed = mitra_client.get("/api/mitra/chat-requests").json()
    assert listed == {"results": [request]}
    assert other_client.get("/api/mitra/chat-requests").json() == {"results": []}

    # then: the payment waits for the answer, still confirmed and charged once
    assert _payment_status(customer_client, payment) == "confirmed"
    assert PaymentSession.objects.get(id=payment["id"]).chat_session_id == session.id
    assert list(Transaction.objects.filter(payment_session_id=payment["id"]).values_list("kind", "amount")) == [("charge", 90_000)]
    assert_anonymous([mitra_events, _mitra_pushes(mitra, last_push), listed], customer)


@pytest.mark.django_db
def test_the_confirmation_timeout_follows_the_setting_when_an_operator_changes_it(
    make_customer, online_mitra, history_with, pay_for, api_client_for, settings_now
):
    mitra = online_mitra()
    customer = make_customer()
    history_with(mitra, customer)
    customer_client, mitra_client = api_client_for(customer), api_client_for(mitra)
    seen = []

    for seconds in (7, 41):
        # when
        settings_now(returning_chat_confirmation_timeout_seconds=seconds)
        response = _returning(customer_client, pay_for(customer_client, mitra), mitra)

        # then
        assert response.status_code == 201, response.json()
        offered = mitra_client.get("/api/mitra/chat-requests").json()["results"]
        seen.append((response.json()["confirmation_timeout_seconds"], [r["timeout_seconds"] for r in offered]))
        assert _decline(mitra_client, response.json()["id"]).status_code == 200

    assert seen == [(7, [7]), (41, [41])]


# --- refusals when the mitra cannot take it -------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_an_offline_mitra_is_409_targeted_mitra_offline_with_a_committed_failure_row_and_the_payment_kept(
    make_customer, online_mitra, history_with, pay_for, api_client_for
):
    # given: Sekar went offline after the customer's last session
    mitra = online_mitra(display_name="Bestie Sekar")
    other = online_mitra()
    customer = make_customer(phone=PHONE, email=EMAIL)
    history_with(mitra, customer)
    customer_client, mitra_client, other_client = (api_client_for(u) for u in (customer, mitra, other))
    payment = pay_for(customer_client, mitra, amount=90_000)
    assert mitra_client.post("/api/mitra/status/offline").json() == {"status": "offline"}
    before = pairing_state()

    async def scenario():
        sockets = await open_sockets(CLIENT_WS, [customer_client])
        sockets += await open_sockets(MITRA_WS, [mitra_client, other_client])
        response = await off_loop(lambda: _returning(customer_client, payment, mitra))
        events = await received_by_all(sockets)
        await close_sockets(sockets)
        return response, events

    # when
    response, events = asyncio.run(scenario())

    # then: 409 with the cause, and the failure row is committed (read on another connection)
    assert (response.status_code, response.json()) == (
        409, {"code": "targeted_unavailable", "detail": UNAVAILABLE_TEXT, "cause": "targeted_mitra_offline"}
    )
    [committed] = race([_failures])
    assert committed == [(customer.id, mitra.id, "targeted_mitra_offline", 90_000, PaymentSession.objects.get(id=payment["id"]).id, None, "")]

    # then: nothing else changed: no attempt, no offer, nobody told, the payment confirmed
    after = pairing_state()
    assert _without_failures(after) == _without_failures(before)
    assert len(after["failures"]) == len(before["failures"]) + 1
    assert events == [[], [], []]
    assert _payment_status(customer_client, payment) == "confirmed"
    assert ChatSession.objects.filter(payment_session_id=payment["id"]).count() == 0


@pytest.mark.django_db
def test_a_mitra_at_capacity_with_other_customers_is_409_targeted_mitra_at_capacity_and_the_payment_stays_usable(
    make_customer, online_mitra, history_with, pay_for, api_client_for, matched_session, settings_now
):
    # given: capacity 1, Sekar is busy with somebody else
    settings_now(max_customers_per_mitra=1)
    mitra = online_mitra()
    customer = make_customer()
    history_with(mitra, customer)
    matched_session(mitra)
    other = online_mitra()
    customer_client = api_client_for(customer)
    payment = pay_for(customer_client, mitra, amount=90_000)
    before = pairing_state()

    # when
    response = _returning(customer_client, payment, mitra)

    # then
    assert (response.status_code, response.json()) == (
        409, {"code": "targeted_unavailable", "detail": UNAVAILABLE_TEXT, "cause": "targeted_mitra_at_capacity"}
    )
    assert _failures() == [
        (customer.id, mitra.id, "targeted_mitra_at_capacity", 90_000, PaymentSession.objects.get(id=payment["id"]).id, None, "")
    ]
    after = pairing_state()
    assert _without_failures(after) == _without_failures(before)
    assert len(after["failures"]) == len(before["failures"]) + 1
    assert _payment_status(customer_client, payment) == "confirmed"

    # then: the payment is still good for "Chat dengan bestie lain"
    started = customer_client.post("/api/client/chat/start", {"payment_session_id": payment["id"], "sensitive": False}, format="json")
    assert (started.status_code, started.json()["status"], started.json()["request_type"]) == (201, "waiting", "general")
    assert list(ChatRequestNotification.objects.filter(chat_session_id=started.json()["id"]).values_list("mitra_id", flat=True)) == [other.id]


@pytest.mark.django_db
def test_at_capacity_only_because_of_this_same_customer_the_request_goes_through_and_can_be_accepted(
    make_customer, online_mitra, pay_for, api_client_for, matched_session, settings_now
):
    # given: capacity 1, and the mitra's one slot is a running session with this customer
    settings_now(max_customers_per_mitra=1)
    mitra = online_mitra()
    customer = make_customer()
    running = matched_session(mitra, customer=customer)
    customer_client, mitra_client = api_client_for(customer), api_client_for(mitra)
    payment = pay_for(customer_client, mitra)

    # when
    response = _returning(customer_client, payment, mitra)
    accepted = _accept(mitra_client, response.json()["id"])

    # then
    assert (response.status_code, response.json()["status"], response.json()["request_type"]) == (201, "waiting", "returning")
    assert (accepted.status_code, accepted.json()["status"]) == (200, "active"), accepted.json()
    assert sorted(ChatSession.objects.filter(mitra=mitra).values_list("id", "customer_id", "status")) == sorted(
        [(ChatSession.objects.get(id=running).id, customer.id, "active"), (ChatSession.objects.get(id=response.json()["id"]).id, customer.id, "active")]
    )
    assert _payment_status(customer_client, payment) == "consumed"
    assert PairingFailure.objects.count() == 0


@pytest.mark.django_db
def test_returning_to_a_mitra_never_talked_with_is_409_no_history_with_mitra_and_changes_nothing(
    make_customer, online_mitra, history_with, pay_for, api_client_for
):
    # given: the customer only ever talked with another mitra
    known, stranger = online_mitra(), online_mitra()
    customer = make_customer()
    history_with(known, customer)
    customer_client = api_client_for(customer)
    payment = pay_for(customer_client, stranger)
    before = pairing_state()

    # when
    response = _returning(customer_client, payment, stranger)

    # then
    assert response.status_code == 409
    assert response.json()["code"] == "no_history_with_mitra"
    assert pairing_state() == before
    assert _payment_status(customer_client, payment) == "confirmed"


# --- answers -------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_an_accept_makes_one_active_session_and_consumes_the_payment(
    make_customer, online_mitra, history_with, pay_for, api_client_for
):
    # given
    mitra = online_mitra(display_name="Bestie Sekar")
    customer = make_customer(call_name="Ayu", phone=PHONE, email=EMAIL)
    history_with(mitra, customer)
    customer_client, mitra_client = api_client_for(customer), api_client_for(mitra)
    payment = pay_for(customer_client, mitra, minutes=45, amount=90_000)
    chat = _returning(customer_client, payment, mitra, sensitive=True).json()

    # when
    response = _accept(mitra_client, chat["id"])

    # then: the mitra's view of the session
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body == {
        "id": chat["id"], "status": "active", "request_type": "returning", "sensitive": True,
        "customer": {"call_name": "Ayu"}, "mitra": {"id": str(mitra.id), "display_name": "Bestie Sekar"},
        "started_at": body["started_at"], "ends_at": body["ends_at"], "closes_at": None, "ended_by": None,
        "created_at": chat["created_at"],
    }
    assert datetime.fromisoformat(body["ends_at"]) - datetime.fromisoformat(body["started_at"]) == timedelta(minutes=45)
    assert_anonymous(body, customer)

    # then: exactly one active session for the payment, consumed, charged once
    assert list(ChatSession.objects.filter(payment_session_id=payment["id"]).values_list("status", "mitra_id")) == [("active", mitra.id)]
    assert _payment_status(customer_client, payment) == "consumed"
    assert list(PaymentEvent.objects.filter(payment_session_id=payment["id"], to_status="consumed").values_list("reason", flat=True)) == ["chat_started"]
    assert list(Transaction.objects.filter(payment_session_id=payment["id"]).values_list("kind", "amount")) == [("charge", 90_000)]
    assert PairingFailure.objects.count() == 0
    detail = customer_client.get(f"/api/client/chat/{chat['id']}").json()
    assert (detail["status"], detail["mitra"]) == ("active", {"id": str(mitra.id), "display_name": "Bestie Sekar"})


@pytest.mark.django_db(transaction=True)
def test_a_decline_tells_the_customer_targeted_unavailable_and_keeps_the_payment(
    make_customer, online_mitra, history_with, pay_for, api_client_for
):
    # given
    mitra = online_mitra(display_name="Bestie Sekar")
    customer = make_customer(call_name="Ayu", phone=PHONE, email=EMAIL)
    history_with(mitra, customer)
    customer_client, mitra_client = api_client_for(customer), api_client_for(mitra)
    payment = pay_for(customer_client, mitra, amount=90_000)
    chat = _returning(customer_client, payment, mitra).json()
    last_push = last_push_id()

    async def scenario():
        sockets = await open_sockets(CLIENT_WS, [customer_client])
        sockets += await open_sockets(MITRA_WS, [mitra_client])
        response = await off_loop(lambda: _decline(mitra_client, chat["id"]))
        events = await received_by_all(sockets)
        await close_sockets(sockets)
        return response, events

    # when
    response, (customer_events, mitra_events) = asyncio.run(scenario())

    # then
    assert (response.status_code, response.json()) == (200, {"request_id": chat["id"], "declined": True})
    assert customer_events == [_unavailable_event(chat["id"], "targeted_mitra_rejected", mitra, "Bestie Sekar")]
    assert mitra_events == []  # their own decline: nothing to close
    session = ChatSession.objects.get(id=chat["id"])
    assert (session.status, session.failure_cause, session.deadline_at, session.mitra_id) == ("unmatched", "targeted_mitra_rejected", None, None)
    assert _failures() == [(customer.id, mitra.id, "targeted_mitra_rejected", 90_000, session.payment_session_id, session.id, "")]
    assert _payment_status(customer_client, payment) == "confirmed"
    assert list(ChatRequestNotification.objects.filter(chat_session=session).values_list("mitra_id", "status")) == [(mitra.id, "declined")]
    assert mitra_client.get("/api/mitra/chat-requests").json() == {"results": []}
    assert _mitra_pushes(mitra, last_push) == []
    assert customer_client.get(f"/api/client/chat/{chat['id']}").json()["status"] == "unmatched"


@pytest.mark.django_db(transaction=True)
def test_no_answer_in_the_window_is_auto_rejected_as_targeted_mitra_timeout(
    make_customer, online_mitra, history_with, pay_for, api_client_for
):
    # given: the window has passed without an answer
    mitra = online_mitra(display_name="Bestie Sekar")
    customer = make_customer(call_name="Ayu", phone=PHONE, email=EMAIL)
    history_with(mitra, customer)
    customer_client, mitra_client = api_client_for(customer), api_client_for(mitra)
    payment = pay_for(customer_client, mitra, amount=90_000)
    chat = _returning(customer_client, payment, mitra).json()
    ChatSession.objects.filter(id=chat["id"]).update(deadline_at=timezone.now() - timedelta(seconds=1))
    last_push = last_push_id()

    async def scenario():
        sockets = await open_sockets(CLIENT_WS, [customer_client])
        sockets += await open_sockets(MITRA_WS, [mitra_client])
        fired = await off_loop(lambda: deadlines.chat_timer_fire(chat_session_id=chat["id"]))
        events = await received_by_all(sockets)
        fired_again = await off_loop(lambda: deadlines.chat_timer_fire(chat_session_id=chat["id"]))
        late = await off_loop(lambda: _accept(mitra_client, chat["id"]))
        events_again = await received_by_all(sockets)
        await close_sockets(sockets)
        return fired, events, fired_again, late, events_again

    # when: the server's timer fires (as the worker does)
    fired, (customer_events, mitra_events), fired_again, late, events_again = asyncio.run(scenario())

    # then
    assert fired is True
    assert mitra_events == [{"type": "chat_request_closed", "request_id": chat["id"], "reason": "timeout"}]
    assert customer_events == [_unavailable_event(chat["id"], "targeted_mitra_timeout", mitra, "Bestie Sekar")]
    session = ChatSession.objects.get(id=chat["id"])
    assert (session.status, session.failure_cause, session.deadline_at) == ("unmatched", "targeted_mitra_timeout", None)
    assert _failures() == [(customer.id, mitra.id, "targeted_mitra_timeout", 90_000, session.payment_session_id, session.id, "")]
    assert _payment_status(customer_client, payment) == "confirmed"
    assert list(ChatRequestNotification.objects.filter(chat_session=session).values_list("mitra_id", "status")) == [(mitra.id, "closed")]
    assert _mitra_pushes(mitra, last_push) == []
    assert_anonymous(mitra_events, customer)

    # then: firing again, or a late accept, changes nothing and tells nobody anything
    assert fired_again is False
    assert (late.status_code, late.json()["code"]) == (409, "request_unavailable")
    assert events_again == [[], []]
    assert len(_failures()) == 1
    assert ChatSession.objects.get(id=chat["id"]).status == "unmatched"


@pytest.mark.django_db
@pytest.mark.parametrize("fire", ["chat_deadline_fire", "chat_timer_fire", "due_deadlines_fire"])
def test_every_timer_path_auto_rejects_an_overdue_returning_request_once(
    fire, make_customer, online_mitra, history_with, pay_for, api_client_for
):
    # given
    mitra = online_mitra()
    customer = make_customer()
    history_with(mitra, customer)
    customer_client = api_client_for(customer)
    payment = pay_for(customer_client, mitra)
    chat = _returning(customer_client, payment, mitra).json()
    ChatSession.objects.filter(id=chat["id"]).update(deadline_at=timezone.now() - timedelta(seconds=1))

    def run():
        if fire == "due_deadlines_fire":
            return deadlines.due_deadlines_fire()
        return {"chat_deadline_fire": attempts.chat_deadline_fire, "chat_timer_fire": deadlines.chat_timer_fire}[fire](chat_session_id=chat["id"])

    # when
    first = run()
    state = pairing_state()
    second = run()

    # then
    assert first in (True, 1) and second in (False, 0)
    assert pairing_state() == state
    assert ChatSession.objects.get(id=chat["id"]).status == "unmatched"
    assert [row[2] for row in _failures()] == ["targeted_mitra_timeout"]
    assert _payment_status(customer_client, payment) == "confirmed"


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_auto_rejects_an_unanswered_returning_request_on_time(
    celery_process, make_customer, online_mitra, history_with, pay_for, api_client_for, set_config
):
    # given: a 2-second window, a worker running, nobody answering
    celery_process("worker")
    set_config(returning_chat_confirmation_timeout_seconds=2)
    mitra = online_mitra(display_name="Bestie Sekar")
    customer = make_customer()
    history_with(mitra, customer)
    customer_client, mitra_client = api_client_for(customer), api_client_for(mitra)
    payment = pay_for(customer_client, mitra)

    async def scenario():
        customer_socket, mitra_socket = await open_sockets(CLIENT_WS, [customer_client]) + await open_sockets(MITRA_WS, [mitra_client])
        response = await off_loop(lambda: _returning(customer_client, payment, mitra))
        offered = await mitra_socket.receive_json_from(timeout=60)
        closed = await mitra_socket.receive_json_from(timeout=90)
        unavailable = await customer_socket.receive_json_from(timeout=60)
        received_at = time.time()
        await close_sockets([customer_socket, mitra_socket])
        return response, offered, closed, unavailable, received_at

    # when
    response, offered, closed, unavailable, received_at = asyncio.run(scenario())

    # then
    assert response.status_code == 201 and response.json()["confirmation_timeout_seconds"] == 2
    chat_id = response.json()["id"]
    assert (offered["type"], offered["timeout_seconds"]) == ("chat_request", 2)
    assert closed == {"type": "chat_request_closed", "request_id": chat_id, "reason": "timeout"}
    assert unavailable == _unavailable_event(chat_id, "targeted_mitra_timeout", mitra, "Bestie Sekar")
    deadline = datetime.fromisoformat(offered["expires_at"]).timestamp()
    # never early; how late is measured by `make bench` (P5), not bounded here
    assert deadline <= received_at, f"fired {received_at - deadline:+.2f} s from the deadline"
    assert ChatSession.objects.get(id=chat_id).status == "unmatched"
    assert [row[2] for row in _failures()] == ["targeted_mitra_timeout"]
    assert _payment_status(customer_client, payment) == "confirmed"


# --- "Chat dengan bestie lain" ------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_fallback_blasts_on_the_same_payment_without_a_second_charge_once_only(
    make_customer, online_mitra, history_with, pay_for, api_client_for, settings_now
):
    # given: Sekar declined a sensitive returning request
    settings_now(pairing_blast_timeout_seconds=33)
    mitra = online_mitra()
    others = [online_mitra(), online_mitra()]
    customer = make_customer()
    history_with(mitra, customer)
    customer_client, mitra_client = api_client_for(customer), api_client_for(mitra)
    payment = pay_for(customer_client, mitra, amount=90_000)
    original = _returning(customer_client, payment, mitra, sensitive=True).json()
    assert _decline(mitra_client, original["id"]).status_code == 200
    charges = list(Transaction.objects.filter(payment_session_id=payment["id"]).values_list("id", "kind", "amount"))
    assert [c[1:] for c in charges] == [("charge", 90_000)]

    # when
    response = _fallback(customer_client, original["id"])

    # then: a general waiting blast on the same payment, sensitive as the original
    assert response.status_code == 201, response.json()
    body = response.json()
    fallback = ChatSession.objects.get(id=body["id"])
    assert body == {
        "id": str(fallback.id), "status": "waiting", "request_type": "general", "sensitive": True,
        "payment_session_id": payment["id"], "mitra": None, "started_at": None, "ends_at": None, "closes_at": None,
        "ended_by": None, "created_at": iso_datetime(fallback.created_at), "blast_timeout_seconds": 33,
    }
    assert fallback.fallback_from_id == ChatSession.objects.get(id=original["id"]).id
    assert list(ChatSession.objects.filter(payment_session_id=payment["id"]).order_by("created_at").values_list("id", "request_type", "status")) == [
        (fallback.fallback_from_id, "returning", "unmatched"), (fallback.id, "general", "waiting"),
    ]
    assert set(ChatRequestNotification.objects.filter(chat_session=fallback).values_list("mitra_id", flat=True)) == {
        mitra.id, *(m.id for m in others)
    }
    assert list(Transaction.objects.filter(payment_session_id=payment["id"]).values_list("id", "kind", "amount")) == charges
    assert _payment_status(customer_client, payment) == "confirmed"

    # then: a second fallback is refused and changes nothing
    before = pairing_state()
    again = _fallback(customer_client, original["id"])
    assert (again.status_code, again.json()["code"]) == (409, "already_fell_back")
    assert pairing_state() == before

    # when: another mitra takes the fallback blast
    assert _accept(api_client_for(others[0]), fallback.id).status_code == 200

    # then: consumed once, charged once; falling back now is refused and changes nothing
    assert _payment_status(customer_client, payment) == "consumed"
    assert list(Transaction.objects.filter(payment_session_id=payment["id"]).values_list("id", "kind", "amount")) == charges
    before = pairing_state()
    after_success = _fallback(customer_client, original["id"])
    assert (after_success.status_code, after_success.json()["code"]) == (409, "already_fell_back")
    assert pairing_state() == before


@pytest.mark.django_db
def test_a_fallback_after_the_payment_was_used_elsewhere_is_409_and_changes_nothing(
    make_customer, online_mitra, history_with, pay_for, api_client_for
):
    # given: after the decline the customer started a general chat on the same payment, and it was accepted
    mitra, other = online_mitra(), online_mitra()
    customer = make_customer()
    history_with(mitra, customer)
    customer_client = api_client_for(customer)
    payment = pay_for(customer_client, mitra)
    original = _returning(customer_client, payment, mitra).json()
    assert _decline(api_client_for(mitra), original["id"]).status_code == 200
    started = customer_client.post("/api/client/chat/start", {"payment_session_id": payment["id"]}, format="json")
    assert _accept(api_client_for(other), started.json()["id"]).status_code == 200
    before = pairing_state()

    # when
    response = _fallback(customer_client, original["id"])

    # then
    assert (response.status_code, response.json()["code"]) == (409, "payment_not_usable")
    assert pairing_state() == before


@pytest.mark.django_db
def test_a_fallback_of_a_general_attempt_or_of_a_returning_request_still_waiting_is_409_and_changes_nothing(
    make_customer, online_mitra, history_with, pay_for, api_client_for, start_chat
):
    # given: an unmatched general attempt, and a returning request nobody has answered yet
    mitra = online_mitra()
    customer = make_customer()
    history_with(mitra, customer)
    customer_client = api_client_for(customer)
    _, general = start_chat(customer)
    assert _decline(api_client_for(mitra), general["id"]).status_code == 200
    assert ChatSession.objects.get(id=general["id"]).status == "unmatched"
    waiting = _returning(customer_client, pay_for(customer_client, mitra), mitra).json()
    before = pairing_state()

    # when
    responses = [_fallback(customer_client, general["id"]), _fallback(customer_client, waiting["id"])]

    # then
    assert [(r.status_code, r.json()["code"]) for r in responses] == [(409, "payment_not_usable"), (409, "payment_not_usable")]
    assert pairing_state() == before


@pytest.mark.django_db
def test_a_fallback_of_another_customers_request_is_404_and_changes_nothing(
    make_customer, online_mitra, history_with, pay_for, api_client_for
):
    mitra = online_mitra()
    customer = make_customer()
    history_with(mitra, customer)
    customer_client = api_client_for(customer)
    original = _returning(customer_client, pay_for(customer_client, mitra), mitra).json()
    assert _decline(api_client_for(mitra), original["id"]).status_code == 200
    before = pairing_state()

    response = _fallback(api_client_for(make_customer()), original["id"])

    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert pairing_state() == before



@pytest.mark.django_db
def test_a_declined_returning_chat_also_reaches_the_customer_by_push(
    online_mitra, make_customer, api_client_for, history_with, pay_for, django_capture_on_commit_callbacks
):
    # given: a "Curhat lagi" request waiting for its bestie
    mitra = online_mitra(display_name="Bestie Sekar")
    customer = make_customer()
    history_with(mitra, customer)
    client = api_client_for(customer)
    session_id = _returning(client, pay_for(client, mitra), mitra).json()["id"]

    # when: the bestie declines (the customer's app may be closed)
    with django_capture_on_commit_callbacks(execute=True):
        assert _decline(api_client_for(mitra), session_id).status_code == 200

    # then
    pushes = list(PushOutbox.objects.filter(user=customer).values_list("title", "data"))
    assert pushes == [
        ("Bestie sedang tidak online", {"type": "targeted_unavailable", "chat_session_id": session_id, "cause": "targeted_mitra_rejected"})
    ]
