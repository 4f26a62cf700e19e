from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, QuerySet

from config.errors import ErrorCode
from failed_pairings.models import MONEY_ACTIONS, CauseTag, PairingFailure
from payments.models import PaymentStatus

_STILL_USABLE = (PaymentStatus.PENDING, PaymentStatus.CONFIRMED)


def pairing_failures_list():
    """Newest first, with everything the list shows in the same query."""
    return PairingFailure.objects.select_related(
        "customer__customer_profile", "targeted_mitra__mitra_profile", "payment_session", "actioned_by"
    ).order_by("-created_at", "-id")


def open_failure_counts_by_cause() -> dict[str, int]:
    """Failure rows no operator has actioned yet (``operator_action`` empty, as the
    control center counts them), by cause tag: one ``GROUP BY`` (the metrics scrape)."""
    counts = dict.fromkeys(CauseTag.values, 0)
    rows = PairingFailure.objects.filter(operator_action="").order_by().values_list("cause_tag").annotate(n=Count("id"))
    counts.update(dict(rows))
    return counts


# --- the money-action rule (SPEC §7): one owner for the service and the control center ---------
@dataclass(frozen=True)
class MoneyActionRefusal:
    code: str
    detail: str


def money_action_refusal(*, payment_status: str, payment_has_money_action: Callable[[], bool]) -> MoneyActionRefusal | None:
    """Why a money action (refunded / credited) on a failure row of this payment is
    refused, or None when it is allowed. The payment was consumed in the end; it can
    still be used for a chat (pending or confirmed: refunding now could pay twice);
    a failure row of it already got a money action — checked in this order.
    ``payment_has_money_action`` is called only when the status allows the action, so
    a caller that has to query for it queries only then."""
    if payment_status == PaymentStatus.CONSUMED:
        return MoneyActionRefusal(
            ErrorCode.MONEY_ACTION_NOT_ALLOWED, "The payment was used for a session in the end; nothing to refund."
        )
    if payment_status in _STILL_USABLE:
        return MoneyActionRefusal(
            ErrorCode.MONEY_ACTION_NOT_ALLOWED,
            "The payment can still be used for a chat until it expires; refund or credit it after that.",
        )
    if payment_has_money_action():
        return MoneyActionRefusal(
            ErrorCode.MONEY_ACTION_NOT_ALLOWED, "Another row of this payment was already refunded or credited."
        )
    return None


def _money_actions_of_payment(payment_id) -> QuerySet[PairingFailure]:
    return PairingFailure.objects.filter(payment_session_id=payment_id, operator_action__in=MONEY_ACTIONS)


def payment_has_money_action(*, payment_id) -> bool:
    """Whether a failure row of this payment got a money action (one query)."""
    return _money_actions_of_payment(payment_id).exists()


def pairing_failures_with_money_action_state(queryset: QuerySet[PairingFailure]) -> QuerySet[PairingFailure]:
    """Annotate ``payment_has_money_action`` in the rows' own query, so a page of rows
    asks ``money_action_possible`` without a query per row (with ``payment_session``
    selected, as ``pairing_failures_list`` does)."""
    return queryset.annotate(payment_has_money_action=Exists(_money_actions_of_payment(OuterRef("payment_session_id"))))


def money_action_possible(failure: PairingFailure) -> bool:
    """For a row from ``pairing_failures_with_money_action_state``: whether
    ``failed_pairing_action`` would accept refunded / credited on it now."""
    return money_action_refusal(
        payment_status=failure.payment_session.status,
        payment_has_money_action=lambda: failure.payment_has_money_action,
    ) is None
