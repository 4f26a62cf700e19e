"""POST /api/mitra/chat-requests/{id}/accept (SPEC §5.1.4): first accept wins; what the
winner, the customer and every other offered mitra are told; the refusals."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from pairing.models import ChatRequestNotification, ChatSession
from pairing.tests.live import CLIENT_WS, MITRA_WS, as_text, close_sockets, last_push_id, off_loop, open_sockets, received_by_all
from pairing.tests.state import pairing_state
from payments.models import PaymentEvent, PaymentSession, Transaction
from realtime.models import PushOutbox


def _accept_url(session_id) -> str:
    return f"/api/mitra/chat-requests/{session_id}/accept"


@pytest.mark.django_db
def test_the_first_accept_gets_the_mitra_view_of_the_active_session_and_consumes_the_payment(
    make_customer, online_mitra, start_chat, api_client_for
):
    # given: a 45-minute chat offered to two mitras
    mitra = online_mitra(display_name="Bestie Sekar")
    other = online_mitra()
    customer = make_customer(call_name="Ayu", phone="081234567890", email="ayu.rahasia@example.test")
    _, chat = start_chat(customer, minutes=45, sensitive=True)

    # when
    response = api_client_for(mitra).post(_accept_url(chat["id"]))

    # then: the mitra's view: the customer is a call name, no payment
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body == {
        "id": chat["id"], "status": "active", "request_type": "general", "sensitive": True,
        "customer": {"call_name": "Ayu"}, "mitra": {"id": str(mitra.id), "display_name": "Bestie Sekar"},
        "started_at": body["started_at"], "ends_at": body["ends_at"], "closes_at": None, "ended_by": None,
        "created_at": chat["created_at"],
    }
    started_at, ends_at = datetime.fromisoformat(body["started_at"]), datetime.fromisoformat(body["ends_at"])
    assert ends_at - started_at == timedelta(minutes=45)
    for secret in ("081234567890", "+6281234567890", "ayu.rahasia@example.test", str(customer.id), chat["payment_session_id"]):
        assert secret not in as_text(body)

    # then: the database agrees, the payment is consumed once
    session = ChatSession.objects.select_related("payment_session").get(id=chat["id"])
    assert (session.status, session.mitra_id, session.started_at, session.ends_at, session.deadline_at) == (
        "active", mitra.id, started_at, ends_at, None
    )
    assert session.payment_session.status == "consumed"
    assert list(PaymentEvent.objects.filter(payment_session=session.payment_session, to_status="consumed").values_list("reason", "actor_id")) == [
        ("chat_started", mitra.id)
    ]
    assert Transaction.objects.filter(payment_session=session.payment_session).count() == 1  # the charge at confirm only
    assert dict(ChatRequestNotification.objects.filter(chat_session=session).values_list("mitra_id", "status")) == {
        mitra.id: "accepted", other.id: "closed",
    }

    # then: the customer sees the mitra
    detail = api_client_for(customer).get(f"/api/client/chat/{chat['id']}").json()
    assert (detail["status"], detail["mitra"]) == ("active", {"id": str(mitra.id), "display_name": "Bestie Sekar"})


@pytest.mark.django_db(transaction=True)
def test_the_customer_is_matched_the_winner_started_and_every_other_offered_mitra_closed(
    make_customer, online_mitra, start_chat, api_client_for
):
    # given: three offered mitras, everyone listening
    winner, *others = [online_mitra(display_name=f"Bestie {i}") for i in range(3)]
    customer = make_customer(call_name="Ayu", phone="081234567890", email="ayu.rahasia@example.test")
    customer_client, chat = start_chat(customer)
    winner_client = api_client_for(winner)
    other_clients = [api_client_for(m) for m in others]
    last_push = last_push_id()

    async def scenario():
        sockets = await open_sockets(CLIENT_WS, [customer_client])
        sockets += await open_sockets(MITRA_WS, [winner_client, *other_clients])
        accepted = await off_loop(lambda: winner_client.post(_accept_url(chat["id"])))
        events = await received_by_all(sockets)
        late = await off_loop(lambda: other_clients[0].post(_accept_url(chat["id"])))
        after_late = await received_by_all(sockets)
        await close_sockets(sockets)
        return accepted, events, late, after_late

    # when
    accepted, (customer_events, winner_events, *other_events), late, after_late = asyncio.run(scenario())

    # then
    assert accepted.status_code == 200, accepted.json()
    session_for_mitra = accepted.json()
    customer_view = api_client_for(customer).get(f"/api/client/chat/{chat['id']}").json()
    assert customer_events == [{"type": "pairing_matched", "chat_session": customer_view}]
    assert customer_view["mitra"] == {"id": str(winner.id), "display_name": "Bestie 0"}
    assert winner_events == [{"type": "session_started", "chat_session": session_for_mitra}]
    assert other_events == [[{"type": "chat_request_closed", "request_id": chat["id"], "reason": "accepted_elsewhere"}]] * 2
    assert list(PushOutbox.objects.filter(id__gt=last_push).values("user_id", "title", "body", "data")) == [
        {
            "user_id": customer.id, "title": "Bestie ditemukan", "body": "Bestie 0 siap mendengarkanmu.",
            "data": {"type": "pairing_matched", "chat_session_id": chat["id"]},
        }
    ]

    # then: nothing a mitra got names the customer
    for secret in ("081234567890", "+6281234567890", "ayu.rahasia@example.test", str(customer.id), chat["payment_session_id"]):
        assert secret not in as_text([winner_events, other_events, session_for_mitra])

    # then: a later accept is refused and tells nobody anything
    assert late.status_code == 409
    assert late.json()["code"] == "request_unavailable"
    assert after_late == [[], [], [], []]


@pytest.mark.django_db
def test_a_later_accept_is_409_request_unavailable_and_changes_nothing(make_customer, online_mitra, start_chat, api_client_for):
    # given
    first, second = online_mitra(), online_mitra()
    _, chat = start_chat(make_customer())
    assert api_client_for(first).post(_accept_url(chat["id"])).status_code == 200
    before = pairing_state()

    # when
    response = api_client_for(second).post(_accept_url(chat["id"]))

    # then
    assert response.status_code == 409
    assert response.json()["code"] == "request_unavailable"
    assert pairing_state() == before


@pytest.mark.django_db
def test_accepting_twice_is_409_and_changes_nothing(make_customer, online_mitra, start_chat, api_client_for, settings_now):
    settings_now(max_customers_per_mitra=3)
    mitra_client = api_client_for(online_mitra())
    _, chat = start_chat(make_customer())
    assert mitra_client.post(_accept_url(chat["id"])).status_code == 200
    before = pairing_state()

    response = mitra_client.post(_accept_url(chat["id"]))

    assert response.status_code == 409
    assert response.json()["code"] == "request_unavailable"
    assert pairing_state() == before


@pytest.mark.django_db
def test_accept_by_a_mitra_never_offered_is_404_and_changes_nothing(make_customer, online_mitra, make_mitra, start_chat, api_client_for):
    # given: the chat was blasted while this mitra was offline
    online_mitra()
    stranger = make_mitra()
    _, chat = start_chat(make_customer())
    before = pairing_state()

    # when
    response = api_client_for(stranger).post(_accept_url(chat["id"]))

    # then
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert pairing_state() == before


@pytest.mark.django_db
def test_accept_of_an_unknown_request_is_404(mitra_client):
    before = pairing_state()

    response = mitra_client.post(_accept_url("00000000-0000-4000-8000-000000000000"))

    assert response.status_code == 404
    assert pairing_state() == before


@pytest.mark.django_db
def test_accept_after_the_deadline_passed_but_before_the_timer_fired_is_409_and_changes_nothing(
    make_customer, online_mitra, start_chat, api_client_for
):
    # given: the blast timed out a moment ago; the timer has not run yet
    mitra = online_mitra()
    _, chat = start_chat(make_customer())
    ChatSession.objects.filter(id=chat["id"]).update(deadline_at=timezone.now() - timedelta(milliseconds=1))
    before = pairing_state()

    # when
    response = api_client_for(mitra).post(_accept_url(chat["id"]))

    # then
    assert response.status_code == 409
    assert response.json()["code"] == "request_unavailable"
    assert pairing_state() == before
    assert ChatSession.objects.get(id=chat["id"]).status == "waiting"
    assert PaymentSession.objects.get(id=chat["payment_session_id"]).status == "confirmed"


@pytest.mark.django_db
def test_accept_while_offline_is_409_mitra_offline_and_changes_nothing(make_customer, online_mitra, start_chat, api_client_for):
    # given: offered while online, then went offline
    mitra = online_mitra()
    mitra_client = api_client_for(mitra)
    _, chat = start_chat(make_customer())
    assert mitra_client.post("/api/mitra/status/offline").status_code == 200
    before = pairing_state()

    # when
    response = mitra_client.post(_accept_url(chat["id"]))

    # then
    assert response.status_code == 409
    assert response.json()["code"] == "mitra_offline"
    assert pairing_state() == before


@pytest.mark.django_db
def test_accept_at_capacity_is_409_at_capacity_and_changes_nothing(make_customer, online_mitra, start_chat, api_client_for):
    # given: offered two chats, capacity 1, already took the first
    mitra = online_mitra()
    _, first = start_chat(make_customer())
    _, second = start_chat(make_customer())
    mitra_client = api_client_for(mitra)
    assert mitra_client.post(_accept_url(first["id"])).status_code == 200
    before = pairing_state()

    # when
    response = mitra_client.post(_accept_url(second["id"]))

    # then
    assert response.status_code == 409
    assert response.json()["code"] == "at_capacity"
    assert pairing_state() == before
