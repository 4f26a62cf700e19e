"""Payment commands: the state machine of SPEC §4, charges, the sweeper.

Lock order across the codebase: mitra profile → chat session → payment session.
Every transition is a conditional update on the locked row and writes a
``payment_events`` row; replays (confirm twice, cancel twice) change nothing.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Role, User
from accounts.locks import account_in_use_lock, account_lock
from config.errors import AppError, ConflictError, ErrorCode, NotFoundError
from config.on_commit import task_after_commit
from config.sql import json_param, sql_literals
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
from extensions.models import Extension, ExtensionStatus
from failed_pairings.models import CauseTag, PairingFailure
from pairing.models import LIVE_STATUSES, ChatSession, ChatStatus
from payments.locks import payment_lock
from payments.midtrans import RETRY_BACKOFF_SECONDS, GatewayError, GatewayRefusal, MidtransClient, is_settled, signature_matches
from payments.providers import get_payment_provider
from realtime.delivery import Event, deliver
from payments.selectors import NO_GATEWAY, free_trial_eligible, uses_gateway
from safety.selectors import customer_blocked_mitra

logger = logging.getLogger(__name__)

#: tasks these services enqueue by name after commit (config.on_commit.task_after_commit)
GATEWAY_CANCEL_TASK = "payments.tasks.gateway_cancel"
EXTENSION_REFUND_TASK = "payments.tasks.extension_refund"


def _event(payment: PaymentSession, *, from_status: str, to_status: str, reason: str, actor=None, **gateway) -> None:
    """``gateway``: ``gateway_transaction_id`` and ``gateway_status`` of a notification."""
    PaymentEvent.objects.create(
        payment_session=payment, from_status=from_status, to_status=to_status, reason=reason, actor=actor, **gateway
    )


def payment_transition(payment: PaymentSession, *, to_status: str, reason: str, actor=None, gateway: dict | None = None, **fields) -> None:
    """Move a payment the caller holds locked; ``fields`` are written with it; ``gateway``
    names the notification that moved it."""
    from_status = payment.status
    payment.status = to_status
    for name, value in fields.items():
        setattr(payment, name, value)
    payment.save(update_fields=["status", "updated_at", *fields])
    _event(payment, from_status=from_status, to_status=to_status, reason=reason, actor=actor, **(gateway or {}))


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
        # serialize this customer's free-trial requests (the partial unique index is the
        # last word); an account erased meanwhile is refused, as account_in_use_lock does
        if account_lock(customer.pk, is_active=True) is None:
            raise AppError(ErrorCode.AUTHENTICATION_FAILED, "This account can no longer be used.", status=401)
        if not free_trial_eligible(customer=customer):
            raise AppError(ErrorCode.FREE_TRIAL_NOT_ELIGIBLE, "The free trial is not available for this account.")
        amount, minutes = 0, config_get("free_trial_duration_minutes")
    else:
        account_in_use_lock(customer.id)  # an erasure committed meanwhile refuses this; one waiting waits for it
        tier = PricingTier.objects.filter(id=tier_id, is_active=True, kind=kind).first()
        if tier is None:
            raise AppError(ErrorCode.INVALID_TIER, f"No active {kind} tier with this id.", errors={"tier_id": ["Unknown tier."]})
        amount, minutes = tier.amount, tier.duration_minutes

    chat_session = None
    if is_extension:
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
        if customer_blocked_mitra(customer_id=customer.id, mitra_id=targeted_mitra.id):
            # refused before any money is taken (SPEC §12); the returning request checks again
            raise ConflictError(ErrorCode.MITRA_BLOCKED, "You blocked this bestie. Unblock them first to chat again.")

    provider_name = "free_trial" if free_trial else get_payment_provider().name
    payment = PaymentSession.objects.create(
        customer=customer,
        tier=tier,
        amount=amount,
        duration_minutes=minutes,
        is_free_trial=free_trial,
        is_extension=is_extension,
        targeted_mitra=targeted_mitra,
        chat_session=chat_session,
        provider=provider_name,
        expires_at=timezone.now() + timedelta(minutes=config_get("payment_session_timeout_minutes")),
    )
    _event(payment, from_status="", to_status=PaymentStatus.PENDING, reason="created", actor=customer)
    return payment


# --- the gateway's payment page (SPEC §11) -------------------------------------------------
def payment_page_missing(payment: PaymentSession) -> bool:
    """A pending gateway payment whose payment page could not be opened yet."""
    return uses_gateway(payment) and payment.status == PaymentStatus.PENDING and not payment.snap_token


def payment_provider_open(*, payment_id, deadline: float | None = None, must: bool = False) -> PaymentSession:
    """Open the gateway's payment page of a pending payment that has none yet (Snap:
    ``snap_token`` + ``redirect_url``). Call outside any transaction: it talks to the
    gateway, trying again until ``deadline`` (monotonic). A failure is kept in
    ``provider_error`` (the next read tries again); with ``must`` it is 502
    ``payment_provider_unavailable``."""
    payment = PaymentSession.objects.get(id=payment_id)
    if not uses_gateway(payment) or payment.snap_token or payment.status != PaymentStatus.PENDING:
        return payment
    provider = get_payment_provider()
    deadline = deadline if deadline is not None else time.monotonic()
    error = ""
    while True:
        try:
            opened = provider.start(payment, deadline=deadline)
        except GatewayRefusal as exc:
            error = f"refused: {exc}"
            break  # the same request would be refused again
        except GatewayError as exc:
            error = f"unreachable: {exc}"
            if time.monotonic() + RETRY_BACKOFF_SECONDS >= deadline:
                break
            time.sleep(RETRY_BACKOFF_SECONDS)
        else:
            PaymentSession.objects.filter(id=payment.id, snap_token="").update(
                snap_token=opened.get("snap_token", ""), redirect_url=opened.get("redirect_url", ""), provider_error="",
                updated_at=timezone.now(),
            )
            return PaymentSession.objects.get(id=payment.id)
    logger.warning("payment %s: the gateway's payment page could not be opened: %s", payment.id, error)
    PaymentSession.objects.filter(id=payment.id, snap_token="").update(provider_error=error[:500], updated_at=timezone.now())
    payment.refresh_from_db()
    if must and not payment.snap_token:
        raise AppError(
            ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE, "The payment provider is not reachable right now. Try again shortly.",
            status=502,
        )
    return payment


def payment_session_confirm(*, customer: User, payment_id) -> PaymentSession:
    """pending → confirmed. Session payments are charged now; extensions at approval.
    Confirming a confirmed payment again returns it unchanged. With a gateway, the
    gateway is asked first (outside the row lock) whether the payment settled."""
    payment = PaymentSession.objects.filter(id=payment_id, customer=customer).first()
    settled = True
    if payment is not None and payment.status == PaymentStatus.PENDING and uses_gateway(payment):
        try:
            settled = get_payment_provider().is_settled(payment)
        except (GatewayError, GatewayRefusal) as exc:
            logger.warning("payment %s: the gateway's status could not be read: %s", payment.id, exc)
            raise AppError(
                ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE, "The payment provider is not reachable right now. Try again shortly.",
                status=502,
            ) from None
    return _payment_confirm(customer=customer, payment_id=payment_id, settled=settled)


@transaction.atomic
def _payment_confirm(*, customer: User, payment_id, settled: bool) -> PaymentSession:
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
    if not settled:
        raise ConflictError(ErrorCode.PAYMENT_NOT_SETTLED, "The payment has not been settled yet.")
    _confirm_locked(payment, reason="confirmed", actor=customer)
    return payment


def _confirm_locked(payment: PaymentSession, *, reason: str, actor=None, gateway: dict | None = None) -> None:
    """pending → confirmed on a locked row; a session payment is charged now."""
    payment_transition(payment, to_status=PaymentStatus.CONFIRMED, reason=reason, actor=actor, gateway=gateway, confirmed_at=timezone.now())
    if not payment.is_extension and payment.amount > 0:
        Transaction.objects.create(payment_session=payment, kind=TransactionKind.CHARGE, amount=payment.amount)


@transaction.atomic
def payment_session_cancel(*, customer: User, payment_id) -> PaymentSession:
    """cancel-if-pending: pending → abandoned; any other state is left as it is."""
    payment = payment_lock(payment_id=payment_id, customer=customer)
    if payment.status == PaymentStatus.PENDING:
        payment_transition(payment, to_status=PaymentStatus.ABANDONED, reason="customer_backed_out", actor=customer)
    return payment


# --- the sweeper ------------------------------------------------------------------------
# 1. claim the stale rows (a chat start or extension holding a payment's lock is skipped)
#    (a pending payment at a gateway is not: the gateway is asked first, gateway_payments_reconcile)
_SWEEP_CLAIM_SQL = f"""
SELECT id FROM payment_sessions
WHERE status IN ({sql_literals(PaymentStatus.PENDING, PaymentStatus.CONFIRMED)}) AND expires_at <= %(now)s
  AND NOT (status = {sql_literals(PaymentStatus.PENDING)} AND provider NOT IN ({sql_literals(*NO_GATEWAY)}))
FOR UPDATE SKIP LOCKED
"""
# 2. one batch UPDATE, in a new statement: its snapshot sees every attempt committed
#    before the claim, and none can start on a claimed row while we hold its lock
_SWEEP_SQL = f"""
WITH stale AS (
    SELECT p.id, p.status
    FROM payment_sessions p
    WHERE p.id IN (SELECT c.id::uuid FROM jsonb_array_elements_text(%(ids)s::jsonb) AS c(id))
      AND NOT EXISTS (
          SELECT 1 FROM chat_sessions c
          WHERE c.payment_session_id = p.id AND c.status IN ({sql_literals(*LIVE_STATUSES)})
      )
      AND NOT EXISTS (
          SELECT 1 FROM extensions e WHERE e.payment_session_id = p.id AND e.status = {sql_literals(ExtensionStatus.PENDING)}
      )
)
UPDATE payment_sessions p
SET status = {sql_literals(PaymentStatus.EXPIRED)}, updated_at = %(now)s
FROM stale
WHERE p.id = stale.id
RETURNING p.id, p.customer_id, stale.status, p.amount,
          EXISTS (SELECT 1 FROM transactions t WHERE t.payment_session_id = p.id AND t.kind = {sql_literals(TransactionKind.CHARGE)})
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
    # paid at a gateway for an extension that never came: the money goes back by itself
    confirmed = [pid for pid, _, old, _, _ in rows if old == PaymentStatus.CONFIRMED]
    if confirmed:
        for payment in PaymentSession.objects.filter(id__in=confirmed, is_extension=True).exclude(provider__in=NO_GATEWAY):
            extension_payment_refund_schedule(payment)
    logger.info("sweeper expired %d payment sessions", len(rows))
    return [pid for pid, *_ in rows]


# --- the gateway's notifications (SPEC §11) ------------------------------------------------
_NOTIFICATION_FIELDS = ("order_id", "status_code", "gross_amount", "signature_key", "transaction_status", "transaction_id")
_GATEWAY_ENDS = {"deny": PaymentStatus.ABANDONED, "cancel": PaymentStatus.ABANDONED, "expire": PaymentStatus.EXPIRED}


def midtrans_notification_receive(*, payload) -> str:
    """Verify and apply one Midtrans HTTP notification; returns what it did. Refusals
    (``AppError``) change nothing: 400 not a notification or another amount, 403 a bad
    signature, 404 an order that is not one of our payments."""
    if not isinstance(payload, dict):
        raise AppError(ErrorCode.INVALID_INPUT, "Send a Midtrans notification (a JSON object).")
    missing = [name for name in _NOTIFICATION_FIELDS if not isinstance(payload.get(name), str) or not payload.get(name)]
    if missing:
        raise AppError(ErrorCode.INVALID_INPUT, f"{missing[0]}: required.", errors={name: ["This field is required."] for name in missing})
    order_id = payload["order_id"]
    if not signature_matches(payload):
        logger.warning("midtrans notification refused: bad signature (order %.64s, status %.32s)", order_id, payload["transaction_status"])
        raise AppError(ErrorCode.INVALID_SIGNATURE, "The notification's signature does not match.", status=403)
    try:
        payment_id = uuid.UUID(order_id)
    except ValueError:
        payment_id = None
    payment = PaymentSession.objects.filter(id=payment_id).first() if payment_id else None
    if payment is None:
        logger.warning("midtrans notification refused: unknown order %.64s", order_id)
        raise AppError(ErrorCode.UNKNOWN_ORDER, "No payment session has this order_id.", status=404)
    try:
        amount = Decimal(payload["gross_amount"])
    except InvalidOperation:
        amount = None
    if amount != payment.amount:
        logger.warning("midtrans notification refused: order %s carries another amount", payment.id)
        raise AppError(ErrorCode.AMOUNT_MISMATCH, "gross_amount is not this payment's amount.")
    return _notification_apply(payment_id=payment.id, payload=payload)


@transaction.atomic
def _notification_apply(*, payment_id, payload: dict) -> str:

    payment = payment_lock(payment_id=payment_id)
    state = payload["transaction_status"][:32]
    gateway = {"gateway_transaction_id": payload["transaction_id"][:128], "gateway_status": state}
    if PaymentEvent.objects.filter(**gateway).exists():
        return "duplicate"  # Midtrans sends a notification again until it gets a 200
    settled = state == "settlement" or (state == "capture" and payload.get("fraud_status") == "accept")
    if settled and payment.status == PaymentStatus.PENDING:
        _confirm_locked(payment, reason="gateway_settled", gateway=gateway)
        return "confirmed"
    if settled and payment.status in (PaymentStatus.EXPIRED, PaymentStatus.ABANDONED) and payment.confirmed_at is None:
        # paid after the session had ended: never lost, an operator refunds it (a payment
        # confirmed before, through the Status API, is accounted for already)
        _event(payment, from_status=payment.status, to_status=payment.status, reason="gateway_settled_late", **gateway)
        PairingFailure.objects.get_or_create(
            payment_session=payment, cause_tag=CauseTag.PAYMENT_SETTLED_AFTER_EXPIRY,
            defaults={"customer_id": payment.customer_id, "amount": payment.amount},
        )
        return "settled_after_expiry"
    if state in _GATEWAY_ENDS and payment.status == PaymentStatus.PENDING:
        payment_transition(payment, to_status=_GATEWAY_ENDS[state], reason=f"gateway_{state}", gateway=gateway)
        return _GATEWAY_ENDS[state]
    # pending, refunds, and news about a payment already past that point: recorded only
    _event(payment, from_status=payment.status, to_status=payment.status, reason=f"gateway_{state}"[:64], **gateway)
    return "recorded"


# --- reconciliation with the gateway (SPEC §11) ----------------------------------------------
RECONCILE_BATCH = 100


def gateway_payments_reconcile(*, now=None, limit: int = RECONCILE_BATCH) -> dict[str, int]:
    """The sweeper's step for pending gateway payments past ``expires_at``: each one's
    status is asked from the gateway (outside any transaction) before anything changes.
    Settled → confirmed (a lost notification loses no money; the sweeper then treats it
    as paid and unused, refundable). Otherwise → expired, and cancelled at the gateway
    after the commit. A gateway that cannot be reached leaves the row for the next pass:
    a payment is never expired without knowing that it was not paid."""

    now = now or timezone.now()
    due = list(
        PaymentSession.objects.filter(status=PaymentStatus.PENDING, expires_at__lte=now, provider="midtrans")
        .order_by("expires_at").values_list("id", flat=True)[:limit]
    )
    outcome = {"confirmed": 0, "expired": 0, "unknown": 0}
    client = MidtransClient() if due else None
    for payment_id in due:
        try:
            settled = is_settled(client.status(str(payment_id)))
        except (GatewayError, GatewayRefusal) as exc:
            logger.warning("payment %s: the gateway's status could not be read (%s); trying again next pass", payment_id, exc)
            outcome["unknown"] += 1
            continue
        outcome[_reconcile_one(payment_id=payment_id, settled=settled)] += 1
    return outcome


@transaction.atomic
def _reconcile_one(*, payment_id, settled: bool) -> str:
    payment = payment_lock(payment_id=payment_id)
    if payment.status != PaymentStatus.PENDING:
        return "unknown"  # a notification or the app's confirm got there first
    if settled:
        _confirm_locked(payment, reason="gateway_reconciled")
        return "confirmed"
    payment_transition(payment, to_status=PaymentStatus.EXPIRED, reason="sweeper")
    task_after_commit(GATEWAY_CANCEL_TASK, str(payment.id))
    return "expired"


def gateway_payment_cancel(*, payment_id) -> None:
    """Cancel an expired payment's transaction at the gateway (so it cannot be paid any
    more); a gateway that refuses because there is nothing to cancel is fine."""

    try:
        MidtransClient().cancel(str(payment_id))
    except GatewayRefusal as exc:
        logger.info("payment %s: the gateway did not cancel (%s)", payment_id, exc)


# --- unused extension payments go back through the gateway (SPEC §11) -------------------------
EXTENSION_REFUND_REASON = "Curhat: perpanjangan sesi tidak terpakai"


def extension_payment_refund_schedule(payment: PaymentSession) -> None:
    """After the commit that ended an extension payment unused (released, or expired
    while confirmed): refund it at the gateway. Nothing for payments no gateway took."""
    if payment.is_extension and uses_gateway(payment):
        task_after_commit(EXTENSION_REFUND_TASK, str(payment.id))


def extension_payment_refund_run(*, payment_id) -> str:
    """Refund an unused extension payment at the gateway (``refund_key`` = its extension's
    id, or the payment's when it never got one: a retry never refunds twice). A refusal
    puts an ``extension_unused`` row on Failed Pairings. Raises ``GatewayError`` while the
    gateway cannot be reached (the task tries again)."""

    payment = PaymentSession.objects.filter(id=payment_id, is_extension=True).first()
    if payment is None or payment.status not in (PaymentStatus.RELEASED, PaymentStatus.EXPIRED) or not uses_gateway(payment):
        return "nothing"
    if Transaction.objects.filter(payment_session=payment, kind=TransactionKind.REFUND).exists():
        return "nothing"
    refund_key = Extension.objects.filter(payment_session=payment).values_list("id", flat=True).first() or payment.id

    try:
        MidtransClient().refund(order_id=str(payment.id), refund_key=str(refund_key), amount=payment.amount, reason=EXTENSION_REFUND_REASON)
    except GatewayRefusal as exc:
        return _extension_refund_answered(payment_id=payment.id, refused=str(exc))
    return _extension_refund_answered(payment_id=payment.id, refused="")


@transaction.atomic
def _extension_refund_answered(*, payment_id, refused: str) -> str:

    payment = payment_lock(payment_id=payment_id)
    if refused:
        logger.warning("extension payment %s: the gateway refused its refund (%s); left to operators", payment.id, refused)
        PairingFailure.objects.get_or_create(
            payment_session=payment, cause_tag=CauseTag.EXTENSION_UNUSED,
            defaults={"customer_id": payment.customer_id, "amount": payment.amount, "refund_error": refused[:500]},
        )
        return "refused"
    if Transaction.objects.filter(payment_session=payment, kind=TransactionKind.REFUND).exists():
        return "nothing"
    Transaction.objects.create(payment_session=payment, kind=TransactionKind.REFUND, amount=payment.amount)
    _event(payment, from_status=payment.status, to_status=payment.status, reason="gateway_refunded")
    return "refunded"
