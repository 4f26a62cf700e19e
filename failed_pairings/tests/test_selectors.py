"""The money-action rule (``failed_pairings.selectors.money_action_refusal``) that both
``failed_pairing_action`` and the control center's Failed Pairings page follow."""

from __future__ import annotations

import pytest

from config.errors import ErrorCode
from failed_pairings.selectors import MoneyActionRefusal, money_action_refusal
from payments.models import PaymentStatus

CONSUMED = MoneyActionRefusal(ErrorCode.MONEY_ACTION_NOT_ALLOWED, "The payment was used for a session in the end; nothing to refund.")
USABLE = MoneyActionRefusal(
    ErrorCode.MONEY_ACTION_NOT_ALLOWED,
    "The payment can still be used for a chat until it expires; refund or credit it after that.",
)
OTHER_ROW = MoneyActionRefusal(ErrorCode.MONEY_ACTION_NOT_ALLOWED, "Another row of this payment was already refunded or credited.")


def never_asked() -> bool:
    raise AssertionError("asked whether another row has a money action although the status refuses already")


@pytest.mark.parametrize(
    ("status", "expected"),
    [(PaymentStatus.CONSUMED, CONSUMED), (PaymentStatus.PENDING, USABLE), (PaymentStatus.CONFIRMED, USABLE)],
)
def test_the_payment_status_refuses_first_without_asking_about_other_rows(status, expected):
    assert money_action_refusal(payment_status=status, payment_has_money_action=never_asked) == expected


@pytest.mark.parametrize("status", [s for s in PaymentStatus.values if s not in ("consumed", "pending", "confirmed")])
def test_a_finished_unused_payment_allows_one_money_action(status):
    assert money_action_refusal(payment_status=status, payment_has_money_action=lambda: False) is None
    assert money_action_refusal(payment_status=status, payment_has_money_action=lambda: True) == OTHER_ROW
