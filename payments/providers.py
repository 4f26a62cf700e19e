"""Payment providers behind one interface (``PAYMENT_PROVIDER``).

The instant provider confirms at once (development, tests). A real gateway such as
Midtrans Snap plugs in here: ``start`` creates the gateway transaction and returns
what the app needs to open the payment page; ``confirm`` reports whether the gateway
has settled it (its signed webhook calls ``payment_session_confirm`` too, which is
idempotent, so a webhook delivered twice changes nothing the second time).
"""

from __future__ import annotations

from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class PaymentProvider(Protocol):
    name: str

    def start(self, payment) -> dict: ...

    def is_settled(self, payment) -> bool: ...


class InstantProvider:
    name = "instant"

    def start(self, payment) -> dict:
        return {}

    def is_settled(self, payment) -> bool:
        return True


def get_payment_provider() -> PaymentProvider:
    return import_string(settings.PAYMENT_PROVIDER)()
