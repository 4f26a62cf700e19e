"""Row locks of payments (``payment_sessions``: after accounts and chat sessions in the
lock order, ``config/locks.py``)."""

from __future__ import annotations

from config.errors import NotFoundError
from config.locks import row_lock
from payments.models import PaymentSession


def payment_lock(*, payment_id, customer=None) -> PaymentSession:
    """Re-read a payment under ``SELECT … FOR UPDATE``; another customer's is "not found"."""
    qs = PaymentSession.objects.filter(id=payment_id)
    if customer is not None:
        qs = qs.filter(customer=customer)
    payment = row_lock(qs)
    if payment is None:
        raise NotFoundError("Payment session not found.")
    return payment
