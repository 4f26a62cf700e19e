"""First accept wins, raced for real: every accept is an API request on its own thread
with its own database connection, released together by a barrier."""

from __future__ import annotations

import asyncio

import pytest

from pairing.models import ChatRequestNotification, ChatSession
from pairing.tests.live import MITRA_WS, CLIENT_WS, close_sockets, off_loop, open_sockets, race, received_by_all
from payments.models import PaymentEvent, PaymentSession, Transaction

pytestmark = pytest.mark.django_db(transaction=True)

RACERS = 20
ROUNDS = 3


def _accept_url(session_id) -> str:
    return f"/api/mitra/chat-requests/{session_id}/accept"


def test_twenty_mitras_accepting_one_request_at_once_make_exactly_one_session(
    make_customer, online_mitra, start_chat, api_client_for, set_config
):
    # given: twenty online mitras, each with room for several sessions across the rounds
    set_config(max_customers_per_mitra=ROUNDS + 1)
    mitras = [online_mitra() for _ in range(RACERS)]
    mitra_clients = [api_client_for(m) for m in mitras]

    for round_no in range(ROUNDS):
        customer_client, chat = start_chat(make_customer())
        assert ChatRequestNotification.objects.filter(chat_session_id=chat["id"]).count() == RACERS

        async def scenario():
            sockets = await open_sockets(MITRA_WS, mitra_clients)
            sockets += await open_sockets(CLIENT_WS, [customer_client])
            results = await off_loop(lambda: race([lambda c=c: c.post(_accept_url(chat["id"])) for c in mitra_clients]))
            events = await received_by_all(sockets)
            await close_sockets(sockets)
            return results, events

        # when
        responses, (*mitra_events, customer_events) = asyncio.run(scenario())

        # then: exactly one 200, every other answer is 409 request_unavailable
        assert not [r for r in responses if isinstance(r, BaseException)], responses
        statuses = [r.status_code for r in responses]
        assert statuses.count(200) == 1, (round_no, statuses)
        winner_index = statuses.index(200)
        losers = [r for i, r in enumerate(responses) if i != winner_index]
        assert {(r.status_code, r.json()["code"]) for r in losers} == {(409, "request_unavailable")}
        winner = mitras[winner_index]

        # then: one active session, the payment consumed once
        session = ChatSession.objects.get(id=chat["id"])
        assert (session.status, session.mitra_id) == ("active", winner.id)
        assert ChatSession.objects.filter(payment_session_id=chat["payment_session_id"]).count() == 1
        assert PaymentSession.objects.get(id=chat["payment_session_id"]).status == "consumed"
        assert PaymentEvent.objects.filter(payment_session_id=chat["payment_session_id"], to_status="consumed").count() == 1
        assert Transaction.objects.filter(payment_session_id=chat["payment_session_id"]).count() == 1

        # then: the winner's offer is accepted, all 19 others are closed, and each loser was told
        offers = dict(ChatRequestNotification.objects.filter(chat_session_id=chat["id"]).values_list("mitra_id", "status"))
        assert offers == {m.id: ("accepted" if m == winner else "closed") for m in mitras}
        closed = {"type": "chat_request_closed", "request_id": chat["id"], "reason": "accepted_elsewhere"}
        for index, events in enumerate(mitra_events):
            if index == winner_index:
                assert [e["type"] for e in events] == ["session_started"]
            else:
                assert events == [closed], (index, events)
        assert [e["type"] for e in customer_events] == ["pairing_matched"]
        assert customer_events[0]["chat_session"]["mitra"]["id"] == str(winner.id)


def test_one_mitra_with_capacity_one_accepting_four_requests_at_once_gets_exactly_one(
    make_customer, online_mitra, start_chat, api_client_for
):
    for round_no in range(ROUNDS):
        # given: a fresh mitra, the only one online below capacity 1, offered four chats
        mitra = online_mitra()
        mitra_client = api_client_for(mitra)
        chats = [start_chat(make_customer()) for _ in range(4)]
        for _, chat in chats:
            assert list(ChatRequestNotification.objects.filter(chat_session_id=chat["id"]).values_list("mitra_id", flat=True)) == [mitra.id]

        # when: the four accepts at once (the same mitra, four devices or a double-tapping app)
        responses = race([lambda chat=chat: mitra_client.post(_accept_url(chat["id"])) for _, chat in chats])

        # then
        assert not [r for r in responses if isinstance(r, BaseException)], responses
        statuses = [r.status_code for r in responses]
        assert statuses.count(200) == 1, (round_no, statuses)
        refusals = {r.json()["code"] for r in responses if r.status_code != 200}
        assert {r.status_code for r in responses if r.status_code != 200} == {409}
        assert refusals <= {"at_capacity", "request_unavailable"}, refusals
        assert ChatSession.objects.filter(mitra=mitra, status="active").count() == 1
        won = chats[statuses.index(200)][1]
        lost = [chat for _, chat in chats if chat["id"] != won["id"]]
        assert PaymentSession.objects.get(id=won["payment_session_id"]).status == "consumed"
        for chat in lost:
            assert ChatSession.objects.get(id=chat["id"]).status == "waiting"
            assert PaymentSession.objects.get(id=chat["payment_session_id"]).status == "confirmed"

        # the next round starts clean: the customers left waiting give up
        for client, chat in chats:
            if chat["id"] != won["id"]:
                assert client.post(f"/api/client/chat/{chat['id']}/cancel").status_code == 200
