from django.db.models import Count

from failed_pairings.models import CauseTag, PairingFailure


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
