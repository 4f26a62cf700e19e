from failed_pairings.models import PairingFailure


def pairing_failures_list():
    """Newest first, with everything the list shows in the same query."""
    return PairingFailure.objects.select_related(
        "customer__customer_profile", "targeted_mitra__mitra_profile", "payment_session", "actioned_by"
    ).order_by("-created_at", "-id")
