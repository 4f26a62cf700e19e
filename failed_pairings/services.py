"""Operator actions on failed pairings (SPEC §7), enforced by the server whatever the page shows.

- An action is final: a second one is refused (409 ``already_actioned``).
- A money action (refunded / credited) is refused (409 ``money_action_not_allowed``)
  when the payment was in the end consumed, when another failure row of the same
  payment already got one, or while the payment can still be used (pending or
  confirmed: the customer may still chat on it, so refunding now could pay twice) —
  ``failed_pairings.selectors.money_action_refusal``, which the control center's
  page asks too.
- Every action is kept in ``pairing_failure_actions``.
- With a payment gateway (SPEC §11), ``refunded`` asks the gateway: the row is
  ``refund_pending`` until it answers, then ``refunded`` (with a ``refund``
  transaction) or open again with the gateway's refusal in ``refund_error``.

Concurrent actions serialize on the payment row, then the failure row; a partial
unique index allows one money action per payment even if that were bypassed.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from config.errors import ConflictError, ErrorCode
from config.on_commit import task_after_commit
from failed_pairings.locks import failure_with_payment_lock
from failed_pairings.models import MONEY_ACTIONS, OperatorAction, PairingFailure, PairingFailureAction
from failed_pairings.selectors import money_action_refusal, payment_has_money_action
from payments.midtrans import GatewayRefusal, MidtransClient
from payments.models import Transaction, TransactionKind
from payments.selectors import uses_gateway

#: the task that asks the gateway for a refund (enqueued by name after commit)
GATEWAY_REFUND_TASK = "failed_pairings.tasks.gateway_refund"

@transaction.atomic
def failed_pairing_action(*, failure_id, action: str, actor, note: str = "") -> PairingFailure:
    payment, failure = failure_with_payment_lock(failure_id)
    if failure.operator_action:
        raise ConflictError(
            ErrorCode.ALREADY_ACTIONED, f"This row was already marked {failure.operator_action}.",
            operator_action=failure.operator_action,
        )
    if action in MONEY_ACTIONS:
        refusal = money_action_refusal(
            payment_status=payment.status,
            payment_has_money_action=lambda: payment_has_money_action(payment_id=payment.pk),
        )
        if refusal is not None:
            raise ConflictError(refusal.code, refusal.detail, payment_status=payment.status)
    if action == OperatorAction.REFUNDED and uses_gateway(payment):
        # the gateway gives the money back; the row waits for its answer (SPEC §11)
        action = OperatorAction.REFUND_PENDING
        task_after_commit(GATEWAY_REFUND_TASK, str(failure.id))
    now = timezone.now()
    failure.operator_action = action
    failure.actioned_by = actor
    failure.actioned_at = now
    failure.note = note or ""
    failure.refund_error = ""
    failure.save(update_fields=["operator_action", "actioned_by", "actioned_at", "note", "refund_error"])
    PairingFailureAction.objects.create(
        failure=failure, action=action, note=note or "", actor=actor, payment_status=payment.status
    )
    return failure


# --- refunds through the payment gateway (SPEC §11) -------------------------------------------
REFUND_REASON = "Curhat: sesi tidak terlaksana"


def failed_pairing_refund_run(*, failure_id) -> str:
    """Ask the gateway to refund a ``refund_pending`` row (``refund_key`` = the row's id,
    so a retry never refunds twice), then record its answer. Raises ``GatewayError``
    while the gateway cannot be reached (the task tries again)."""
    failure = PairingFailure.objects.filter(id=failure_id).first()
    if failure is None or failure.operator_action != OperatorAction.REFUND_PENDING:
        return "nothing"
    try:
        MidtransClient().refund(
            order_id=str(failure.payment_session_id), refund_key=str(failure.id), amount=failure.amount, reason=REFUND_REASON,
        )
    except GatewayRefusal as exc:
        return _refund_answered(failure_id=failure.id, refused=str(exc))
    return _refund_answered(failure_id=failure.id, refused="")


@transaction.atomic
def _refund_answered(*, failure_id, refused: str) -> str:
    payment, failure = failure_with_payment_lock(failure_id)
    if failure.operator_action != OperatorAction.REFUND_PENDING:
        return "nothing"  # answered already (a retried task)
    if refused:
        # open again, with the gateway's word on it: the operator may credit instead
        failure.operator_action = ""
        failure.refund_error = refused[:500]
        failure.save(update_fields=["operator_action", "refund_error"])
        PairingFailureAction.objects.create(
            failure=failure, action=OperatorAction.REFUND_REFUSED, note=refused[:2000], actor=failure.actioned_by,
            payment_status=payment.status,
        )
        return "refused"
    failure.operator_action = OperatorAction.REFUNDED
    failure.save(update_fields=["operator_action"])
    Transaction.objects.create(payment_session=payment, kind=TransactionKind.REFUND, amount=failure.amount)
    PairingFailureAction.objects.create(
        failure=failure, action=OperatorAction.REFUNDED, note="refunded by the payment gateway", actor=failure.actioned_by,
        payment_status=payment.status,
    )
    return "refunded"

