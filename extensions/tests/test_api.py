"""The extension endpoints as the apps call them: the picker, the extension payment
(charged only at approval), the request and every refusal (each leaving every row as
it was), the customer's read, and the mitra's answer."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from extensions.models import Extension, ExtensionAudit
from extensions.tests.state import (
    EXTENSION_AMOUNT,
    EXTENSION_MINUTES,
    PAYMENTS,
    approve_url,
    decline_url,
    extension_state,
    extensions_url,
)
from pairing.models import ChatSession
from pairing.representations import iso_datetime
from pairing.tests.live import CLIENT_WS, MITRA_WS, close_sockets, off_loop, open_sockets, received_by_all
from payments.models import PaymentSession, TierKind, Transaction

pytestmark = pytest.mark.django_db

TIERS = "/api/client/pricing-tiers"


def extension_body(extension_id) -> dict:
    """The extension object exactly as API.md's endpoints render it, from the row."""
    e = Extension.objects.get(id=extension_id)
    return {
        "id": str(e.id),
        "chat_session_id": str(e.chat_session_id),
        "payment_session_id": str(e.payment_session_id),
        "minutes": e.minutes,
        "status": e.status,
        "timeout_seconds": e.timeout_seconds,
        "default_action": e.default_action,
        "expires_at": iso_datetime(e.deadline_at),
        "resolved_at": iso_datetime(e.resolved_at),
    }


# --- the picker and the extension payment -------------------------------------------------
def test_the_extension_picker_lists_active_extension_tiers_only_and_never_a_free_trial(customer_client, make_tier):
    # given: session tiers, two active extension tiers and an inactive one
    make_tier(kind=TierKind.SESSION, minutes=30, amount=50_000, name="30 menit")
    make_tier(kind=TierKind.SESSION, minutes=60, amount=90_000, name="60 menit")
    fifteen = make_tier(kind=TierKind.EXTENSION, minutes=15, amount=25_000, name="15 menit")
    thirty = make_tier(kind=TierKind.EXTENSION, minutes=30, amount=45_000, name="30 menit")
    retired = make_tier(kind=TierKind.EXTENSION, minutes=45, amount=60_000, name="45 menit")
    retired.is_active = False
    retired.save()

    # when
    response = customer_client.get(TIERS, {"kind": "extension"})

    # then
    assert response.status_code == 200
    assert response.json() == {
        "tiers": [
            {"id": str(fifteen.id), "name": "15 menit", "amount": 25_000, "duration_minutes": 15},
            {"id": str(thirty.id), "name": "30 menit", "amount": 45_000, "duration_minutes": 30},
        ]
    }
    assert "free_trial" in customer_client.get(TIERS, {"kind": "session"}).json()  # the session picker still has it


def test_an_extension_payment_is_created_pending_and_confirmed_without_a_charge(live_session, extension_tier):
    live = live_session()
    client = live.customer_client
    charges_before = Transaction.objects.count()

    # when: the customer picks the extension tier
    response = client.post(
        PAYMENTS, {"tier_id": str(extension_tier.id), "is_extension": True, "chat_session_id": live.id}, format="json"
    )

    # then: a pending extension payment of this session
    assert response.status_code == 201, response.json()
    body = response.json()
    payment = PaymentSession.objects.get(id=body["id"])
    assert body == {
        "id": str(payment.id), "status": "pending", "amount": EXTENSION_AMOUNT, "duration_minutes": EXTENSION_MINUTES,
        "is_free_trial": False, "is_extension": True, "targeted_mitra_id": None, "chat_session_id": live.id,
        "expires_at": iso_datetime(payment.expires_at), "created_at": iso_datetime(payment.created_at),
        "provider": "instant", "snap_token": None, "redirect_url": None,
    }

    # when: it is paid
    response = client.post(f"{PAYMENTS}/{payment.id}/confirm")

    # then: confirmed, and nothing charged yet (extensions are charged at approval)
    assert response.status_code == 200
    assert response.json() == {**body, "status": "confirmed"}
    assert PaymentSession.objects.get(id=payment.id).status == "confirmed"
    assert Transaction.objects.filter(payment_session_id=payment.id).count() == 0
    assert Transaction.objects.count() == charges_before


@pytest.mark.parametrize("flag", ["free_trial", "is_free_trial"])
def test_an_extension_paid_with_the_free_trial_is_refused_400(live_session, extension_tier, flag):
    live = live_session()
    before = extension_state()

    response = live.customer_client.post(
        PAYMENTS,
        {"tier_id": str(extension_tier.id), "is_extension": True, "chat_session_id": live.id, flag: True},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "free_trial_not_allowed"
    assert extension_state() == before


def test_an_extension_free_trial_without_a_tier_is_refused_400_too(live_session):
    live = live_session()
    before = extension_state()

    response = live.customer_client.post(
        PAYMENTS, {"is_extension": True, "chat_session_id": live.id, "free_trial": True}, format="json"
    )

    assert (response.status_code, response.json()["code"]) == (400, "free_trial_not_allowed")
    assert extension_state() == before


# --- the request ------------------------------------------------------------------------------
def test_requesting_an_extension_on_a_confirmed_extension_payment_creates_it_pending(live_session, extension_payment, settings_now):
    settings_now(extension_timeout_seconds=25, extension_default_action_on_timeout="auto_reject")
    live = live_session()
    payment = extension_payment(live.customer_client, live.id)
    ends_at = live.session.ends_at

    response = live.customer_client.post(extensions_url(live.id), {"payment_session_id": payment["id"]}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    extension = Extension.objects.get(id=body["id"])
    assert body == extension_body(extension.id)
    assert {k: body[k] for k in ("chat_session_id", "payment_session_id", "minutes", "status", "timeout_seconds", "default_action", "resolved_at")} == {
        "chat_session_id": live.id, "payment_session_id": payment["id"], "minutes": EXTENSION_MINUTES,
        "status": "pending", "timeout_seconds": 25, "default_action": "auto_reject", "resolved_at": None,
    }
    assert 24 <= (extension.deadline_at - extension.created_at).total_seconds() <= 26
    # nothing is decided, moved or charged yet
    assert live.session.ends_at == ends_at
    assert PaymentSession.objects.get(id=payment["id"]).status == "confirmed"
    assert Transaction.objects.filter(payment_session_id=payment["id"]).count() == 0
    assert ExtensionAudit.objects.count() == 0


def test_the_customer_reads_their_own_extension_and_not_anyone_elses(live_session, request_extension, make_customer, api_client_for):
    live = live_session()
    extension = request_extension(live)
    stranger = api_client_for(make_customer())

    mine = live.customer_client.get(f"/api/client/extensions/{extension['id']}")
    theirs = stranger.get(f"/api/client/extensions/{extension['id']}")
    unknown = live.customer_client.get(f"/api/client/extensions/{uuid.uuid4()}")

    assert mine.status_code == 200 and mine.json() == extension
    assert (theirs.status_code, theirs.json()["code"]) == (404, "not_found")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")


def _refused(client, chat_session_id, payment_id, *, status: int, code: str) -> None:
    before = extension_state()
    response = client.post(extensions_url(chat_session_id), {"payment_session_id": str(payment_id)}, format="json")
    assert (response.status_code, response.json()["code"]) == (status, code), response.json()
    assert extension_state() == before


def test_an_extension_of_a_session_still_waiting_for_a_mitra_is_refused_409(
    live_session, start_chat, extension_payment, online_mitra
):
    # given: the customer's active session (with a confirmed extension payment) and a second chat still waiting
    live = live_session()
    payment = extension_payment(live.customer_client, live.id)
    online_mitra()  # offered the second chat, never answers
    _, waiting = start_chat(live.customer)
    assert waiting["status"] == "waiting"

    _refused(live.customer_client, waiting["id"], payment["id"], status=409, code="session_not_active")
    assert PaymentSession.objects.get(id=payment["id"]).status == "confirmed"


def test_an_extension_asked_after_ends_at_but_before_the_timer_ran_is_refused_409(live_session, extension_payment):
    # given: the session's time is up; its end timer has not run yet
    live = live_session()
    payment = extension_payment(live.customer_client, live.id)
    ChatSession.objects.filter(id=live.id).update(ends_at=timezone.now() - timedelta(seconds=1))

    _refused(live.customer_client, live.id, payment["id"], status=409, code="session_not_active")
    assert Transaction.objects.filter(payment_session_id=payment["id"]).count() == 0

def test_an_extension_of_a_completed_session_is_refused_409_and_its_payment_stays_uncharged(live_session, extension_payment):
    # given: the extension was paid, then the customer ended the session
    live = live_session()
    payment = extension_payment(live.customer_client, live.id)
    assert live.customer_client.post(f"/api/client/chat/{live.id}/end").status_code == 200
    assert live.session.status == "completed"

    _refused(live.customer_client, live.id, payment["id"], status=409, code="session_not_active")
    assert PaymentSession.objects.get(id=payment["id"]).status == "confirmed"
    assert Transaction.objects.filter(payment_session_id=payment["id"]).count() == 0


def test_an_extension_payment_cannot_be_made_for_a_session_that_is_not_active(live_session, extension_tier):
    live = live_session()
    assert live.customer_client.post(f"/api/client/chat/{live.id}/end").status_code == 200
    before = extension_state()

    response = live.customer_client.post(
        PAYMENTS, {"tier_id": str(extension_tier.id), "is_extension": True, "chat_session_id": live.id}, format="json"
    )

    assert (response.status_code, response.json()["code"]) == (409, "session_not_active")
    assert extension_state() == before


def test_an_extension_of_another_customers_session_is_not_found(live_session, extension_payment):
    mine, theirs = live_session(), live_session()
    payment = extension_payment(mine.customer_client, mine.id)

    _refused(mine.customer_client, theirs.id, payment["id"], status=404, code="not_found")


def test_a_second_extension_while_one_is_pending_is_refused_409(live_session, request_extension, extension_payment):
    live = live_session()
    first = request_extension(live)
    second_payment = extension_payment(live.customer_client, live.id)

    _refused(live.customer_client, live.id, second_payment["id"], status=409, code="extension_pending")
    assert Extension.objects.get(id=first["id"]).status == "pending"
    assert PaymentSession.objects.get(id=second_payment["id"]).status == "confirmed"


def test_an_extension_on_a_payment_not_yet_confirmed_is_refused_409(live_session, extension_payment):
    live = live_session()
    pending = extension_payment(live.customer_client, live.id, confirm=False)

    _refused(live.customer_client, live.id, pending["id"], status=409, code="payment_not_usable")
    assert PaymentSession.objects.get(id=pending["id"]).status == "pending"


def test_an_extension_on_a_session_payment_is_refused_409(live_session, confirmed_payment):
    live = live_session()
    session_payment = confirmed_payment(live.customer)  # a confirmed (charged) session payment, unused

    _refused(live.customer_client, live.id, session_payment.id, status=409, code="payment_not_usable")
    assert PaymentSession.objects.get(id=session_payment.id).status == "confirmed"


def test_an_extension_on_the_extension_payment_of_another_session_is_refused_409(live_session, extension_payment):
    # given: one customer with two active sessions (two mitras), paying for the first one's extension
    first = live_session()
    second = live_session(customer=first.customer)
    payment = extension_payment(first.customer_client, first.id)

    _refused(first.customer_client, second.id, payment["id"], status=409, code="payment_not_usable")
    assert PaymentSession.objects.get(id=payment["id"]).status == "confirmed"


def test_an_extension_on_an_already_used_extension_payment_is_refused_409(live_session, request_extension):
    live = live_session()
    extension = request_extension(live)
    assert live.mitra_client.post(decline_url(extension["id"])).status_code == 200
    assert PaymentSession.objects.get(id=extension["payment_session_id"]).status == "released"

    _refused(live.customer_client, live.id, extension["payment_session_id"], status=409, code="payment_not_usable")


def test_an_extension_on_another_customers_payment_is_not_found(live_session, extension_payment):
    mine, theirs = live_session(), live_session()
    their_payment = extension_payment(theirs.customer_client, theirs.id)

    _refused(mine.customer_client, mine.id, their_payment["id"], status=404, code="not_found")


def test_only_customers_request_extensions(live_session, extension_payment):
    live = live_session()
    payment = extension_payment(live.customer_client, live.id)

    _refused(live.mitra_client, live.id, payment["id"], status=403, code="permission_denied")


# --- the mitra's answer ---------------------------------------------------------------------
def test_an_extension_of_another_mitras_session_is_not_found_to_approve_or_decline(live_session, request_extension):
    live, other = live_session(), live_session()
    extension = request_extension(live)
    before = extension_state()

    approve = other.mitra_client.post(approve_url(extension["id"]))
    decline = other.mitra_client.post(decline_url(extension["id"]))

    assert (approve.status_code, approve.json()["code"]) == (404, "not_found")
    assert (decline.status_code, decline.json()["code"]) == (404, "not_found")
    assert extension_state() == before


def test_customers_cannot_answer_extensions(live_session, request_extension):
    live = live_session()
    extension = request_extension(live)
    before = extension_state()

    response = live.customer_client.post(approve_url(extension["id"]))

    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert extension_state() == before


@pytest.mark.parametrize("first", ["approve", "decline", "timeout"])
@pytest.mark.parametrize("then", ["approve", "decline"])
def test_answering_a_resolved_extension_is_refused_409_extension_resolved(live_session, request_extension, first, then):
    from extensions.services import extension_deadline_fire
    from extensions.tests.state import deadline_passed

    live = live_session()
    extension = request_extension(live)
    if first == "timeout":
        deadline_passed(extension["id"])
        assert extension_deadline_fire(extension_id=extension["id"]) is True
    else:
        assert live.mitra_client.post((approve_url if first == "approve" else decline_url)(extension["id"])).status_code == 200
    before = extension_state()

    response = live.mitra_client.post((approve_url if then == "approve" else decline_url)(extension["id"]))

    assert (response.status_code, response.json()["code"]) == (409, "extension_resolved")
    assert extension_state() == before


def test_approving_returns_the_approved_extension(live_session, request_extension):
    live = live_session()
    extension = request_extension(live)

    response = live.mitra_client.post(approve_url(extension["id"]))

    assert response.status_code == 200
    assert response.json() == extension_body(extension["id"])
    assert response.json()["status"] == "approved" and response.json()["resolved_at"] is not None


def test_an_approval_replayed_with_its_idempotency_key_answers_the_same_and_charges_once(live_session, request_extension):
    live = live_session()
    extension = request_extension(live)
    headers = {"HTTP_IDEMPOTENCY_KEY": "approve-1"}

    first = live.mitra_client.post(approve_url(extension["id"]), **headers)
    after_first = extension_state()
    replay = live.mitra_client.post(approve_url(extension["id"]), **headers)

    assert first.status_code == replay.status_code == 200
    assert replay.json() == first.json()
    assert extension_state() == after_first
    assert Transaction.objects.filter(payment_session_id=extension["payment_session_id"]).count() == 1


# --- the push to the mitra ------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_the_mitra_gets_extension_request_with_the_configured_timeout_and_default_action(
    live_session, extension_payment, settings_now
):
    settings_now(extension_timeout_seconds=42, extension_default_action_on_timeout="auto_reject")
    live = live_session()
    payment = extension_payment(live.customer_client, live.id)

    async def scenario():
        mitra_socket, customer_socket = await open_sockets(MITRA_WS, [live.mitra_client]) + await open_sockets(
            CLIENT_WS, [live.customer_client]
        )
        response = await off_loop(
            lambda: live.customer_client.post(extensions_url(live.id), {"payment_session_id": payment["id"]}, format="json")
        )
        events = await received_by_all([mitra_socket, customer_socket])
        await close_sockets([mitra_socket, customer_socket])
        return response, events

    response, (mitra_events, customer_events) = asyncio.run(scenario())

    assert response.status_code == 201, response.json()
    extension = Extension.objects.get(id=response.json()["id"])
    assert mitra_events == [
        {
            "type": "extension_request", "extension_id": str(extension.id), "chat_session_id": live.id,
            "minutes": EXTENSION_MINUTES, "timeout_seconds": 42, "default_action": "auto_reject",
            "expires_at": iso_datetime(extension.deadline_at),
        }
    ]
    assert customer_events == []
    assert ChatSession.objects.get(id=live.id).status == "active"
