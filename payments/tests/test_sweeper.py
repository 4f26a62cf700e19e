"""The payment sweeper (SPEC §4): ``payments.services.payments_sweep``, the
``sweep_payments`` management command, and the ``payment_expired`` websocket event."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from io import StringIO

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.asgi import application
from config.errors import AppError, ErrorCode
from extensions import services as extension_services
from failed_pairings.models import CauseTag, PairingFailure
from pairing import answers, attempts
from pairing.models import ChatSession, ChatStatus
from payments import services as payment_services
from payments.models import PaymentEvent, PaymentSession, PaymentStatus, TierKind, Transaction
from payments.services import payments_sweep

pytestmark = pytest.mark.django_db


def expire(*payments, ago: timedelta = timedelta(seconds=1)) -> None:
    """Move payments' ``expires_at`` into the past, as if their time had run out."""
    PaymentSession.objects.filter(id__in=[p.id for p in payments]).update(expires_at=timezone.now() - ago)


def status_of(payment) -> str:
    return PaymentSession.objects.values_list("status", flat=True).get(id=payment.id)


def sweep_events() -> list:
    return sorted(
        (str(p), f, t, r, a)
        for p, f, t, r, a in PaymentEvent.objects.filter(reason="sweeper").values_list(
            "payment_session_id", "from_status", "to_status", "reason", "actor_id"
        )
    )


@pytest.fixture
def pending_payment(make_tier):
    def make(customer, *, amount: int = 50_000, minutes: int = 30):
        tier = make_tier(amount=amount, minutes=minutes)
        return payment_services.payment_session_create(customer=customer, tier_id=tier.id)

    return make


@pytest.fixture
def free_trial_payment():
    def make(customer, *, confirm: bool):
        payment = payment_services.payment_session_create(customer=customer, free_trial=True)
        if confirm:
            payment = payment_services.payment_session_confirm(customer=customer, payment_id=payment.id)
        return payment

    return make


# --- what gets expired ------------------------------------------------------------------
def test_one_call_expires_every_stale_pending_and_confirmed_payment(make_customer, pending_payment, confirmed_payment):
    # given two customers with stale payments, pending and confirmed
    ayu, budi = make_customer(), make_customer()
    stale_pending = pending_payment(ayu, amount=50_000)
    stale_confirmed = confirmed_payment(budi, amount=90_000, minutes=60)
    expire(stale_pending, stale_confirmed)

    # when
    expired = payments_sweep()

    # then both are expired, each with a "sweeper" event from its old state
    assert sorted(expired) == sorted([stale_pending.id, stale_confirmed.id])
    assert status_of(stale_pending) == status_of(stale_confirmed) == PaymentStatus.EXPIRED
    assert sweep_events() == sorted(
        [
            (str(stale_pending.id), "pending", "expired", "sweeper", None),
            (str(stale_confirmed.id), "confirmed", "expired", "sweeper", None),
        ]
    )


def test_a_charged_payment_expired_unused_gets_one_refundable_failure_row(make_customer, confirmed_payment):
    customer = make_customer()
    payment = confirmed_payment(customer, amount=90_000, minutes=60)
    expire(payment)

    payments_sweep()

    failure = PairingFailure.objects.get()
    assert (
        failure.payment_session_id, failure.customer_id, failure.cause_tag, failure.amount,
        failure.targeted_mitra_id, failure.chat_session_id, failure.operator_action,
    ) == (payment.id, customer.id, CauseTag.PAYMENT_EXPIRED_UNUSED, 90_000, None, None, "")
    assert list(Transaction.objects.values_list("payment_session_id", "amount")) == [(payment.id, 90_000)]  # no second charge


def test_sweeping_again_adds_nothing(make_customer, confirmed_payment, pending_payment):
    customer = make_customer()
    charged, pending = confirmed_payment(customer), pending_payment(customer)
    expire(charged, pending)
    payments_sweep()
    before = (
        sorted(PaymentSession.objects.values_list("id", "status", "updated_at")),
        list(PaymentEvent.objects.values_list("id", flat=True)),
        list(PairingFailure.objects.values_list("id", flat=True)),
    )

    assert payments_sweep() == []

    after = (
        sorted(PaymentSession.objects.values_list("id", "status", "updated_at")),
        list(PaymentEvent.objects.values_list("id", flat=True)),
        list(PairingFailure.objects.values_list("id", flat=True)),
    )
    assert after == before
    assert PairingFailure.objects.filter(payment_session=charged).count() == 1


def test_a_pending_payment_expires_without_a_failure_row(make_customer, pending_payment):
    payment = pending_payment(make_customer())
    expire(payment)

    assert payments_sweep() == [payment.id]

    assert status_of(payment) == PaymentStatus.EXPIRED
    assert PairingFailure.objects.count() == 0 and Transaction.objects.count() == 0


def test_a_confirmed_free_trial_expires_without_a_failure_row(make_customer, free_trial_payment):
    payment = free_trial_payment(make_customer(), confirm=True)
    expire(payment)

    assert payments_sweep() == [payment.id]

    assert status_of(payment) == PaymentStatus.EXPIRED
    assert PairingFailure.objects.count() == 0 and Transaction.objects.count() == 0


def test_payments_not_yet_expired_are_untouched(make_customer, pending_payment, confirmed_payment):
    customer = make_customer()
    fresh_pending, fresh_confirmed = pending_payment(customer), confirmed_payment(customer)
    almost = confirmed_payment(customer)
    PaymentSession.objects.filter(id=almost.id).update(expires_at=timezone.now() + timedelta(seconds=30))
    before = (sorted(PaymentSession.objects.values_list("id", "status", "updated_at")), PaymentEvent.objects.count())

    assert payments_sweep() == []

    assert (sorted(PaymentSession.objects.values_list("id", "status", "updated_at")), PaymentEvent.objects.count()) == before
    assert {status_of(fresh_pending), status_of(fresh_confirmed), status_of(almost)} == {"pending", "confirmed"}
    assert PairingFailure.objects.count() == 0


def test_the_now_argument_decides_what_is_stale(make_customer, confirmed_payment):
    payment = confirmed_payment(make_customer())  # expires in 20 minutes

    assert payments_sweep(now=timezone.now() + timedelta(minutes=19)) == []
    assert payments_sweep(now=timezone.now() + timedelta(minutes=21)) == [payment.id]

    assert status_of(payment) == PaymentStatus.EXPIRED


def test_final_states_are_never_swept(make_customer, pending_payment, confirmed_payment, online_mitra):
    # given payments in every final state of a session payment, all past their expiry
    customer = make_customer()
    abandoned = pending_payment(customer)
    payment_services.payment_session_cancel(customer=customer, payment_id=abandoned.id)
    failed = confirmed_payment(customer)
    attempts.chat_start(customer=customer, payment_id=failed.id, sensitive=False)  # nobody online
    won = confirmed_payment(customer)
    mitra = online_mitra()
    attempt = attempts.chat_start(customer=customer, payment_id=won.id, sensitive=False)
    answers.chat_request_accept(mitra=mitra, chat_session_id=attempt.id)
    assert (status_of(abandoned), status_of(failed), status_of(won)) == ("abandoned", "failed_pairing", "consumed")
    expire(abandoned, failed, won, ago=timedelta(hours=2))
    before = (
        sorted(PaymentSession.objects.values_list("id", "status", "updated_at")),
        PaymentEvent.objects.count(),
        PairingFailure.objects.count(),
    )

    # when / then
    assert payments_sweep() == []
    assert (
        sorted(PaymentSession.objects.values_list("id", "status", "updated_at")),
        PaymentEvent.objects.count(),
        PairingFailure.objects.count(),
    ) == before


def test_a_confirmed_payment_with_a_waiting_attempt_is_not_expired(make_customer, confirmed_payment, online_mitra):
    # given a customer still searching for a bestie when the payment's time runs out
    online_mitra()
    customer = make_customer()
    payment = confirmed_payment(customer)
    attempt = attempts.chat_start(customer=customer, payment_id=payment.id, sensitive=False)
    assert attempt.status == ChatStatus.WAITING
    expire(payment)
    before = (PaymentEvent.objects.count(), PairingFailure.objects.count())

    # when the sweeper runs, then the payment is left alone
    assert payments_sweep() == []
    assert status_of(payment) == PaymentStatus.CONFIRMED
    assert (PaymentEvent.objects.count(), PairingFailure.objects.count()) == before

    # and when the attempt then times out, the payment fails the pairing (one failure
    # row) and a later sweep does not add a second, "expired unused" row
    ChatSession.objects.filter(id=attempt.id).update(deadline_at=timezone.now() - timedelta(seconds=1))
    assert attempts.chat_deadline_fire(chat_session_id=attempt.id) is True
    assert payments_sweep() == []
    assert status_of(payment) == PaymentStatus.FAILED_PAIRING
    assert list(PairingFailure.objects.values_list("payment_session_id", "cause_tag")) == [(payment.id, CauseTag.NO_MITRA_AVAILABLE)]


def test_an_expired_payment_can_no_longer_start_a_chat(make_customer, confirmed_payment, online_mitra):
    """A confirmed payment stays usable until it expires; once swept it is final."""
    online_mitra()
    customer = make_customer()
    payment = confirmed_payment(customer)
    expire(payment)
    assert payments_sweep() == [payment.id]

    with pytest.raises(AppError) as refused:
        attempts.chat_start(customer=customer, payment_id=payment.id, sensitive=False)

    assert refused.value.code == ErrorCode.PAYMENT_NOT_USABLE
    assert ChatSession.objects.count() == 0
    assert status_of(payment) == PaymentStatus.EXPIRED


def _extension_payment(customer, session, make_tier):
    tier = make_tier(amount=25_000, minutes=15, kind=TierKind.EXTENSION)
    payment = payment_services.payment_session_create(customer=customer, tier_id=tier.id, is_extension=True, chat_session_id=session.id)
    return payment_services.payment_session_confirm(customer=customer, payment_id=payment.id)


def test_an_unused_extension_payment_expires_without_a_failure_row(make_customer, active_chat, make_tier):
    customer = make_customer()
    session = active_chat(customer).session
    payment = _extension_payment(customer, session, make_tier)
    expire(payment)

    assert payments_sweep() == [payment.id]

    assert status_of(payment) == PaymentStatus.EXPIRED
    assert PairingFailure.objects.count() == 0
    assert not Transaction.objects.filter(payment_session=payment).exists()  # extensions are charged at approval only


def test_an_extension_payment_awaiting_the_mitras_answer_is_not_expired(make_customer, active_chat, make_tier):
    # given an extension request the mitra has not answered yet, on a payment past its expiry
    customer = make_customer()
    session = active_chat(customer).session
    payment = _extension_payment(customer, session, make_tier)
    extension = extension_services.extension_request(customer=customer, chat_session_id=session.id, payment_id=payment.id)
    expire(payment)

    # when the sweeper runs, then the payment waits for the answer
    assert payments_sweep() == []
    assert status_of(payment) == PaymentStatus.CONFIRMED

    # and the mitra's approval still consumes and charges it exactly once
    extension_services.extension_approve(mitra=session.mitra, extension_id=extension.id)
    assert payments_sweep() == []
    assert status_of(payment) == PaymentStatus.CONSUMED
    assert list(Transaction.objects.filter(payment_session=payment).values_list("amount", flat=True)) == [25_000]
    assert PairingFailure.objects.count() == 0


# --- side effects after commit ----------------------------------------------------------
def test_one_after_commit_delivery_for_the_whole_batch(make_customer, confirmed_payment, pending_payment, django_capture_on_commit_callbacks):
    customers = [make_customer() for _ in range(3)]
    payments = [confirmed_payment(c) for c in customers] + [pending_payment(customers[0])]
    expire(*payments)

    with django_capture_on_commit_callbacks() as callbacks:
        assert len(payments_sweep()) == 4

    assert len(callbacks) == 1  # one fan-out for every customer, not one per payment


def test_no_delivery_when_nothing_is_stale(make_customer, confirmed_payment, django_capture_on_commit_callbacks):
    confirmed_payment(make_customer())

    with django_capture_on_commit_callbacks() as callbacks:
        assert payments_sweep() == []

    assert callbacks == []


# --- the management command --------------------------------------------------------------
def test_manage_py_sweep_payments_runs_the_sweeper_once(make_customer, confirmed_payment, pending_payment):
    customer = make_customer()
    charged, pending, fresh = confirmed_payment(customer, amount=50_000), pending_payment(customer), confirmed_payment(customer)
    expire(charged, pending)
    out = StringIO()

    call_command("sweep_payments", stdout=out)

    assert out.getvalue().startswith("sweep_payments: 2 payment session(s) expired;")
    assert (status_of(charged), status_of(pending), status_of(fresh)) == ("expired", "expired", "confirmed")
    assert list(PairingFailure.objects.values_list("payment_session_id", "cause_tag", "amount")) == [
        (charged.id, CauseTag.PAYMENT_EXPIRED_UNUSED, 50_000)
    ]
    assert len(sweep_events()) == 2

    again = StringIO()
    call_command("sweep_payments", stdout=again)
    assert again.getvalue().startswith("sweep_payments: 0 payment session(s) expired;")
    assert PairingFailure.objects.count() == 1 and len(sweep_events()) == 2


# --- cost does not grow with the batch -----------------------------------------------------
def _stale_batch(make_customer, confirmed_payment, pending_payment, n: int) -> None:
    customers = [make_customer() for _ in range(3)]
    payments = []
    for i in range(n):
        customer = customers[i % 3]
        payments.append(pending_payment(customer) if i % 3 == 0 else confirmed_payment(customer))
    expire(*payments)


def test_sweeping_30_costs_the_same_queries_as_sweeping_3(make_customer, confirmed_payment, pending_payment, django_assert_num_queries):
    # given 3 stale payments (pending and charged), the cost of sweeping them
    _stale_batch(make_customer, confirmed_payment, pending_payment, 3)
    with CaptureQueriesContext(connection) as small:
        assert len(payments_sweep()) == 3
    assert PairingFailure.objects.count() == 2

    # when 30 are stale, then sweeping them costs exactly as many queries
    _stale_batch(make_customer, confirmed_payment, pending_payment, 30)
    with django_assert_num_queries(len(small.captured_queries)):
        assert len(payments_sweep()) == 30
    assert PairingFailure.objects.count() == 2 + 20
    assert PaymentEvent.objects.filter(reason="sweeper").count() == 33


# --- the customer is told over the websocket ------------------------------------------------
async def _sweep_while_connected(token: str, other_token: str) -> tuple:
    mine = WebsocketCommunicator(application, f"/ws/client/?token={token}")
    theirs = WebsocketCommunicator(application, f"/ws/client/?token={other_token}")
    try:
        connected = ((await mine.connect())[0], (await theirs.connect())[0])
        expired = await database_sync_to_async(payments_sweep)()
        event = await mine.receive_json_from(timeout=30)
        others_silent = await theirs.receive_nothing(timeout=0.3)
        mine_no_more = await mine.receive_nothing(timeout=0.1)
        return connected, expired, event, others_silent, mine_no_more
    finally:
        await mine.disconnect()
        await theirs.disconnect()


@pytest.mark.django_db(transaction=True)
def test_the_customer_gets_a_payment_expired_event(make_customer, api_client_for, confirmed_payment):
    # given a customer connected to the client socket whose paid payment has run out,
    # and another customer connected too (who has nothing expiring)
    customer, bystander = make_customer(), make_customer()
    payment = confirmed_payment(customer)
    confirmed_payment(bystander)
    expire(payment)
    token, other_token = api_client_for(customer).tokens["access"], api_client_for(bystander).tokens["access"]

    # when the sweeper runs
    connected, expired, event, others_silent, mine_no_more = asyncio.run(_sweep_while_connected(token, other_token))

    # then exactly that customer is told, once
    assert connected == (True, True)
    assert expired == [payment.id]
    assert event == {"type": "payment_expired", "payment_session_id": str(payment.id)}
    assert others_silent and mine_no_more
    assert PaymentSession.objects.get(id=payment.id).status == PaymentStatus.EXPIRED
