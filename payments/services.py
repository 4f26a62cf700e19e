"""Payment commands: the state machine of SPEC §4, charges, the sweeper.

Lock order across the codebase: mitra profile → chat session → payment session.
Every transition is a conditional update on the locked row and writes a
``payment_events`` row; replays (confirm twice, cancel twice) change nothing.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Role, User
from config.errors import AppError, ConflictError, ErrorCode, NotFoundError
from config.sql import json_param
from live_settings.selectors import config_get
from payments.models import (
    PaymentEvent,
    PaymentSession,
    PaymentStatus,
    PricingTier,
    TierKind,
    Transaction,
    TransactionKind,
)
from payments.providers import get_payment_provider
from payments.selectors import free_trial_eligible

logger = logging.getLogger(__name__)


def _event(payment: PaymentSession, *, from_status: str, to_status: str, reason: str, actor=None) -> None:
    PaymentEvent.objects.create(
        payment_session=payment, from_status=from_status, to_status=to_status, reason=reason, actor=actor
    )


def payment_lock(*, payment_id, customer=None) -> PaymentSession:
    """Re-read a payment under ``SELECT … FOR UPDATE``; another customer's is "not found"."""
    qs = PaymentSession.objects.select_for_update().filter(id=payment_id)
    if customer is not None:
        qs = qs.filter(customer=customer)
    payment = qs.first()
    if payment is None:
        raise NotFoundError("Payment session not found.")
    return payment


def payment_transition(payment: PaymentSession, *, to_status: str, reason: str, actor=None, **fields) -> None:
    """Move a payment the caller holds locked; ``fields`` are written with it."""
    from_status = payment.status
    payment.status = to_status
    for name, value in fields.items():
        setattr(payment, name, value)
    payment.save(update_fields=["status", "updated_at", *fields])
    _event(payment, from_status=from_status, to_status=to_status, reason=reason, actor=actor)


@transaction.atomic
def payment_session_create(
    *,
    customer: User,
    tier_id=None,
    free_trial: bool = False,
    targeted_mitra_id=None,
    is_extension: bool = False,
    chat_session_id=None,
) -> PaymentSession:
    if is_extension and free_trial:
        raise AppError(ErrorCode.FREE_TRIAL_NOT_ALLOWED, "Extensions cannot be paid with the free trial.")
    if not free_trial and tier_id is None:
        raise AppError(ErrorCode.INVALID_INPUT, "Send tier_id, or free_trial: true.", errors={"tier_id": ["This field is required."]})

    kind = TierKind.EXTENSION if is_extension else TierKind.SESSION
    tier = None
    if free_trial:
        # serialize this customer's free-trial requests; the partial unique index is the last word
        User.objects.select_for_update().filter(pk=customer.pk).first()
        if not free_trial_eligible(customer=customer):
            raise AppError(ErrorCode.FREE_TRIAL_NOT_ELIGIBLE, "The free trial is not available for this account.")
        amount, minutes = 0, config_get("free_trial_duration_minutes")
    else:
        tier = PricingTier.objects.filter(id=tier_id, is_active=True, kind=kind).first()
        if tier is None:
            raise AppError(ErrorCode.INVALID_TIER, f"No active {kind} tier with this id.", errors={"tier_id": ["Unknown tier."]})
        amount, minutes = tier.amount, tier.duration_minutes

    chat_session = None
    if is_extension:
        from pairing.models import ChatSession, ChatStatus

        chat_session = ChatSession.objects.filter(id=chat_session_id, customer=customer).first()
        if chat_session is None:
            raise NotFoundError("Chat session not found.")
        if chat_session.status != ChatStatus.ACTIVE:
            raise ConflictError(ErrorCode.SESSION_NOT_ACTIVE, "Only an active session can be extended.")

    targeted_mitra = None
    if targeted_mitra_id is not None and not is_extension:
        targeted_mitra = User.objects.filter(id=targeted_mitra_id, role=Role.MITRA).first()
        if targeted_mitra is None:
            raise AppError(ErrorCode.UNKNOWN_MITRA, "No bestie with this id.", errors={"targeted_mitra_id": ["Unknown mitra."]})

    provider = get_payment_provider()
    payment = PaymentSession.objects.create(
        customer=customer,
        tier=tier,
        amount=amount,
        duration_minutes=minutes,
        is_free_trial=free_trial,
        is_extension=is_extension,
        targeted_mitra=targeted_mitra,
        chat_session=chat_session,
        provider=provider.name,
        expires_at=timezone.now() + timedelta(minutes=config_get("payment_session_timeout_minutes")),
    )
    _event(payment, from_status="", to_status=PaymentStatus.PENDING, reason="created", actor=customer)
    provider.start(payment)
    return payment


@transaction.atomic
def payment_session_confirm(*, customer: User, payment_id) -> PaymentSession:
    """pending → confirmed. Session payments are charged now; extensions at approval.
    Confirming a confirmed payment again returns it unchanged."""
    payment = payment_lock(payment_id=payment_id, customer=customer)
    if payment.status == PaymentStatus.CONFIRMED:
        return payment
    if payment.status != PaymentStatus.PENDING:
        raise ConflictError(
            ErrorCode.PAYMENT_STATE_CONFLICT, f"A {payment.status} payment cannot be confirmed.",
            payment_status=payment.status,  # not ``status``: that keyword is AppError's HTTP status
        )
    if payment.expires_at <= timezone.now():
        raise ConflictError(ErrorCode.PAYMENT_EXPIRED, "This payment session has expired. Start a new one.")
    if not get_payment_provider().is_settled(payment):
        raise ConflictError(ErrorCode.PAYMENT_NOT_SETTLED, "The payment has not been settled yet.")
    payment_transition(payment, to_status=PaymentStatus.CONFIRMED, reason="confirmed", actor=customer, confirmed_at=timezone.now())
    if not payment.is_extension and payment.amount > 0:
        Transaction.objects.create(payment_session=payment, kind=TransactionKind.CHARGE, amount=payment.amount)
    return payment


@transaction.atomic
def payment_session_cancel(*, customer: User, payment_id) -> PaymentSession:
    """cancel-if-pending: pending → abandoned; any other state is left as it is."""
    payment = payment_lock(payment_id=payment_id, customer=customer)
    if payment.status == PaymentStatus.PENDING:
        payment_transition(payment, to_status=PaymentStatus.ABANDONED, reason="customer_backed_out", actor=customer)
    return payment


# --- the sweeper ------------------------------------------------------------------------
# 1. claim the stale rows (a chat start or extension holding a payment's lock is skipped)
_SWEEP_CLAIM_SQL = """
SELECT id FROM payment_sessions
WHERE status IN ('pending', 'confirmed') AND expires_at <= %(now)s
FOR UPDATE SKIP LOCKED
"""
# 2. one batch UPDATE, in a new statement: its snapshot sees every attempt committed
#    before the claim, and none can start on a claimed row while we hold its lock
_SWEEP_SQL = """
WITH stale AS (
    SELECT p.id, p.status
    FROM payment_sessions p
    WHERE p.id IN (SELECT c.id::uuid FROM jsonb_array_elements_text(%(ids)s::jsonb) AS c(id))
      AND NOT EXISTS (
          SELECT 1 FROM chat_sessions c
          WHERE c.payment_session_id = p.id AND c.status IN ('waiting', 'active', 'closing')
      )
      AND NOT EXISTS (
          SELECT 1 FROM extensions e WHERE e.payment_session_id = p.id AND e.status = 'pending'
      )
)
UPDATE payment_sessions p
SET status = 'expired', updated_at = %(now)s
FROM stale
WHERE p.id = stale.id
RETURNING p.id, p.customer_id, stale.status, p.amount,
          EXISTS (SELECT 1 FROM transactions t WHERE t.payment_session_id = p.id AND t.kind = 'charge')
"""
# 3. the append-only event of each expired row
_SWEEP_EVENTS_SQL = f"""
INSERT INTO {PaymentEvent._meta.db_table} (payment_session_id, from_status, to_status, reason)
SELECT e.id, e.from_status, %(to)s, 'sweeper' FROM jsonb_to_recordset(%(rows)s::jsonb) AS e(id uuid, from_status text)
"""


@transaction.atomic
def payments_sweep(*, now=None) -> list:
    """Expire every stale payment in one batch UPDATE (after claiming the rows); charged ones get a failure row;
    their customers are told (``payment_expired``) after the commit."""
    from failed_pairings.models import CauseTag, PairingFailure
    from realtime.delivery import Event, deliver

    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_SWEEP_CLAIM_SQL, {"now": now})
        claimed = [row[0] for row in cursor.fetchall()]
        if not claimed:
            return []
        cursor.execute(_SWEEP_SQL, {"now": now, "ids": json_param(claimed)})
        rows = cursor.fetchall()
    if not rows:
        return []
    # one statement, no model instance per row: a pass can expire thousands
    with connection.cursor() as cursor:
        cursor.execute(
            _SWEEP_EVENTS_SQL,
            {"rows": json_param([{"id": pid, "from_status": old} for pid, _, old, _, _ in rows]), "to": PaymentStatus.EXPIRED},
        )
    PairingFailure.objects.bulk_create(
        [
            PairingFailure(customer_id=cid, cause_tag=CauseTag.PAYMENT_EXPIRED_UNUSED, amount=amount, payment_session_id=pid)
            for pid, cid, old, amount, charged in rows
            if old == PaymentStatus.CONFIRMED and charged
        ],
        ignore_conflicts=True,
    )
    deliver(events=[Event(cid, {"type": "payment_expired", "payment_session_id": str(pid)}) for pid, cid, *_ in rows])
    logger.info("sweeper expired %d payment sessions", len(rows))
    return [pid for pid, *_ in rows]
