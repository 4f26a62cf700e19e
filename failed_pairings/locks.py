"""Row locks of failed pairings: a failure row after its payment, the last tables of the
lock order (``config/locks.py``)."""

from __future__ import annotations

from config.errors import NotFoundError
from config.locks import row_lock
from failed_pairings.models import PairingFailure
from payments.locks import payment_lock
from payments.models import PaymentSession


def failure_with_payment_lock(failure_id) -> tuple[PaymentSession, PairingFailure]:
    """The failure row's payment, then the row, both ``FOR UPDATE`` (404 when unknown):
    concurrent operator actions and gateway answers on one payment serialize here."""
    payment_id = PairingFailure.objects.filter(id=failure_id).values_list("payment_session_id", flat=True).first()
    if payment_id is None:
        raise NotFoundError("Failed pairing not found.")
    payment = payment_lock(payment_id=payment_id)
    failure = row_lock(PairingFailure.objects.filter(id=failure_id))
    return payment, failure
