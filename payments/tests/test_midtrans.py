"""Payments through Midtrans (SPEC §11) against the fake gateway: a real HTTP server on
127.0.0.1 (``fake_midtrans.py``) for Snap and the Core API, and signed notifications
sent the way Midtrans sends them."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from config.errors import ErrorCode
from failed_pairings.models import PairingFailure
from pairing.tests.live import race
from failed_pairings.services import failed_pairing_refund_run
from payments.midtrans import GatewayError, signature
from payments.services import gateway_payments_reconcile, payments_sweep
from payments.models import PaymentEvent, PaymentSession, PaymentStatus, Transaction
from payments.tests.fake_midtrans import SERVER_KEY

# committed for real: the payment page opens after the commit (``transaction.on_commit``)
pytestmark = pytest.mark.django_db(transaction=True)

CREATE = "/api/client/payment-sessions"
NOTIFY = "/api/payments/midtrans/notification"


def _create(client, tier) -> dict:
    response = client.post(CREATE, {"tier_id": str(tier.id)}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def _state(payment_id) -> tuple:
    payment = PaymentSession.objects.get(id=payment_id)
    return payment.status, Transaction.objects.filter(payment_session=payment).count(), PaymentEvent.objects.filter(payment_session=payment).count()


def test_create_opens_a_snap_page_after_the_commit(midtrans, customer_client, make_tier):
    tier = make_tier(amount=50_000, minutes=30)

    body = _create(customer_client, tier)

    assert body["provider"] == "midtrans" and body["status"] == "pending"
    assert body["snap_token"] == f"snap-{body['id']}"
    assert body["redirect_url"].endswith(f"/snap/v4/redirection/snap-{body['id']}")
    [(method, path, sent, auth)] = midtrans.requests
    assert (method, path) == ("POST", "/snap/v1/transactions")
    assert sent["transaction_details"] == {"order_id": body["id"], "gross_amount": 50_000}
    assert sent["expiry"]["unit"] == "minutes" and 18 <= sent["expiry"]["duration"] <= 20  # the session's remaining life
    assert auth == "Basic " + base64.b64encode(f"{SERVER_KEY}:".encode()).decode()
    assert PaymentSession.objects.get(id=body["id"]).snap_token == body["snap_token"]
    # the app's detail read gives the same page
    assert customer_client.get(f"{CREATE}/{body['id']}").json()["snap_token"] == body["snap_token"]


def test_a_settlement_notification_over_http_confirms_charges_once_and_the_chat_starts(
    midtrans, customer_client, make_tier, live_server, online_mitra
):
    online_mitra()
    body = _create(customer_client, make_tier(amount=50_000, minutes=30))

    answer = midtrans.send(live_server.url + NOTIFY, midtrans.notification(body["id"], "settlement"))

    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
    payment = PaymentSession.objects.get(id=body["id"])
    assert payment.status == PaymentStatus.CONFIRMED and payment.confirmed_at is not None
    assert list(Transaction.objects.filter(payment_session=payment).values_list("kind", "amount")) == [("charge", 50_000)]
    event = PaymentEvent.objects.filter(payment_session=payment).last()
    assert (event.from_status, event.to_status, event.gateway_status) == ("pending", "confirmed", "settlement")
    # the app's "I have paid" tap afterwards changes nothing; the chat starts on it
    assert customer_client.post(f"{CREATE}/{body['id']}/confirm").status_code == 200
    started = customer_client.post("/api/client/chat/start", {"payment_session_id": body["id"], "sensitive": False}, format="json")
    assert started.status_code == 201, started.json()
    assert Transaction.objects.filter(payment_session=payment).count() == 1


def test_confirm_asks_the_gateway_and_refuses_an_unpaid_session(midtrans, customer_client, make_tier):
    body = _create(customer_client, make_tier())

    refused = customer_client.post(f"{CREATE}/{body['id']}/confirm")

    assert refused.status_code == 409 and refused.json()["code"] == ErrorCode.PAYMENT_NOT_SETTLED
    assert _state(body["id"]) == ("pending", 0, 1)
    midtrans.set_status(body["id"], "settlement")  # paid; its notification is late
    confirmed = customer_client.post(f"{CREATE}/{body['id']}/confirm")
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"
    assert _state(body["id"]) == ("confirmed", 1, 2)
    assert [(m, p) for m, p, _, _ in midtrans.requests[1:]] == [("GET", f"/v2/{body['id']}/status")] * 2
    # the notification arriving now is recorded and changes nothing
    assert customer_client.post(NOTIFY, midtrans.notification(body["id"]), format="json").status_code == 200
    assert _state(body["id"]) == ("confirmed", 1, 3)


@pytest.mark.parametrize("tamper", ["signature", "key", "amount_signed_with_it"])
def test_a_notification_with_a_bad_signature_is_403_and_changes_nothing(midtrans, customer_client, anon_client, make_tier, tamper, caplog):
    body = _create(customer_client, make_tier(amount=50_000))
    note = midtrans.notification(body["id"], "settlement")
    if tamper == "signature":
        note["signature_key"] = note["signature_key"][:-1] + ("0" if note["signature_key"][-1] != "0" else "1")
    elif tamper == "key":
        note = midtrans.notification(body["id"], "settlement", server_key="somebody-elses-key")
    else:  # a forged amount: the signature was made for the real one
        note["gross_amount"] = "1.00"

    answer = anon_client.post(NOTIFY, note, format="json")

    assert answer.status_code == 403 and answer.json()["code"] == ErrorCode.INVALID_SIGNATURE
    assert _state(body["id"]) == ("pending", 0, 1)
    assert SERVER_KEY not in caplog.text and note["signature_key"] not in caplog.text


def test_unknown_orders_other_amounts_and_junk_are_refused_and_change_nothing(midtrans, customer_client, anon_client, make_tier):
    body = _create(customer_client, make_tier(amount=50_000))
    other_amount = midtrans.notification(body["id"], "settlement", gross_amount="49000.00")
    unknown = {**midtrans.notification(body["id"], "settlement"), "order_id": "not-ours"}
    unknown["signature_key"] = hashlib.sha512(f"not-ours{unknown['status_code']}{unknown['gross_amount']}{SERVER_KEY}".encode()).hexdigest()

    assert anon_client.post(NOTIFY, other_amount, format="json").json()["code"] == ErrorCode.AMOUNT_MISMATCH
    answer = anon_client.post(NOTIFY, unknown, format="json")
    assert (answer.status_code, answer.json()["code"]) == (404, ErrorCode.UNKNOWN_ORDER)
    for junk in ({}, {"order_id": body["id"]}, [1, 2], "settlement"):
        answer = anon_client.post(NOTIFY, junk, format="json")
        assert answer.status_code == 400, (junk, answer.json())
    assert anon_client.post(NOTIFY, "{not json", content_type="application/json").status_code == 400
    assert _state(body["id"]) == ("pending", 0, 1)


def test_duplicates_and_out_of_order_notifications_change_nothing_twice(midtrans, customer_client, anon_client, make_tier):
    body = _create(customer_client, make_tier(amount=50_000))
    pending = midtrans.notification(body["id"], "pending")
    settled = midtrans.notification(body["id"], "settlement")

    answers = [anon_client.post(NOTIFY, note, format="json").status_code for note in (settled, settled, pending, settled, pending)]

    assert answers == [200] * 5
    assert _state(body["id"]) == ("confirmed", 1, 3)  # created, settled, the late "pending" recorded once
    assert list(PaymentEvent.objects.filter(payment_session_id=body["id"]).values_list("gateway_status", flat=True)) == ["", "settlement", "pending"]


def test_the_same_notification_at_once_confirms_and_charges_once(midtrans, customer_client, make_tier):
    from rest_framework.test import APIClient

    body = _create(customer_client, make_tier(amount=50_000))
    note = midtrans.notification(body["id"], "settlement")

    answers = race([lambda: APIClient().post(NOTIFY, note, format="json").status_code for _ in range(12)])

    assert answers == [200] * 12
    assert _state(body["id"]) == ("confirmed", 1, 2)


@pytest.mark.parametrize("gateway_status, ends_as", [("deny", "abandoned"), ("cancel", "abandoned"), ("expire", "expired")])
def test_a_gateway_end_ends_a_pending_payment(midtrans, customer_client, anon_client, make_tier, gateway_status, ends_as):
    body = _create(customer_client, make_tier())

    assert anon_client.post(NOTIFY, midtrans.notification(body["id"], gateway_status), format="json").status_code == 200

    assert _state(body["id"]) == (ends_as, 0, 2)


def test_money_settled_after_the_session_expired_goes_to_operators(midtrans, customer_client, anon_client, make_tier):
    body = _create(customer_client, make_tier(amount=50_000))
    PaymentSession.objects.filter(id=body["id"]).update(status=PaymentStatus.EXPIRED)

    for _ in range(2):  # Midtrans retries: still one row
        assert anon_client.post(NOTIFY, midtrans.notification(body["id"], "settlement"), format="json").status_code == 200

    [row] = PairingFailure.objects.filter(payment_session_id=body["id"])
    assert (row.cause_tag, row.amount, row.customer_id) == ("payment_settled_after_expiry", 50_000, customer_client.user.id)
    assert PaymentSession.objects.get(id=body["id"]).status == PaymentStatus.EXPIRED


def test_gateway_down_at_create_is_502_then_the_next_read_opens_the_page(midtrans, customer_client, make_tier):
    midtrans.down = True

    answer = customer_client.post(CREATE, {"tier_id": str(make_tier().id)}, format="json")

    assert answer.status_code == 502 and answer.json()["code"] == ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE
    payment = PaymentSession.objects.get()
    assert payment.status == PaymentStatus.PENDING and payment.snap_token == "" and "unreachable" in payment.provider_error
    midtrans.down = False
    read = customer_client.get(f"{CREATE}/{payment.id}").json()
    assert read["snap_token"] == f"snap-{payment.id}" and read["status"] == "pending"
    assert PaymentSession.objects.get().provider_error == ""


def test_a_gateway_blip_at_create_is_retried(midtrans, customer_client, make_tier):
    midtrans.fail_next = 1

    body = _create(customer_client, make_tier())

    assert body["snap_token"] == f"snap-{body['id']}"


def test_an_idempotent_create_opens_the_page_after_its_transaction(midtrans, customer_client, make_tier):
    tier = make_tier()
    first = customer_client.post(CREATE, {"tier_id": str(tier.id)}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = customer_client.post(CREATE, {"tier_id": str(tier.id)}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == again.status_code == 201
    assert first.json()["snap_token"] == f"snap-{first.json()['id']}"
    assert again.json()["id"] == first.json()["id"]
    assert PaymentSession.objects.count() == 1 and len(midtrans.requests) == 1


def test_free_trials_never_touch_the_gateway(midtrans, customer_client):
    answer = customer_client.post(CREATE, {"free_trial": True}, format="json")

    assert answer.status_code == 201 and answer.json()["provider"] == "free_trial" and answer.json()["snap_token"] is None
    assert customer_client.post(f"{CREATE}/{answer.json()['id']}/confirm").json()["status"] == "confirmed"
    assert midtrans.requests == []


def test_the_signature_is_sha512_of_order_status_amount_and_key():
    assert signature("o-1", "200", "50000.00", "k") == hashlib.sha512(b"o-120050000.00k").hexdigest()


# --- reconciliation: the sweeper asks the gateway first ---------------------------------------
def _expire_now(payment_id) -> None:
    PaymentSession.objects.filter(id=payment_id).update(expires_at=timezone.now() - timedelta(seconds=1))


def test_a_lost_notification_is_recovered_by_the_sweeper_instead_of_expiring(midtrans, customer_client, make_tier):
    body = _create(customer_client, make_tier(amount=50_000))
    midtrans.set_status(body["id"], "settlement")  # paid; the notification never arrives
    _expire_now(body["id"])

    assert payments_sweep() == []  # the batch leaves a pending gateway payment alone
    assert gateway_payments_reconcile() == {"confirmed": 1, "expired": 0, "unknown": 0}

    assert _state(body["id"]) == ("confirmed", 1, 2)
    assert PaymentEvent.objects.filter(payment_session_id=body["id"]).last().reason == "gateway_reconciled"
    # paid and now unused past its time: the next pass makes it refundable, as any paid one
    assert payments_sweep() == [uuid.UUID(body["id"])]
    assert PairingFailure.objects.get(payment_session_id=body["id"]).cause_tag == "payment_expired_unused"


def test_an_unpaid_one_is_expired_and_cancelled_at_the_gateway(midtrans, customer_client, make_tier, celery_process):
    body = _create(customer_client, make_tier())
    _expire_now(body["id"])
    celery_process("worker", env=midtrans.app_env)

    assert gateway_payments_reconcile() == {"confirmed": 0, "expired": 1, "unknown": 0}

    assert _state(body["id"]) == ("expired", 0, 2)
    end = time.monotonic() + 60
    while midtrans.orders[body["id"]].transaction_status != "cancel" and time.monotonic() < end:
        time.sleep(0.1)
    assert ("POST", f"/v2/{body['id']}/cancel") in [(m, p) for m, p, _, _ in midtrans.requests]


def test_a_gateway_that_cannot_be_reached_leaves_it_pending_for_the_next_pass(midtrans, customer_client, make_tier):
    body = _create(customer_client, make_tier())
    _expire_now(body["id"])
    midtrans.down = True

    assert gateway_payments_reconcile() == {"confirmed": 0, "expired": 0, "unknown": 1}
    assert _state(body["id"]) == ("pending", 0, 1)

    midtrans.down = False
    midtrans.set_status(body["id"], "settlement")
    assert gateway_payments_reconcile()["confirmed"] == 1


def test_notification_confirm_and_sweeper_at_once_confirm_and_charge_once(midtrans, customer_client, make_tier):
    """A real race on one paid payment: the gateway's notification, the app's confirm and
    the sweeper's reconciliation, each on its own thread and connection."""
    from rest_framework.test import APIClient

    body = _create(customer_client, make_tier(amount=50_000))
    midtrans.set_status(body["id"], "settlement")
    note = midtrans.notification(body["id"])

    def sweeper():  # its clock is past the payment's time; the app's confirm is still in time
        return gateway_payments_reconcile(now=timezone.now() + timedelta(hours=1))

    results = race([
        lambda: APIClient().post(NOTIFY, note, format="json").status_code,
        lambda: customer_client.post(f"{CREATE}/{body['id']}/confirm").status_code,
        sweeper,
    ])

    assert results[0] == 200 and results[1] == 200, results
    assert results[2]["expired"] == 0
    status, charges, _ = _state(body["id"])
    assert (status, charges) == ("confirmed", 1)
    assert PaymentEvent.objects.filter(payment_session_id=body["id"], to_status="confirmed").exclude(from_status="confirmed").count() == 1


# --- refunds through the gateway ----------------------------------------------------------
def _late_paid_row(midtrans, customer_client, anon_client, make_tier) -> PairingFailure:
    """A payment the gateway settled after it had expired: its row is refundable."""
    body = _create(customer_client, make_tier(amount=50_000))
    PaymentSession.objects.filter(id=body["id"]).update(status=PaymentStatus.EXPIRED)
    assert anon_client.post(NOTIFY, midtrans.notification(body["id"], "settlement"), format="json").status_code == 200
    return PairingFailure.objects.get(payment_session_id=body["id"])


def _action(operator_client, row, action: str):
    return operator_client.post(f"/internal/failed-pairings/{row.id}/action", {"action": action}, format="json")


def test_an_operator_refund_goes_through_the_gateway_once(midtrans, customer_client, anon_client, operator_client, make_tier, celery_process):
    row = _late_paid_row(midtrans, customer_client, anon_client, make_tier)
    celery_process("worker", env=midtrans.app_env)

    answer = _action(operator_client, row, "refunded")

    assert answer.status_code == 200 and answer.json()["operator_action"] == "refund_pending"
    end = time.monotonic() + 60
    while PairingFailure.objects.get(id=row.id).operator_action != "refunded" and time.monotonic() < end:
        time.sleep(0.1)
    row.refresh_from_db()
    assert row.operator_action == "refunded" and row.refund_error == ""
    assert list(Transaction.objects.filter(payment_session_id=row.payment_session_id, kind="refund").values_list("amount", flat=True)) == [50_000]
    [refund] = midtrans.orders[str(row.payment_session_id)].refunds
    assert refund["refund_key"] == str(row.id) and refund["amount"] == 50_000
    assert list(row.actions.order_by("id").values_list("action", flat=True)) == ["refund_pending", "refunded"]
    # the task again (a retry after the gateway answered) changes nothing
    assert failed_pairing_refund_run(failure_id=row.id) == "nothing"
    assert _action(operator_client, row, "credited").json()["code"] == ErrorCode.ALREADY_ACTIONED


def test_a_refund_the_gateway_refuses_opens_the_row_with_its_message(midtrans, customer_client, anon_client, operator_client, make_tier):
    row = _late_paid_row(midtrans, customer_client, anon_client, make_tier)
    midtrans.refuse_refunds = "Transaction cannot be refunded: bank transfer"
    assert _action(operator_client, row, "refunded").json()["operator_action"] == "refund_pending"

    assert failed_pairing_refund_run(failure_id=row.id) == "refused"

    listed = operator_client.get("/internal/failed-pairings").json()["results"][0]
    assert listed["operator_action"] is None and "bank transfer" in listed["refund_error"]
    assert Transaction.objects.filter(kind="refund").count() == 0
    credited = _action(operator_client, row, "credited")
    assert credited.status_code == 200 and credited.json()["operator_action"] == "credited"
    assert list(PairingFailure.objects.get(id=row.id).actions.order_by("id").values_list("action", flat=True)) == [
        "refund_pending", "refund_refused", "credited",
    ]


def test_a_gateway_down_at_refund_time_keeps_it_pending_for_a_retry(midtrans, customer_client, anon_client, operator_client, make_tier):
    row = _late_paid_row(midtrans, customer_client, anon_client, make_tier)
    _action(operator_client, row, "refunded")
    midtrans.down = True

    with pytest.raises(GatewayError):
        failed_pairing_refund_run(failure_id=row.id)  # the task's autoretry takes it from here
    assert PairingFailure.objects.get(id=row.id).operator_action == "refund_pending"

    midtrans.down = False
    assert failed_pairing_refund_run(failure_id=row.id) == "refunded"
    assert Transaction.objects.filter(kind="refund").count() == 1


def test_two_operators_refunding_at_once_refund_once(midtrans, customer_client, anon_client, make_operator, make_tier):
    from rest_framework.test import APIClient

    row = _late_paid_row(midtrans, customer_client, anon_client, make_tier)
    clients = []
    for _ in range(2):
        client = APIClient()
        client.force_authenticate(make_operator())
        clients.append(client)

    answers = race([lambda c=c: _action(c, row, "refunded").status_code for c in clients])

    assert sorted(answers) == [200, 409]
    assert PairingFailure.objects.get(id=row.id).operator_action == "refund_pending"


def test_a_settlement_notice_after_a_confirmed_payment_expired_adds_no_second_refundable_row(midtrans, customer_client, anon_client, make_tier):
    """Found by the random invariant test: confirmed through the Status API, expired
    unused by the sweeper (refundable), then the settlement's notification arrives."""
    body = _create(customer_client, make_tier(amount=50_000))
    midtrans.set_status(body["id"], "settlement")
    assert customer_client.post(f"{CREATE}/{body['id']}/confirm").status_code == 200
    _expire_now(body["id"])
    assert payments_sweep() == [uuid.UUID(body["id"])]

    assert anon_client.post(NOTIFY, midtrans.notification(body["id"]), format="json").status_code == 200

    assert list(PairingFailure.objects.filter(payment_session_id=body["id"]).values_list("cause_tag", flat=True)) == ["payment_expired_unused"]
