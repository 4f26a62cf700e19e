"""SPEC §4's money invariant with the Midtrans provider (SPEC §11), under random
sequences of what the gateway and the apps do to a few payments: signed notifications
in any order (settlement, pending, deny, cancel, expire; some twice), settlements
whose notification never comes, "I have paid" taps, time running out, sweeper passes
with their reconciliation, and operators refunding (through the gateway, which may
refuse) or crediting. The invariant of ``test_money_invariant.py`` is checked after
every step, and in its strict form once everything has ended."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from config.errors import AppError
from failed_pairings import services as failed_pairing_services
from failed_pairings.models import PairingFailure
from payments.models import PaymentSession
from payments.services import gateway_payments_reconcile, payments_sweep
from payments.tests.test_money_invariant import assert_money_invariant

pytestmark = pytest.mark.django_db(transaction=True)

NOTIFY = "/api/payments/midtrans/notification"
CREATE = "/api/client/payment-sessions"
SEEDS = range(8)
STEPS = 40


@pytest.mark.parametrize("seed", SEEDS)
def test_money_invariant_with_the_gateway(seed, midtrans, api_client_for, make_customer, make_operator, make_tier, anon_client):
    rng = random.Random(seed)
    tier = make_tier(amount=50_000)
    operator = make_operator()
    clients = [api_client_for(make_customer()) for _ in range(3)]
    payments: list[tuple[str, object]] = []

    def new_payment():
        client = rng.choice(clients)
        answer = client.post(CREATE, {"tier_id": str(tier.id)}, format="json")
        assert answer.status_code == 201, answer.json()
        payments.append((answer.json()["id"], client))

    def notify():
        pid, _ = rng.choice(payments)
        status = rng.choice(["settlement", "settlement", "pending", "deny", "cancel", "expire"])
        note = midtrans.notification(pid, status)
        for _ in range(rng.choice([1, 1, 2])):  # Midtrans retries
            assert anon_client.post(NOTIFY, note, format="json").status_code == 200

    def settle_quietly():  # paid; the notification is lost
        pid, _ = rng.choice(payments)
        midtrans.set_status(pid, "settlement")

    def confirm():
        pid, client = rng.choice(payments)
        assert client.post(f"{CREATE}/{pid}/confirm").status_code in (200, 409)

    def time_runs_out():
        pid, _ = rng.choice(payments)
        PaymentSession.objects.filter(id=pid).update(expires_at=timezone.now() - timedelta(seconds=1))

    def sweep():
        payments_sweep()
        gateway_payments_reconcile()

    def operator_acts():
        row = PairingFailure.objects.filter(operator_action="").order_by("?").first()
        if row is None:
            return
        try:
            failed_pairing_services.failed_pairing_action(failure_id=row.id, action=rng.choice(["refunded", "refunded", "credited"]), actor=operator)
        except AppError:
            pass

    def gateway_answers_refunds():
        midtrans.refuse_refunds = rng.choice(["", "", "Refund is not supported for this payment type"])
        for row in PairingFailure.objects.filter(operator_action="refund_pending"):
            failed_pairing_services.failed_pairing_refund_run(failure_id=row.id)

    operations = {
        new_payment: 2, notify: 5, settle_quietly: 2, confirm: 3, time_runs_out: 2, sweep: 2, operator_acts: 2, gateway_answers_refunds: 1,
    }
    new_payment()
    for _ in range(STEPS):
        rng.choices(list(operations), weights=list(operations.values()))[0]()
        assert_money_invariant(settled=False)

    # everything ends: time runs out for all, the sweeper passes twice, operators finish
    PaymentSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    sweep()
    sweep()
    midtrans.refuse_refunds = ""
    for row in PairingFailure.objects.filter(operator_action=""):
        try:
            failed_pairing_services.failed_pairing_action(failure_id=row.id, action="refunded", actor=operator)
        except AppError:
            pass
    for row in PairingFailure.objects.filter(operator_action="refund_pending"):
        failed_pairing_services.failed_pairing_refund_run(failure_id=row.id)
    assert_money_invariant(settled=True)
