"""Operator actions on failed pairings (SPEC §7), enforced by the server whatever the page shows.

- An action is final: a second one is refused (409 ``already_actioned``).
- A money action (refunded / credited) is refused (409 ``money_action_not_allowed``)
  when the payment was in the end consumed, when another failure row of the same
  payment already got one, or while the payment can still be used (pending or
  confirmed: the customer may still chat on it, so refunding now could pay twice).
- Every action is kept in ``pairing_failure_actions``.

Concurrent actions serialize on the payment row, then the failure row; a partial
unique index allows one money action per payment even if that were bypassed.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from config.errors import ConflictError, ErrorCode, NotFoundError
from failed_pairings.models import MONEY_ACTIONS, PairingFailure, PairingFailureAction
from payments.models import PaymentSession, PaymentStatus

_STILL_USABLE = (PaymentStatus.PENDING, PaymentStatus.CONFIRMED)


@transaction.atomic
def failed_pairing_action(*, failure_id, action: str, actor, note: str = "") -> PairingFailure:
    payment_id = PairingFailure.objects.filter(id=failure_id).values_list("payment_session_id", flat=True).first()
    if payment_id is None:
        raise NotFoundError("Failed pairing not found.")
    payment = PaymentSession.objects.select_for_update().get(pk=payment_id)
    failure = PairingFailure.objects.select_for_update().get(pk=failure_id)
    if failure.operator_action:
        raise ConflictError(
            ErrorCode.ALREADY_ACTIONED, f"This row was already marked {failure.operator_action}.",
            operator_action=failure.operator_action,
        )
    if action in MONEY_ACTIONS:
        if payment.status == PaymentStatus.CONSUMED:
            raise ConflictError(
                ErrorCode.MONEY_ACTION_NOT_ALLOWED, "The payment was used for a session in the end; nothing to refund.",
                payment_status=payment.status,
            )
        if payment.status in _STILL_USABLE:
            raise ConflictError(
                ErrorCode.MONEY_ACTION_NOT_ALLOWED,
                "The payment can still be used for a chat until it expires; refund or credit it after that.",
                payment_status=payment.status,
            )
        if PairingFailure.objects.filter(payment_session=payment, operator_action__in=MONEY_ACTIONS).exists():
            raise ConflictError(
                ErrorCode.MONEY_ACTION_NOT_ALLOWED, "Another row of this payment was already refunded or credited.",
                payment_status=payment.status,
            )
    now = timezone.now()
    failure.operator_action = action
    failure.actioned_by = actor
    failure.actioned_at = now
    failure.note = note or ""
    failure.save(update_fields=["operator_action", "actioned_by", "actioned_at", "note"])
    PairingFailureAction.objects.create(
        failure=failure, action=action, note=note or "", actor=actor, payment_status=payment.status
    )
    return failure
