"""SPEC §11: with a payment gateway the money for an extension is taken when the
customer pays, so an extension that ends unused is refunded by itself through the
gateway (``refund_key`` = the extension's id); when the gateway refuses, an
``extension_unused`` row goes to operators. Against the fake Midtrans."""

from __future__ import annotations

import time

import pytest

from extensions.tests.state import PAYMENTS, decline_url, extensions_url
from extensions.tests.test_money_invariant import assert_extension_money_invariant
from failed_pairings.models import PairingFailure
from payments.models import PaymentSession, Transaction
from payments.services import extension_payment_refund_run
from payments.tests.test_money_invariant import assert_money_invariant

pytestmark = pytest.mark.django_db(transaction=True)  # the payment page opens after a real commit

NOTIFY = "/api/payments/midtrans/notification"


def _paid_extension(live, gateway, extension_tier, anon_client) -> tuple[dict, dict]:
    """An extension paid at the gateway (Snap, then its settlement notification) and requested."""
    body = {"tier_id": str(extension_tier.id), "is_extension": True, "chat_session_id": live.id}
    payment = live.customer_client.post(PAYMENTS, body, format="json").json()
    assert payment["provider"] == "midtrans" and payment["snap_token"], payment
    assert anon_client.post(NOTIFY, gateway.notification(payment["id"], "settlement"), format="json").status_code == 200
    assert PaymentSession.objects.get(id=payment["id"]).status == "confirmed"
    extension = live.customer_client.post(extensions_url(live.id), {"payment_session_id": payment["id"]}, format="json")
    assert extension.status_code == 201, extension.json()
    return payment, extension.json()


def test_a_declined_extension_paid_at_the_gateway_is_refunded_by_itself(
    live_session, midtrans_gateway, extension_tier, anon_client, celery_process
):
    live = live_session()  # its session payment on the instant provider; the extension's at the gateway
    midtrans_gateway.activate()
    payment, extension = _paid_extension(live, midtrans_gateway, extension_tier, anon_client)
    celery_process("worker", env=midtrans_gateway.app_env)

    assert live.mitra_client.post(decline_url(extension["id"])).status_code == 200

    end = time.monotonic() + 60
    while not Transaction.objects.filter(payment_session_id=payment["id"], kind="refund").exists() and time.monotonic() < end:
        time.sleep(0.1)
    assert list(Transaction.objects.filter(payment_session_id=payment["id"]).values_list("kind", "amount")) == [("refund", payment["amount"])]
    [refund] = midtrans_gateway.orders[payment["id"]].refunds
    assert refund["refund_key"] == extension["id"] and refund["amount"] == payment["amount"]
    assert PaymentSession.objects.get(id=payment["id"]).status == "released"
    assert extension_payment_refund_run(payment_id=payment["id"]) == "nothing"  # a retry refunds nothing more
    assert not PairingFailure.objects.exists()
    assert_money_invariant(settled=False)
    assert_extension_money_invariant()


def test_a_refund_the_gateway_refuses_goes_to_operators(live_session, midtrans_gateway, extension_tier, anon_client):
    live = live_session()
    midtrans_gateway.activate()
    payment, extension = _paid_extension(live, midtrans_gateway, extension_tier, anon_client)
    assert live.mitra_client.post(decline_url(extension["id"])).status_code == 200
    midtrans_gateway.refuse_refunds = "Refund is not supported for this payment type"

    assert extension_payment_refund_run(payment_id=payment["id"]) == "refused"
    assert extension_payment_refund_run(payment_id=payment["id"]) == "refused"  # again: still one row

    [row] = PairingFailure.objects.filter(payment_session_id=payment["id"])
    assert (row.cause_tag, row.amount, row.customer_id) == ("extension_unused", payment["amount"], live.customer.id)
    assert "not supported" in row.refund_error
    assert not Transaction.objects.filter(payment_session_id=payment["id"]).exists()
    assert_money_invariant(settled=False)


def test_an_extension_payment_that_expires_unrequested_is_refunded_too(live_session, midtrans_gateway, extension_tier, anon_client):
    from datetime import timedelta

    from django.utils import timezone

    from payments.services import payments_sweep

    live = live_session()
    midtrans_gateway.activate()
    body = {"tier_id": str(extension_tier.id), "is_extension": True, "chat_session_id": live.id}
    payment = live.customer_client.post(PAYMENTS, body, format="json").json()
    assert anon_client.post(NOTIFY, midtrans_gateway.notification(payment["id"], "settlement"), format="json").status_code == 200
    PaymentSession.objects.filter(id=payment["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert [str(p) for p in payments_sweep()] == [payment["id"]]  # confirmed, never used: expired
    assert extension_payment_refund_run(payment_id=payment["id"]) == "refunded"

    [refund] = midtrans_gateway.orders[payment["id"]].refunds
    assert refund["refund_key"] == payment["id"]  # no extension was ever made of it
    assert list(Transaction.objects.filter(payment_session_id=payment["id"]).values_list("kind", flat=True)) == ["refund"]
    assert_money_invariant(settled=False)
