"""Payment providers behind one interface (``PAYMENT_PROVIDER``, SPEC §11).

- ``InstantProvider`` confirms at once (development, tests, demos; refused with DEBUG off
  unless ``ALLOW_INSTANT_PAYMENTS=1``, config/settings.py).
- ``MidtransProvider`` opens a Snap payment page and asks Midtrans whether the payment
  settled (``payments/midtrans.py``); its signed notifications reach
  ``payments.services.midtrans_notification_receive``.

``start`` runs after the commit that created the payment row, never inside a
transaction or under a lock (it may talk to the gateway for seconds); ``is_settled``
likewise runs before the confirm locks the row. Free trials never reach a provider.
"""

from __future__ import annotations

import time
from typing import Protocol

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from payments.midtrans import MidtransClient, is_settled


class PaymentProvider(Protocol):
    name: str

    def start(self, payment, *, deadline: float | None = None) -> dict:
        """What the app needs to open the payment page: ``{"snap_token", "redirect_url"}``
        or ``{}``. Raises ``GatewayError`` / ``GatewayRefusal``."""

    def is_settled(self, payment) -> bool: ...


class InstantProvider:
    name = "instant"

    def start(self, payment, *, deadline: float | None = None) -> dict:
        return {}

    def is_settled(self, payment) -> bool:
        return True


class MidtransProvider:
    name = "midtrans"

    def __init__(self) -> None:
        self.client = MidtransClient()

    def start(self, payment, *, deadline: float | None = None) -> dict:
        remaining = int((payment.expires_at - timezone.now()).total_seconds() // 60)
        body = self.client.snap_create(order_id=str(payment.id), gross_amount=payment.amount, expiry_minutes=remaining, deadline=deadline)
        return {"snap_token": body["token"], "redirect_url": body.get("redirect_url", "")}

    def is_settled(self, payment) -> bool:
        return is_settled(self.client.status(str(payment.id)))


def get_payment_provider() -> PaymentProvider:
    return import_string(settings.PAYMENT_PROVIDER)()


def deadline_for_start() -> float:
    """The monotonic time until which opening a payment page may keep trying."""
    return time.monotonic() + settings.PAYMENT_PROVIDER_WAIT_SECONDS
