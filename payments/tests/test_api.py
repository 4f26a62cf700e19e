"""Customer payment endpoints (API.md "Customer", SPEC §4), driven as the client app does.

Every refusal also checks that nothing changed: the payment rows and their statuses,
the charges, the payment event log and the failure rows are compared before and after.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from uuid import uuid4

import pytest
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from config.errors import ErrorCode
from failed_pairings.models import PairingFailure
from payments import services as payment_services
from payments.models import PaymentEvent, PaymentSession, PaymentStatus, TierKind, Transaction, TransactionKind

pytestmark = pytest.mark.django_db

TIERS = "/api/client/pricing-tiers"
CREATE = "/api/client/payment-sessions"
PAYMENT_FIELDS = {
    "id", "status", "amount", "duration_minutes", "is_free_trial", "is_extension",
    "targeted_mitra_id", "chat_session_id", "expires_at", "created_at",
    "provider", "snap_token", "redirect_url",  # SPEC §11
}


def detail_url(payment_id) -> str:
    return f"/api/client/payment-sessions/{payment_id}"


def confirm_url(payment_id) -> str:
    return f"{detail_url(payment_id)}/confirm"


def cancel_url(payment_id) -> str:
    return f"{detail_url(payment_id)}/cancel"


def money_state() -> dict:
    """Everything a payment request could change, for "nothing changed" assertions."""
    return {
        "payments": sorted((str(p), s) for p, s in PaymentSession.objects.values_list("id", "status")),
        "transactions": sorted((str(p), k, a) for p, k, a in Transaction.objects.values_list("payment_session_id", "kind", "amount")),
        "events": list(PaymentEvent.objects.order_by("id").values_list("id", "payment_session_id", "from_status", "to_status", "reason")),
        "failures": PairingFailure.objects.count(),
    }


def assert_error(response, status: int, code: str) -> dict:
    body = response.json()
    assert response.status_code == status, body
    assert body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    return body


# ``settings_now`` and ``active_chat`` (an accepted chat session of a customer): the root conftest


def create_payment(client, body: dict):
    return client.post(CREATE, body, format="json")


# --- GET /api/client/pricing-tiers ----------------------------------------------------
def test_session_tiers_are_active_ones_in_picker_order_with_the_free_trial(customer_client, make_tier):
    # given session tiers created out of order, an inactive one and an extension tier
    t60 = make_tier(amount=90_000, minutes=60, name="60 menit")
    t30 = make_tier(amount=50_000, minutes=30, name="30 menit")
    t45 = make_tier(amount=70_000, minutes=45, name="45 menit")
    t60.order, t30.order, t45.order = 3, 1, 2
    for tier in (t60, t30, t45):
        tier.save(update_fields=["order"])
    retired = make_tier(amount=10_000, minutes=10, name="10 menit")
    retired.is_active = False
    retired.save(update_fields=["is_active"])
    make_tier(amount=25_000, minutes=15, kind=TierKind.EXTENSION, name="15 menit")

    # when
    response = customer_client.get(TIERS, {"kind": "session"})

    # then
    assert response.status_code == 200
    assert response.json() == {
        "tiers": [
            {"id": str(t30.id), "name": "30 menit", "amount": 50_000, "duration_minutes": 30},
            {"id": str(t45.id), "name": "45 menit", "amount": 70_000, "duration_minutes": 45},
            {"id": str(t60.id), "name": "60 menit", "amount": 90_000, "duration_minutes": 60},
        ],
        "free_trial": {"eligible": True, "duration_minutes": 15},
    }


def test_same_order_tiers_are_sorted_by_amount(customer_client, make_tier):
    cheap = make_tier(amount=40_000, minutes=20, name="B")
    dear = make_tier(amount=80_000, minutes=40, name="A")
    dear_id, cheap_id = str(dear.id), str(cheap.id)

    tiers = customer_client.get(TIERS, {"kind": "session"}).json()["tiers"]

    assert [t["id"] for t in tiers] == [cheap_id, dear_id]


def test_extension_tiers_never_offer_a_free_trial(customer_client, make_tier):
    make_tier(amount=50_000, minutes=30)
    ext15 = make_tier(amount=25_000, minutes=15, kind=TierKind.EXTENSION, name="15 menit")
    ext30 = make_tier(amount=45_000, minutes=30, kind=TierKind.EXTENSION, name="30 menit")

    response = customer_client.get(TIERS, {"kind": "extension"})

    assert response.status_code == 200
    assert response.json() == {
        "tiers": [
            {"id": str(ext15.id), "name": "15 menit", "amount": 25_000, "duration_minutes": 15},
            {"id": str(ext30.id), "name": "30 menit", "amount": 45_000, "duration_minutes": 30},
        ]
    }


@pytest.mark.parametrize("kind", ["sessions", "SESSION", "free_trial", "extension,session"])
def test_an_unknown_kind_is_400_invalid_input(customer_client, make_tier, kind):
    make_tier()

    response = customer_client.get(TIERS, {"kind": kind})

    body = assert_error(response, 400, ErrorCode.INVALID_INPUT)
    assert set(body["errors"]) == {"kind"}


def test_free_trial_is_not_offered_after_a_consumed_session(make_customer, api_client_for, active_chat):
    # given a customer whose paid session was consumed by an accepted chat
    customer = make_customer()
    session = active_chat(customer).session
    assert PaymentSession.objects.get(id=session.payment_session_id).status == PaymentStatus.CONSUMED

    # when / then
    body = api_client_for(customer).get(TIERS, {"kind": "session"}).json()
    assert body["free_trial"] == {"eligible": False, "duration_minutes": 15}


def test_a_confirmed_but_unused_paid_payment_keeps_the_free_trial_offered(make_customer, api_client_for, confirmed_payment):
    customer = make_customer()
    confirmed_payment(customer)

    body = api_client_for(customer).get(TIERS, {"kind": "session"}).json()

    assert body["free_trial"] == {"eligible": True, "duration_minutes": 15}


def test_free_trial_is_not_offered_while_the_customer_holds_one(customer_client):
    created = create_payment(customer_client, {"free_trial": True})
    assert created.status_code == 201, created.json()

    body = customer_client.get(TIERS, {"kind": "session"}).json()

    assert body["free_trial"] == {"eligible": False, "duration_minutes": 15}


def test_free_trial_is_not_offered_when_the_operator_turned_it_off(customer_client, settings_now):
    settings_now(free_trial_enabled=False)

    body = customer_client.get(TIERS, {"kind": "session"}).json()

    assert body["free_trial"] == {"eligible": False, "duration_minutes": 15}


def test_free_trial_duration_follows_the_runtime_setting(customer_client, settings_now):
    assert customer_client.get(TIERS, {"kind": "session"}).json()["free_trial"]["duration_minutes"] == 15

    settings_now(free_trial_duration_minutes=25)

    assert customer_client.get(TIERS, {"kind": "session"}).json()["free_trial"] == {"eligible": True, "duration_minutes": 25}


def test_pricing_tiers_need_a_customer_token(anon_client, mitra_client, operator_client):
    assert_error(anon_client.get(TIERS, {"kind": "session"}), 401, ErrorCode.NOT_AUTHENTICATED)
    assert_error(mitra_client.get(TIERS, {"kind": "session"}), 403, ErrorCode.PERMISSION_DENIED)
    assert_error(operator_client.get(TIERS, {"kind": "session"}), 403, ErrorCode.PERMISSION_DENIED)


# --- POST /api/client/payment-sessions ---------------------------------------------------
def test_creating_a_tier_payment_returns_a_pending_payment_with_exactly_the_documented_fields(customer_client, make_tier):
    tier = make_tier(amount=50_000, minutes=30)

    response = create_payment(customer_client, {"tier_id": str(tier.id)})

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == PAYMENT_FIELDS
    payment = PaymentSession.objects.get()
    assert body == {
        "id": str(payment.id),
        "status": "pending",
        "amount": 50_000,
        "duration_minutes": 30,
        "is_free_trial": False,
        "is_extension": False,
        "targeted_mitra_id": None,
        "chat_session_id": None,
        "expires_at": body["expires_at"],
        "created_at": body["created_at"],
        "provider": "instant", "snap_token": None, "redirect_url": None,
    }
    assert parse_datetime(body["expires_at"]) == payment.expires_at
    assert parse_datetime(body["created_at"]) == payment.created_at
    assert abs(payment.expires_at - payment.created_at - timedelta(minutes=20)) < timedelta(seconds=1)
    assert payment.customer_id == customer_client.user.id and payment.tier_id == tier.id
    assert Transaction.objects.count() == 0  # charged at confirm, not at create
    assert list(PaymentEvent.objects.values_list("payment_session_id", "from_status", "to_status", "reason", "actor_id")) == [
        (payment.id, "", "pending", "created", customer_client.user.id)
    ]


def test_expires_at_follows_payment_session_timeout_minutes(customer_client, make_tier, settings_now):
    tier = make_tier()
    settings_now(payment_session_timeout_minutes=7)

    body = create_payment(customer_client, {"tier_id": str(tier.id)}).json()

    lifetime = parse_datetime(body["expires_at"]) - parse_datetime(body["created_at"])
    assert abs(lifetime - timedelta(minutes=7)) < timedelta(seconds=1)
    assert parse_datetime(body["expires_at"]) > timezone.now() + timedelta(minutes=6)


def test_a_targeted_payment_carries_the_mitra(customer_client, make_tier, make_mitra):
    tier, mitra = make_tier(), make_mitra()

    response = create_payment(customer_client, {"tier_id": str(tier.id), "targeted_mitra_id": str(mitra.id)})

    assert response.status_code == 201, response.json()
    assert response.json()["targeted_mitra_id"] == str(mitra.id)
    assert PaymentSession.objects.get().targeted_mitra_id == mitra.id


@pytest.mark.parametrize("spelling", ["free_trial", "is_free_trial"])
def test_free_trial_payment_is_free_and_lasts_the_configured_minutes(customer_client, settings_now, spelling):
    settings_now(free_trial_duration_minutes=12)

    response = create_payment(customer_client, {spelling: True})

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == PAYMENT_FIELDS
    assert (body["status"], body["amount"], body["duration_minutes"], body["is_free_trial"], body["is_extension"]) == (
        "pending", 0, 12, True, False
    )
    payment = PaymentSession.objects.get()
    assert (payment.amount, payment.is_free_trial, payment.tier_id) == (0, True, None)


def test_a_second_free_trial_is_400_free_trial_not_eligible(customer_client):
    assert create_payment(customer_client, {"free_trial": True}).status_code == 201
    before = money_state()

    response = create_payment(customer_client, {"free_trial": True})

    assert_error(response, 400, ErrorCode.FREE_TRIAL_NOT_ELIGIBLE)
    assert money_state() == before


def test_free_trial_after_a_consumed_session_is_400_free_trial_not_eligible(make_customer, api_client_for, active_chat):
    customer = make_customer()
    active_chat(customer)
    before = money_state()

    response = create_payment(api_client_for(customer), {"free_trial": True})

    assert_error(response, 400, ErrorCode.FREE_TRIAL_NOT_ELIGIBLE)
    assert money_state() == before


def test_free_trial_while_disabled_is_400_free_trial_not_eligible(customer_client, settings_now):
    settings_now(free_trial_enabled=False)
    before = money_state()

    response = create_payment(customer_client, {"free_trial": True})

    assert_error(response, 400, ErrorCode.FREE_TRIAL_NOT_ELIGIBLE)
    assert money_state() == before


def test_an_abandoned_free_trial_can_be_taken_again(customer_client):
    first = create_payment(customer_client, {"free_trial": True}).json()
    assert customer_client.post(cancel_url(first["id"])).json()["status"] == "abandoned"

    again = create_payment(customer_client, {"free_trial": True})

    assert again.status_code == 201, again.json()
    assert sorted(PaymentSession.objects.values_list("status", flat=True)) == ["abandoned", "pending"]


@pytest.mark.django_db(transaction=True)
def test_simultaneous_free_trial_requests_create_only_one(make_customer, api_client_for):
    # given one customer on several phones at once
    customer = make_customer()
    clients = [api_client_for(customer) for _ in range(6)]
    barrier = threading.Barrier(len(clients))
    responses: list = [None] * len(clients)

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            responses[i] = create_payment(clients[i], {"free_trial": True})
        except BaseException as exc:  # reported by the assertion below
            responses[i] = exc
        finally:
            connection.close()

    # when they all ask for the free trial at the same moment
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # then exactly one is created; every other one is refused as not eligible
    assert all(not isinstance(r, BaseException) and r is not None for r in responses), responses
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [400] * (len(clients) - 1), [r.content for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 400} == {ErrorCode.FREE_TRIAL_NOT_ELIGIBLE}
    assert PaymentSession.objects.filter(customer=customer, is_free_trial=True).count() == 1
    assert PaymentEvent.objects.count() == 1


@pytest.mark.parametrize("spelling", ["free_trial", "is_free_trial"])
def test_an_extension_with_the_free_trial_is_400_free_trial_not_allowed(make_customer, api_client_for, active_chat, make_tier, spelling):
    customer = make_customer()
    session = active_chat(customer).session
    ext = make_tier(amount=25_000, minutes=15, kind=TierKind.EXTENSION)
    client = api_client_for(customer)
    before = money_state()

    with_session = create_payment(client, {spelling: True, "is_extension": True, "chat_session_id": str(session.id)})
    with_tier = create_payment(client, {spelling: True, "is_extension": True, "tier_id": str(ext.id), "chat_session_id": str(session.id)})
    bare = create_payment(client, {spelling: True, "is_extension": True})

    for response in (with_session, with_tier, bare):
        assert_error(response, 400, ErrorCode.FREE_TRIAL_NOT_ALLOWED)
    assert money_state() == before


def test_an_extension_payment_on_an_extension_tier_is_created(make_customer, api_client_for, active_chat, make_tier):
    customer = make_customer()
    session = active_chat(customer).session
    ext = make_tier(amount=25_000, minutes=15, kind=TierKind.EXTENSION)

    response = create_payment(api_client_for(customer), {"tier_id": str(ext.id), "is_extension": True, "chat_session_id": str(session.id)})

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["amount"], body["duration_minutes"], body["is_extension"], body["is_free_trial"], body["chat_session_id"]) == (
        "pending", 25_000, 15, True, False, str(session.id)
    )


def test_a_session_tier_used_for_an_extension_is_400_invalid_tier(make_customer, api_client_for, active_chat, make_tier):
    customer = make_customer()
    session = active_chat(customer).session
    session_tier = make_tier(amount=50_000, minutes=30)
    before = money_state()

    response = create_payment(
        api_client_for(customer), {"tier_id": str(session_tier.id), "is_extension": True, "chat_session_id": str(session.id)}
    )

    body = assert_error(response, 400, ErrorCode.INVALID_TIER)
    assert set(body["errors"]) == {"tier_id"}
    assert money_state() == before


def test_an_extension_tier_used_for_a_session_is_400_invalid_tier(customer_client, make_tier):
    ext = make_tier(amount=25_000, minutes=15, kind=TierKind.EXTENSION)
    before = money_state()

    response = create_payment(customer_client, {"tier_id": str(ext.id)})

    assert_error(response, 400, ErrorCode.INVALID_TIER)
    assert money_state() == before


def test_an_inactive_or_unknown_tier_is_400_invalid_tier(customer_client, make_tier):
    retired = make_tier()
    retired.is_active = False
    retired.save(update_fields=["is_active"])
    before = money_state()

    for tier_id in (retired.id, uuid4()):
        assert_error(create_payment(customer_client, {"tier_id": str(tier_id)}), 400, ErrorCode.INVALID_TIER)
    assert money_state() == before


@pytest.mark.parametrize("body", [{}, {"tier_id": "not-a-uuid"}, {"free_trial": "maybe"}, {"free_trial": False}])
def test_a_malformed_create_is_400_invalid_input(customer_client, make_tier, body):
    make_tier()
    before = money_state()

    assert_error(create_payment(customer_client, body), 400, ErrorCode.INVALID_INPUT)
    assert money_state() == before


def test_an_unknown_targeted_mitra_is_400_unknown_mitra(customer_client, make_tier, make_customer):
    tier, other_customer = make_tier(), make_customer()
    before = money_state()

    unknown = create_payment(customer_client, {"tier_id": str(tier.id), "targeted_mitra_id": str(uuid4())})
    not_a_mitra = create_payment(customer_client, {"tier_id": str(tier.id), "targeted_mitra_id": str(other_customer.id)})

    for response in (unknown, not_a_mitra):
        body = assert_error(response, 400, ErrorCode.UNKNOWN_MITRA)
        assert set(body["errors"]) == {"targeted_mitra_id"}
    assert money_state() == before


def test_only_customers_create_payments(anon_client, mitra_client, operator_client, make_tier):
    tier = make_tier()
    before = money_state()

    assert_error(create_payment(anon_client, {"tier_id": str(tier.id)}), 401, ErrorCode.NOT_AUTHENTICATED)
    assert_error(create_payment(mitra_client, {"tier_id": str(tier.id)}), 403, ErrorCode.PERMISSION_DENIED)
    assert_error(create_payment(operator_client, {"tier_id": str(tier.id)}), 403, ErrorCode.PERMISSION_DENIED)
    assert money_state() == before


def test_a_bad_token_is_401(make_tier):
    tier = make_tier()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")

    response = create_payment(client, {"tier_id": str(tier.id)})

    assert response.status_code == 401
    assert PaymentSession.objects.count() == 0


# --- GET /api/client/payment-sessions/{id} ------------------------------------------------
def test_a_customer_reads_their_own_payment(customer_client, make_tier):
    created = create_payment(customer_client, {"tier_id": str(make_tier().id)}).json()

    response = customer_client.get(detail_url(created["id"]))

    assert response.status_code == 200
    assert response.json() == created


def test_another_customers_payment_is_404_like_an_unknown_id(customer_client, make_customer, api_client_for, make_tier):
    theirs = create_payment(api_client_for(make_customer()), {"tier_id": str(make_tier().id)}).json()

    foreign = customer_client.get(detail_url(theirs["id"]))
    unknown = customer_client.get(detail_url(uuid4()))

    assert assert_error(foreign, 404, ErrorCode.NOT_FOUND) == assert_error(unknown, 404, ErrorCode.NOT_FOUND)
    assert theirs["id"] not in foreign.content.decode()


def test_another_customer_can_neither_confirm_nor_cancel_my_payment(customer_client, make_customer, api_client_for, make_tier):
    mine = create_payment(api_client_for(make_customer()), {"tier_id": str(make_tier().id)}).json()
    before = money_state()

    assert_error(customer_client.post(confirm_url(mine["id"])), 404, ErrorCode.NOT_FOUND)
    assert_error(customer_client.post(cancel_url(mine["id"])), 404, ErrorCode.NOT_FOUND)
    assert money_state() == before


def test_a_mitra_cannot_read_a_payment(mitra_client, customer_client, make_tier):
    created = create_payment(customer_client, {"tier_id": str(make_tier().id)}).json()

    assert_error(mitra_client.get(detail_url(created["id"])), 403, ErrorCode.PERMISSION_DENIED)


# --- POST …/confirm ----------------------------------------------------------------------
def test_confirming_a_pending_payment_charges_it_once(customer_client, make_tier):
    created = create_payment(customer_client, {"tier_id": str(make_tier(amount=50_000).id)}).json()

    response = customer_client.post(confirm_url(created["id"]))

    assert response.status_code == 200, response.json()
    assert response.json() == {**created, "status": "confirmed"}
    payment = PaymentSession.objects.get()
    assert payment.status == PaymentStatus.CONFIRMED and payment.confirmed_at is not None
    assert list(Transaction.objects.values_list("payment_session_id", "kind", "amount")) == [
        (payment.id, TransactionKind.CHARGE, 50_000)
    ]
    assert list(PaymentEvent.objects.values_list("from_status", "to_status", "reason", "actor_id")) == [
        ("", "pending", "created", customer_client.user.id),
        ("pending", "confirmed", "confirmed", customer_client.user.id),
    ]


def test_confirming_twice_changes_nothing_the_second_time(customer_client, make_tier):
    created = create_payment(customer_client, {"tier_id": str(make_tier().id)}).json()
    first = customer_client.post(confirm_url(created["id"]))
    before = money_state()
    confirmed_at = PaymentSession.objects.get().confirmed_at

    second = customer_client.post(confirm_url(created["id"]))

    assert second.status_code == 200
    assert second.json() == first.json()
    assert money_state() == before
    assert Transaction.objects.count() == 1
    assert PaymentSession.objects.get().confirmed_at == confirmed_at


def test_confirming_an_abandoned_payment_is_409_and_changes_nothing(customer_client, make_tier):
    created = create_payment(customer_client, {"tier_id": str(make_tier().id)}).json()
    customer_client.post(cancel_url(created["id"]))
    before = money_state()

    response = customer_client.post(confirm_url(created["id"]))

    body = assert_error(response, 409, ErrorCode.PAYMENT_STATE_CONFLICT)
    assert body["payment_status"] == "abandoned"
    assert money_state() == before
    assert PaymentSession.objects.get().status == PaymentStatus.ABANDONED


def test_confirming_a_consumed_payment_is_409(make_customer, api_client_for, active_chat):
    customer = make_customer()
    session = active_chat(customer).session
    before = money_state()

    response = api_client_for(customer).post(confirm_url(session.payment_session_id))

    assert assert_error(response, 409, ErrorCode.PAYMENT_STATE_CONFLICT)["payment_status"] == "consumed"
    assert money_state() == before


def test_confirming_a_pending_payment_past_its_expiry_is_409_payment_expired(customer_client, make_tier):
    created = create_payment(customer_client, {"tier_id": str(make_tier().id)}).json()
    PaymentSession.objects.filter(id=created["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    before = money_state()

    response = customer_client.post(confirm_url(created["id"]))

    assert_error(response, 409, ErrorCode.PAYMENT_EXPIRED)
    assert money_state() == before
    assert PaymentSession.objects.get().status == PaymentStatus.PENDING
    assert Transaction.objects.count() == 0


def test_confirming_an_expired_payment_is_409_payment_state_conflict(customer_client, make_tier):
    created = create_payment(customer_client, {"tier_id": str(make_tier().id)}).json()
    PaymentSession.objects.filter(id=created["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    payment_services.payments_sweep()
    before = money_state()

    response = customer_client.post(confirm_url(created["id"]))

    assert assert_error(response, 409, ErrorCode.PAYMENT_STATE_CONFLICT)["payment_status"] == "expired"
    assert money_state() == before


def test_confirming_a_free_trial_writes_no_transaction(customer_client):
    created = create_payment(customer_client, {"free_trial": True}).json()

    response = customer_client.post(confirm_url(created["id"]))

    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["amount"]) == ("confirmed", 0)
    assert Transaction.objects.count() == 0
    assert list(PaymentEvent.objects.values_list("to_status", flat=True)) == ["pending", "confirmed"]


def test_confirming_an_extension_payment_does_not_charge_it_yet(make_customer, api_client_for, active_chat, make_tier):
    customer = make_customer()
    session = active_chat(customer).session
    client = api_client_for(customer)
    ext = make_tier(amount=25_000, minutes=15, kind=TierKind.EXTENSION)
    created = create_payment(client, {"tier_id": str(ext.id), "is_extension": True, "chat_session_id": str(session.id)}).json()
    charges_before = list(Transaction.objects.values_list("payment_session_id", flat=True))

    response = client.post(confirm_url(created["id"]))

    assert response.status_code == 200 and response.json()["status"] == "confirmed"
    # only the session payment's own charge exists: extensions are charged at approval
    assert list(Transaction.objects.values_list("payment_session_id", flat=True)) == charges_before == [session.payment_session_id]


def test_confirming_an_unknown_payment_is_404(customer_client):
    assert_error(customer_client.post(confirm_url(uuid4())), 404, ErrorCode.NOT_FOUND)
    assert money_state() == {"payments": [], "transactions": [], "events": [], "failures": 0}


# --- POST …/cancel -----------------------------------------------------------------------
def test_cancelling_a_pending_payment_abandons_it(customer_client, make_tier):
    created = create_payment(customer_client, {"tier_id": str(make_tier().id)}).json()

    response = customer_client.post(cancel_url(created["id"]))

    assert response.status_code == 200
    assert response.json() == {**created, "status": "abandoned"}
    assert PaymentSession.objects.get().status == PaymentStatus.ABANDONED
    assert Transaction.objects.count() == 0
    assert list(PaymentEvent.objects.values_list("from_status", "to_status", "reason", "actor_id")) == [
        ("", "pending", "created", customer_client.user.id),
        ("pending", "abandoned", "customer_backed_out", customer_client.user.id),
    ]


def test_cancelling_twice_is_the_same_as_once(customer_client, make_tier):
    created = create_payment(customer_client, {"tier_id": str(make_tier().id)}).json()
    first = customer_client.post(cancel_url(created["id"]))
    before = money_state()

    second = customer_client.post(cancel_url(created["id"]))

    assert second.status_code == 200
    assert second.json() == first.json()
    assert money_state() == before


def test_cancelling_a_confirmed_payment_leaves_it_confirmed(customer_client, make_tier):
    created = create_payment(customer_client, {"tier_id": str(make_tier().id)}).json()
    confirmed = customer_client.post(confirm_url(created["id"])).json()
    before = money_state()

    first = customer_client.post(cancel_url(created["id"]))
    second = customer_client.post(cancel_url(created["id"]))

    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() == confirmed
    assert money_state() == before
    assert PaymentSession.objects.get().status == PaymentStatus.CONFIRMED


def test_cancelling_a_consumed_payment_leaves_it_consumed(make_customer, api_client_for, active_chat):
    customer = make_customer()
    session = active_chat(customer).session
    before = money_state()

    response = api_client_for(customer).post(cancel_url(session.payment_session_id))

    assert response.status_code == 200 and response.json()["status"] == "consumed"
    assert money_state() == before
