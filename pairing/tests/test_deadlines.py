"""Blast timeouts (SPEC §5.1.5): the per-attempt timer (``chat_deadline_fire``), the
backstop that fires every overdue attempt (``due_deadlines_fire``, ``manage.py
fire_due_timers``), each firing exactly once whatever runs it and how often."""

from __future__ import annotations

import asyncio
import io
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from failed_pairings.models import PairingFailure
from pairing import attempts, deadlines
from pairing.models import ChatRequestNotification, ChatSession
from pairing.tests.live import CLIENT_WS, MITRA_WS, close_sockets, last_push_id, off_loop, open_sockets, race, received_by_all
from pairing.tests.state import pairing_state
from payments.models import PaymentSession
from realtime.models import PushOutbox

FAILED_TEXT = "Maaf, kami tidak bisa menemukan bestie untuk sesimu. Tim kami akan menghubungimu segera."


def _overdue(*session_ids) -> None:
    ChatSession.objects.filter(id__in=session_ids).update(deadline_at=timezone.now() - timedelta(seconds=1))


@pytest.mark.django_db(transaction=True)
def test_a_waiting_attempt_past_its_deadline_fires_once_and_tells_everyone(
    make_customer, online_mitra, start_chat, api_client_for, set_config
):
    # given: a 1-second blast offered to two mitras, nobody answers
    set_config(pairing_blast_timeout_seconds=1)
    mitras = [online_mitra(), online_mitra()]
    customer = make_customer()
    customer_client, chat = start_chat(customer, amount=90_000, minutes=60)
    assert chat["blast_timeout_seconds"] == 1
    session = ChatSession.objects.get(id=chat["id"])
    mitra_clients = [api_client_for(m) for m in mitras]
    last_push = last_push_id()
    time.sleep(max(0.0, (session.deadline_at - timezone.now()).total_seconds()) + 0.05)  # let the deadline pass

    async def scenario():
        sockets = await open_sockets(CLIENT_WS, [customer_client])
        sockets += await open_sockets(MITRA_WS, mitra_clients)
        fired = await off_loop(lambda: attempts.chat_deadline_fire(chat_session_id=chat["id"]))
        events = await received_by_all(sockets)
        fired_again = await off_loop(lambda: attempts.chat_deadline_fire(chat_session_id=chat["id"]))
        events_again = await received_by_all(sockets)
        await close_sockets(sockets)
        return fired, events, fired_again, events_again

    # when
    fired, (customer_events, *mitra_events), fired_again, events_again = asyncio.run(scenario())

    # then
    assert fired is True
    session.refresh_from_db()
    assert (session.status, session.failure_cause, session.deadline_at, session.mitra_id) == ("unmatched", "no_mitra_available", None, None)
    assert PaymentSession.objects.get(id=chat["payment_session_id"]).status == "failed_pairing"
    assert list(PairingFailure.objects.values_list("cause_tag", "amount", "payment_session_id", "customer_id", "chat_session_id")) == [
        ("no_mitra_available", 90_000, session.payment_session_id, customer.id, session.id)
    ]
    assert set(ChatRequestNotification.objects.filter(chat_session=session).values_list("mitra_id", "status")) == {
        (m.id, "closed") for m in mitras
    }
    assert customer_events == [
        {"type": "pairing_failed", "chat_session_id": chat["id"], "cause": "no_mitra_available", "message": FAILED_TEXT}
    ]
    assert mitra_events == [[{"type": "chat_request_closed", "request_id": chat["id"], "reason": "timeout"}]] * 2
    assert list(PushOutbox.objects.filter(id__gt=last_push).values_list("user_id", "title", "body")) == [
        (customer.id, "Sesi gagal", FAILED_TEXT)
    ]

    # then: firing again does nothing more
    assert fired_again is False
    assert events_again == [[], [], []]
    assert PairingFailure.objects.count() == 1
    assert PushOutbox.objects.filter(id__gt=last_push).count() == 1


@pytest.mark.django_db
def test_firing_again_changes_nothing(make_customer, online_mitra, start_chat):
    online_mitra()
    _, chat = start_chat(make_customer())
    _overdue(chat["id"])
    assert attempts.chat_deadline_fire(chat_session_id=chat["id"]) is True
    before = pairing_state()

    assert attempts.chat_deadline_fire(chat_session_id=chat["id"]) is False
    assert deadlines.due_deadlines_fire() == 0

    assert pairing_state() == before
    assert PairingFailure.objects.filter(chat_session_id=chat["id"]).count() == 1


@pytest.mark.django_db
def test_an_attempt_not_due_yet_does_not_fire(make_customer, online_mitra, start_chat):
    online_mitra()
    _, chat = start_chat(make_customer())
    before = pairing_state()

    assert attempts.chat_deadline_fire(chat_session_id=chat["id"]) is False
    assert deadlines.due_deadlines_fire() == 0

    assert pairing_state() == before
    assert ChatSession.objects.get(id=chat["id"]).status == "waiting"


@pytest.mark.django_db
def test_a_timer_firing_after_an_accept_won_does_nothing(make_customer, online_mitra, start_chat, api_client_for):
    # given: accepted; the timer task arrives late, even with a clock past the old deadline
    mitra = online_mitra()
    _, chat = start_chat(make_customer())
    deadline = ChatSession.objects.get(id=chat["id"]).deadline_at
    assert api_client_for(mitra).post(f"/api/mitra/chat-requests/{chat['id']}/accept").status_code == 200
    before = pairing_state()

    # when
    fired = attempts.chat_deadline_fire(chat_session_id=chat["id"], now=deadline + timedelta(seconds=5))

    # then
    assert fired is False
    assert deadlines.due_deadlines_fire(now=deadline + timedelta(seconds=5)) == 0
    assert pairing_state() == before
    assert ChatSession.objects.get(id=chat["id"]).status == "active"


@pytest.mark.django_db
def test_the_backstop_fires_every_overdue_attempt_and_nothing_else(make_customer, online_mitra, start_chat):
    # given: three overdue attempts, one still within its window, one cancelled
    online_mitra()
    chats = [start_chat(make_customer()) for _ in range(5)]
    overdue = [chat["id"] for _, chat in chats[:3]]
    _overdue(*overdue)
    fresh = chats[3][1]["id"]
    cancelled_client, cancelled = chats[4]
    assert cancelled_client.post(f"/api/client/chat/{cancelled['id']}/cancel").status_code == 200
    _overdue(cancelled["id"])

    # when
    fired = deadlines.due_deadlines_fire()

    # then
    assert fired == 3
    statuses = dict(ChatSession.objects.values_list("id", "status"))
    assert {str(k): v for k, v in statuses.items()} == {
        **{i: "unmatched" for i in overdue}, fresh: "waiting", cancelled["id"]: "cancelled",
    }
    assert sorted(PairingFailure.objects.filter(cause_tag="no_mitra_available").values_list("chat_session_id", flat=True)) == sorted(
        ChatSession.objects.filter(id__in=overdue).values_list("id", flat=True)
    )
    assert deadlines.due_deadlines_fire() == 0


@pytest.mark.django_db
def test_the_fire_due_timers_command_fires_the_overdue_attempts(make_customer, online_mitra, start_chat):
    online_mitra()
    chats = [start_chat(make_customer())[1]["id"] for _ in range(3)]
    _overdue(*chats[:2])
    out = io.StringIO()

    call_command("fire_due_timers", stdout=out)

    assert out.getvalue() == "fire_due_timers: 2 deadline(s) fired\n"
    assert {str(k): v for k, v in ChatSession.objects.values_list("id", "status")} == {
        chats[0]: "unmatched", chats[1]: "unmatched", chats[2]: "waiting",
    }
    assert PairingFailure.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_backstops_running_at_once_fire_each_attempt_exactly_once(make_customer, online_mitra, confirmed_payment):
    # given: forty overdue attempts
    online_mitra()
    customers = [make_customer() for _ in range(40)]
    sessions = [
        attempts.chat_start(customer=c, payment_id=confirmed_payment(c).id, sensitive=False) for c in customers
    ]
    _overdue(*[s.id for s in sessions])
    last_push = last_push_id()

    # when: two beat runs overlap
    results = race([deadlines.due_deadlines_fire, deadlines.due_deadlines_fire])

    # then
    assert not [r for r in results if isinstance(r, BaseException)], results
    print("SPLIT", results)
    assert sum(results) == 40, results
    assert ChatSession.objects.filter(status="unmatched").count() == 40
    failures = list(PairingFailure.objects.values_list("chat_session_id", "cause_tag"))
    assert sorted(failures) == sorted((s.id, "no_mitra_available") for s in sessions)
    assert PaymentSession.objects.filter(status="failed_pairing").count() == 40
    pushes = list(PushOutbox.objects.filter(id__gt=last_push, title="Sesi gagal").values_list("user_id", flat=True))
    assert sorted(pushes) == sorted(c.id for c in customers)
