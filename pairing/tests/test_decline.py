"""POST /api/mitra/chat-requests/{id}/decline (SPEC §5.1.6): a decline leaves the
request open for the others; when every offered mitra declined it fails at once."""

from __future__ import annotations

import asyncio

import pytest

from failed_pairings.models import PairingFailure
from pairing.models import ChatRequestNotification, ChatSession
from pairing.tests.live import CLIENT_WS, MITRA_WS, close_sockets, last_push_id, off_loop, open_sockets, received_by_all
from pairing.tests.state import pairing_state
from payments.models import PaymentSession
from realtime.models import PushOutbox

FAILED_TEXT = "Maaf, kami tidak bisa menemukan bestie untuk sesimu. Tim kami akan menghubungimu segera."


def _decline_url(session_id) -> str:
    return f"/api/mitra/chat-requests/{session_id}/decline"


def _request_ids(client) -> list[str]:
    return [r["request_id"] for r in client.get("/api/mitra/chat-requests").json()["results"]]


@pytest.mark.django_db
def test_a_decline_leaves_the_request_open_for_the_others(make_customer, online_mitra, start_chat, api_client_for):
    # given
    first, second = api_client_for(online_mitra()), api_client_for(online_mitra())
    _, chat = start_chat(make_customer())

    # when
    response = first.post(_decline_url(chat["id"]))

    # then
    assert (response.status_code, response.json()) == (200, {"request_id": chat["id"], "declined": True})
    assert ChatSession.objects.get(id=chat["id"]).status == "waiting"
    assert PaymentSession.objects.get(id=chat["payment_session_id"]).status == "confirmed"
    assert dict(ChatRequestNotification.objects.filter(chat_session_id=chat["id"]).values_list("mitra_id", "status")) == {
        first.user.id: "declined", second.user.id: "offered",
    }
    assert _request_ids(first) == []
    assert _request_ids(second) == [chat["id"]]
    assert PairingFailure.objects.count() == 0

    # and the other mitra can still take it
    assert second.post(f"/api/mitra/chat-requests/{chat['id']}/accept").status_code == 200


@pytest.mark.django_db
def test_declining_twice_is_200_and_changes_nothing(make_customer, online_mitra, start_chat, api_client_for):
    # given
    first = api_client_for(online_mitra())
    online_mitra()
    _, chat = start_chat(make_customer())
    assert first.post(_decline_url(chat["id"])).status_code == 200
    before = pairing_state()

    # when
    response = first.post(_decline_url(chat["id"]))

    # then
    assert (response.status_code, response.json()) == (200, {"request_id": chat["id"], "declined": True})
    assert pairing_state() == before


@pytest.mark.django_db
def test_declining_again_after_everyone_declined_is_200_and_changes_nothing(make_customer, online_mitra, start_chat, api_client_for):
    only = api_client_for(online_mitra())
    _, chat = start_chat(make_customer())
    assert only.post(_decline_url(chat["id"])).status_code == 200
    assert ChatSession.objects.get(id=chat["id"]).status == "unmatched"
    before = pairing_state()

    response = only.post(_decline_url(chat["id"]))

    assert response.status_code == 200
    assert pairing_state() == before


@pytest.mark.django_db
def test_decline_by_a_mitra_never_offered_is_404_and_changes_nothing(make_customer, online_mitra, make_mitra, start_chat, api_client_for):
    online_mitra()
    stranger = api_client_for(make_mitra())
    _, chat = start_chat(make_customer())
    before = pairing_state()

    response = stranger.post(_decline_url(chat["id"]))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert pairing_state() == before


@pytest.mark.django_db
def test_decline_after_another_mitra_accepted_is_409_and_changes_nothing(make_customer, online_mitra, start_chat, api_client_for):
    winner, late = api_client_for(online_mitra()), api_client_for(online_mitra())
    _, chat = start_chat(make_customer())
    assert winner.post(f"/api/mitra/chat-requests/{chat['id']}/accept").status_code == 200
    before = pairing_state()

    response = late.post(_decline_url(chat["id"]))

    assert response.status_code == 409
    assert response.json()["code"] == "request_unavailable"
    assert pairing_state() == before


@pytest.mark.django_db(transaction=True)
def test_when_every_offered_mitra_declined_the_attempt_fails_at_once_as_all_mitras_rejected(
    make_customer, online_mitra, start_chat, api_client_for
):
    # given: two offered mitras; one already declined
    first, second = [api_client_for(m) for m in (online_mitra(), online_mitra())]
    customer = make_customer()
    customer_client, chat = start_chat(customer, amount=90_000, minutes=60)
    assert ChatRequestNotification.objects.filter(chat_session_id=chat["id"]).count() == 2
    assert first.post(_decline_url(chat["id"])).status_code == 200
    last_push = last_push_id()

    async def scenario():
        sockets = await open_sockets(CLIENT_WS, [customer_client])
        sockets += await open_sockets(MITRA_WS, [first, second])
        response = await off_loop(lambda: second.post(_decline_url(chat["id"])))
        events = await received_by_all(sockets)
        await close_sockets(sockets)
        return response, events

    # when: the last one declines
    response, (customer_events, *mitra_events) = asyncio.run(scenario())

    # then
    assert response.status_code == 200
    session = ChatSession.objects.get(id=chat["id"])
    assert (session.status, session.failure_cause) == ("unmatched", "all_mitras_rejected")
    assert PaymentSession.objects.get(id=chat["payment_session_id"]).status == "failed_pairing"
    assert list(PairingFailure.objects.values_list("cause_tag", "amount", "payment_session_id", "customer_id", "chat_session_id")) == [
        ("all_mitras_rejected", 90_000, session.payment_session_id, customer.id, session.id)
    ]
    assert customer_events == [
        {"type": "pairing_failed", "chat_session_id": chat["id"], "cause": "all_mitras_rejected", "message": FAILED_TEXT}
    ]
    assert mitra_events == [[], []]  # both said no themselves: nothing to close
    assert list(PushOutbox.objects.filter(id__gt=last_push).values_list("user_id", "title", "body")) == [
        (customer.id, "Sesi gagal", FAILED_TEXT)
    ]
