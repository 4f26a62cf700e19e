"""POST /api/client/chat/{id}/cancel (SPEC §5.2): the customer gives up mid-search.
It is their own action: no pairing_failed and no "Sesi gagal" push for them."""

from __future__ import annotations

import asyncio

import pytest

from failed_pairings.models import PairingFailure
from pairing.models import ChatRequestNotification, ChatSession
from pairing.tests.live import CLIENT_WS, MITRA_WS, close_sockets, last_push_id, off_loop, open_sockets, received_by_all
from pairing.tests.state import pairing_state
from payments.models import PaymentEvent, PaymentSession
from realtime.models import PushOutbox


def _cancel_url(session_id) -> str:
    return f"/api/client/chat/{session_id}/cancel"


@pytest.mark.django_db(transaction=True)
def test_cancel_while_waiting_ends_the_attempt_and_tells_only_the_offered_mitras(
    make_customer, online_mitra, make_mitra, start_chat, api_client_for
):
    # given: two offered mitras, one offline bystander
    offered = [online_mitra(), online_mitra()]
    bystander = make_mitra()
    customer = make_customer()
    customer_client, chat = start_chat(customer, amount=90_000, minutes=60)
    mitra_clients = [api_client_for(m) for m in [*offered, bystander]]
    last_push = last_push_id()

    async def scenario():
        sockets = await open_sockets(CLIENT_WS, [customer_client])
        sockets += await open_sockets(MITRA_WS, mitra_clients)
        response = await off_loop(lambda: customer_client.post(_cancel_url(chat["id"])))
        events = await received_by_all(sockets)
        await close_sockets(sockets)
        return response, events

    # when
    response, (customer_events, *mitra_events) = asyncio.run(scenario())

    # then: 200 with the cancelled chat
    assert response.status_code == 200, response.json()
    assert response.json() == {**{k: v for k, v in chat.items() if k != "blast_timeout_seconds"}, "status": "cancelled"}
    session = ChatSession.objects.get(id=chat["id"])
    assert (session.status, session.failure_cause, session.deadline_at, session.mitra_id) == ("cancelled", "customer_cancelled", None, None)
    assert PaymentSession.objects.get(id=chat["payment_session_id"]).status == "failed_pairing"
    assert PaymentEvent.objects.filter(payment_session_id=chat["payment_session_id"]).order_by("-id").values_list(
        "from_status", "to_status", "reason"
    ).first() == ("confirmed", "failed_pairing", "customer_cancelled")
    assert list(PairingFailure.objects.values_list("cause_tag", "amount", "payment_session_id", "customer_id", "chat_session_id")) == [
        ("customer_cancelled", 90_000, session.payment_session_id, customer.id, session.id)
    ]
    assert set(ChatRequestNotification.objects.filter(chat_session=session).values_list("mitra_id", "status")) == {
        (m.id, "closed") for m in offered
    }

    # then: the offered mitras are told; the customer and the bystander get nothing, no push at all
    closed = {"type": "chat_request_closed", "request_id": chat["id"], "reason": "cancelled"}
    assert mitra_events == [[closed], [closed], []]
    assert customer_events == []
    assert not PushOutbox.objects.filter(id__gt=last_push).exists()
    assert [api_client_for(m).get("/api/mitra/chat-requests").json() for m in offered] == [{"results": []}] * 2


@pytest.mark.django_db
def test_cancelling_again_is_200_with_the_same_body_and_changes_nothing(make_customer, online_mitra, start_chat):
    # given
    online_mitra()
    client, chat = start_chat(make_customer())
    first = client.post(_cancel_url(chat["id"]))
    assert first.status_code == 200
    before = pairing_state()

    # when
    again = client.post(_cancel_url(chat["id"]))

    # then
    assert (again.status_code, again.json()) == (200, first.json())
    assert pairing_state() == before
    assert PairingFailure.objects.filter(chat_session_id=chat["id"]).count() == 1


@pytest.mark.django_db
def test_cancel_after_a_mitra_accepted_is_409_already_matched_and_changes_nothing(make_customer, online_mitra, start_chat, api_client_for):
    # given
    mitra = online_mitra()
    client, chat = start_chat(make_customer())
    assert api_client_for(mitra).post(f"/api/mitra/chat-requests/{chat['id']}/accept").status_code == 200
    before = pairing_state()

    # when
    response = client.post(_cancel_url(chat["id"]))

    # then
    assert response.status_code == 409
    assert response.json()["code"] == "already_matched"
    assert pairing_state() == before
    assert (ChatSession.objects.get(id=chat["id"]).status, PaymentSession.objects.get(id=chat["payment_session_id"]).status) == (
        "active", "consumed"
    )


@pytest.mark.django_db
def test_cancel_of_an_attempt_that_already_failed_is_409_and_changes_nothing(make_customer, start_chat):
    # given: nobody was available, so it is already unmatched
    client, chat = start_chat(make_customer())
    assert chat["status"] == "unmatched"
    before = pairing_state()

    # when
    response = client.post(_cancel_url(chat["id"]))

    # then
    assert response.status_code == 409
    assert response.json()["code"] == "attempt_ended"
    assert pairing_state() == before


@pytest.mark.django_db
def test_cancel_of_another_customers_chat_is_404_and_changes_nothing(make_customer, online_mitra, start_chat, api_client_for):
    online_mitra()
    _, chat = start_chat(make_customer())
    intruder = api_client_for(make_customer())
    before = pairing_state()

    response = intruder.post(_cancel_url(chat["id"]))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert pairing_state() == before
    assert ChatSession.objects.get(id=chat["id"]).status == "waiting"
