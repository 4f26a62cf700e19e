from __future__ import annotations

from django.db.models import Count, Q

from config.errors import NotFoundError
from live_settings.selectors import config_get
from payments.models import PaymentSession, PaymentStatus, PricingTier


def pricing_tiers_list(*, kind: str) -> list[PricingTier]:
    return list(PricingTier.objects.filter(kind=kind, is_active=True).order_by("order", "amount"))


def free_trial_eligible(*, customer) -> bool:
    """Enabled, and the customer never had a session consumed nor holds a free trial."""
    if not config_get("free_trial_enabled"):
        return False
    return not PaymentSession.objects.filter(
        Q(is_extension=False, status=PaymentStatus.CONSUMED)
        | Q(is_free_trial=True, status__in=[PaymentStatus.PENDING, PaymentStatus.CONFIRMED]),
        customer=customer,
    ).exists()


def payment_session_get(*, customer, payment_id) -> PaymentSession:
    """The customer's own payment session; anyone else's is "not found"."""
    payment = PaymentSession.objects.filter(id=payment_id, customer=customer).first()
    if payment is None:
        raise NotFoundError("Payment session not found.")
    return payment



# payment providers that are no gateway: no money moves through them (SPEC §11)
NO_GATEWAY = ("instant", "free_trial")


def uses_gateway(payment: PaymentSession) -> bool:
    """Whether a payment gateway took (or takes) this payment's money."""
    return payment.provider not in NO_GATEWAY


def payment_counts_by_status() -> dict[str, int]:
    """Every payment session counted by status, one ``GROUP BY`` (the metrics scrape);
    a status nobody is in counts 0."""
    counts = dict.fromkeys(PaymentStatus.values, 0)
    rows = PaymentSession.objects.order_by().values_list("status").annotate(n=Count("id"))
    counts.update(dict(rows))
    return counts
