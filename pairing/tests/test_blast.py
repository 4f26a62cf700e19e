"""POST /api/client/chat/start (SPEC §5.1): the blast to every available mitra, the
anonymity of what they receive, the refusals, and the immediate failure when
nobody is available."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from accounts.models import MitraStatus
from conftest import EMAIL, PHONE, customer_secrets
from failed_pairings.models import PairingFailure
from live_settings.selectors import config_get
from pairing import answers, attempts
from pairing.models import ChatRequestNotification, ChatSession
from pairing.tests.live import (
    CLIENT_WS,
    MITRA_WS,
    as_text,
    close_sockets,
    last_push_id,
    off_loop,
    open_socket,
    open_sockets,
    received_by_all,
)
from pairing.tests.state import pairing_state
from payments import services as payment_services
from payments.models import PaymentEvent, PaymentSession, TierKind
from realtime.models import PushOutbox

START = "/api/client/chat/start"
FAILED_TEXT = "Maaf, kami tidak bisa menemukan bestie untuk sesimu. Tim kami akan menghubungimu segera."
# --- who is offered ---------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_only_online_mitras_below_capacity_are_offered_by_row_websocket_and_push_and_none_sees_the_customer(
    make_customer, make_mitra, online_mitra, matched_session, confirmed_payment, api_client_for
):
    # given: a busy mitra (online, at capacity 1), an offline one, three free ones
    busy = online_mitra()
    matched_session(busy)
    free = [online_mitra(display_name=f"Bestie {i}") for i in range(3)]
    offline = make_mitra()
    customer = make_customer(call_name="Ayu", phone=PHONE, email=EMAIL)
    payment = confirmed_payment(customer, minutes=45)
    client = api_client_for(customer)
    mitra_clients = [api_client_for(m) for m in [*free, busy, offline]]
    last_push = last_push_id()

    async def scenario():
        sockets = await open_sockets(MITRA_WS, mitra_clients)
        response = await off_loop(
            lambda: client.post(START, {"payment_session_id": str(payment.id), "sensitive": True}, format="json")
        )
        events = await received_by_all(sockets)
        await close_sockets(sockets)
        return response, events

    # when
    response, events = asyncio.run(scenario())

    # then: the customer sees a waiting chat
    assert response.status_code == 201, response.json()
    body = response.json()
    session = ChatSession.objects.get(id=body["id"])
    assert body == {
        "id": str(session.id), "status": "waiting", "request_type": "general", "sensitive": True,
        "payment_session_id": str(payment.id), "mitra": None, "started_at": None, "ends_at": None,
        "closes_at": None, "ended_by": None, "created_at": body["created_at"], "blast_timeout_seconds": 60,
    }
    assert session.deadline_at - session.created_at == pytest.approx(timedelta(seconds=60), abs=timedelta(seconds=1))

    # then: exactly the three free mitras are offered
    offered = set(ChatRequestNotification.objects.filter(chat_session=session).values_list("mitra_id", "status"))
    assert offered == {(m.id, "offered") for m in free}

    # then: each free mitra gets exactly one chat_request with the API.md chat request fields
    expected_event = {
        "type": "chat_request", "request_id": str(session.id), "request_type": "general",
        "customer": {"call_name": "Ayu"}, "sensitive": True, "timeout_seconds": None,
        "expires_at": events[0][0]["expires_at"], "created_at": events[0][0]["created_at"],
    }
    assert events[:3] == [[expected_event]] * 3
    assert datetime.fromisoformat(expected_event["expires_at"]) == session.deadline_at
    assert datetime.fromisoformat(expected_event["created_at"]) == session.created_at
    assert events[3:] == [[], []]  # busy and offline: nothing

    # then: one push each for the free mitras, nothing for the others
    pushes = list(PushOutbox.objects.filter(id__gt=last_push).values("user_id", "title", "body", "data"))
    assert sorted(pushes, key=lambda p: str(p["user_id"])) == sorted(
        [
            {
                "user_id": m.id, "title": "Ada yang ingin curhat", "body": "Ayu sedang menunggu bestie.",
                "data": {"type": "chat_request", "request_id": str(session.id), "request_type": "general"},
            }
            for m in free
        ],
        key=lambda p: str(p["user_id"]),
    )

    # then: anonymity — nothing a mitra got (websocket, push, REST list) names the customer
    listed = [api_client_for(m).get("/api/mitra/chat-requests").json() for m in free]
    assert listed == [{"results": [{k: v for k, v in expected_event.items() if k != "type"}]}] * 3
    everything_mitras_got = as_text([events, [{k: p[k] for k in ("title", "body", "data")} for p in pushes], listed])
    for secret in customer_secrets(customer, payment.id, payment.id.hex):
        assert secret not in everything_mitras_got


@pytest.mark.parametrize("available", [1, 12])
@pytest.mark.django_db
def test_chat_start_costs_the_same_number_of_queries_for_1_or_12_available_mitras(
    available, make_customer, online_mitra, confirmed_payment, api_client_for,
    django_assert_num_queries, django_capture_on_commit_callbacks,
):
    # given
    mitras = [online_mitra() for _ in range(available)]
    customer = make_customer()
    payment = confirmed_payment(customer)
    client = api_client_for(customer)
    config_get("max_customers_per_mitra"), config_get("pairing_blast_timeout_seconds")  # warm, as in a server

    # when: the request and its after-commit work — 13 = user, savepoint, payment lock,
    # live-attempt check, insert, payment link, the customer's profile share-lock (blocks),
    # available mitras less the blocked, session re-read, bulk offers, release, response
    # re-read, bulk push rows
    with django_assert_num_queries(13):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(START, {"payment_session_id": str(payment.id), "sensitive": False}, format="json")

    # then
    assert response.status_code == 201
    assert ChatRequestNotification.objects.filter(chat_session_id=response.json()["id"]).count() == available
    assert PushOutbox.objects.filter(user__in=mitras, title="Ada yang ingin curhat").count() == available


# --- refusals ---------------------------------------------------------------------------
@pytest.fixture
def customer_with_an_active_session(make_customer, online_mitra, matched_session):
    customer = make_customer()
    session_id = matched_session(online_mitra(), customer=customer)
    return customer, ChatSession.objects.get(id=session_id)


def _payment_in_state(kind, customer, *, confirmed_payment, make_tier, session) -> PaymentSession:
    if kind == "pending":
        tier = make_tier()
        return payment_services.payment_session_create(customer=customer, tier_id=tier.id)
    if kind == "consumed":
        return session.payment_session
    if kind == "live_attempt":
        payment = confirmed_payment(customer)
        attempts.chat_start(customer=customer, payment_id=payment.id, sensitive=False)
        return payment
    if kind == "expired":  # past its window; the sweeper has not run yet
        payment = confirmed_payment(customer)
        PaymentSession.objects.filter(pk=payment.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        return payment
    if kind == "extension":
        tier = make_tier(kind=TierKind.EXTENSION, minutes=15, amount=25_000)
        payment = payment_services.payment_session_create(
            customer=customer, tier_id=tier.id, is_extension=True, chat_session_id=session.id
        )
        return payment_services.payment_session_confirm(customer=customer, payment_id=payment.id)
    raise AssertionError(kind)


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["pending", "consumed", "live_attempt", "expired", "extension"])
def test_start_on_an_unusable_payment_is_409_payment_not_usable_and_creates_nothing(
    kind, customer_with_an_active_session, online_mitra, confirmed_payment, make_tier, api_client_for
):
    # given: another mitra is online, so a blast would have somebody to reach
    customer, session = customer_with_an_active_session
    online_mitra()
    payment = _payment_in_state(kind, customer, confirmed_payment=confirmed_payment, make_tier=make_tier, session=session)
    before = pairing_state()

    # when
    response = api_client_for(customer).post(START, {"payment_session_id": str(payment.id), "sensitive": False}, format="json")

    # then
    assert response.status_code == 409
    assert response.json()["code"] == "payment_not_usable"
    assert pairing_state() == before


@pytest.mark.django_db
def test_start_on_another_customers_payment_is_404_and_creates_nothing(make_customer, online_mitra, confirmed_payment, api_client_for):
    # given
    online_mitra()
    payment = confirmed_payment(make_customer())
    intruder = api_client_for(make_customer())
    before = pairing_state()

    # when
    response = intruder.post(START, {"payment_session_id": str(payment.id), "sensitive": False}, format="json")

    # then
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert pairing_state() == before


@pytest.mark.django_db
def test_start_without_a_payment_id_is_400_and_creates_nothing(customer_client, online_mitra):
    online_mitra()
    before = pairing_state()

    response = customer_client.post(START, {"sensitive": False}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"
    assert pairing_state() == before


# --- nobody available ---------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_with_nobody_available_the_attempt_fails_at_once(make_customer, make_mitra, confirmed_payment, api_client_for):
    # given: the only mitra is offline
    mitra = make_mitra()
    customer = make_customer(call_name="Ayu")
    payment = confirmed_payment(customer, amount=90_000, minutes=60)
    client = api_client_for(customer)
    mitra_client = api_client_for(mitra)

    async def scenario():
        customer_socket = await open_socket(CLIENT_WS, client)
        mitra_socket = await open_socket(MITRA_WS, mitra_client)
        response = await off_loop(
            lambda: client.post(START, {"payment_session_id": str(payment.id), "sensitive": False}, format="json")
        )
        events = await received_by_all([customer_socket, mitra_socket])
        await close_sockets([customer_socket, mitra_socket])
        return response, events

    # when
    response, (customer_events, mitra_events) = asyncio.run(scenario())

    # then: 201, already unmatched
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["mitra"], body["payment_session_id"]) == ("unmatched", None, str(payment.id))
    session = ChatSession.objects.get(id=body["id"])
    assert (session.status, session.failure_cause, session.deadline_at) == ("unmatched", "no_mitra_available", None)
    payment.refresh_from_db()
    assert payment.status == "failed_pairing"
    assert list(PaymentEvent.objects.filter(payment_session=payment).values_list("from_status", "to_status", "reason").order_by("id"))[-1] == (
        "confirmed", "failed_pairing", "no_mitra_available"
    )
    failure = PairingFailure.objects.get()
    assert (failure.cause_tag, failure.amount, failure.payment_session_id, failure.customer_id, failure.chat_session_id, failure.targeted_mitra_id) == (
        "no_mitra_available", 90_000, payment.id, customer.id, session.id, None
    )
    assert ChatRequestNotification.objects.count() == 0

    # then: the customer is told by websocket and by push; the mitra hears nothing
    assert customer_events == [
        {"type": "pairing_failed", "chat_session_id": str(session.id), "cause": "no_mitra_available", "message": FAILED_TEXT}
    ]
    assert mitra_events == []
    assert list(PushOutbox.objects.values("user_id", "title", "body", "data")) == [
        {
            "user_id": customer.id, "title": "Sesi gagal", "body": FAILED_TEXT,
            "data": {"type": "pairing_failed", "chat_session_id": str(session.id), "cause": "no_mitra_available"},
        }
    ]


@pytest.mark.django_db
def test_an_offline_mitra_with_room_does_not_count_as_available(make_customer, make_mitra, online_mitra, start_chat, api_client_for):
    # given: one mitra went online then offline again
    mitra = online_mitra()
    answers.mitra_status_set(mitra=mitra, status=MitraStatus.OFFLINE)

    # when
    _, body = start_chat(make_customer())

    # then
    assert body["status"] == "unmatched"
    assert ChatRequestNotification.objects.count() == 0
