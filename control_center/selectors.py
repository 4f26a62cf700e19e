"""Reads for the control-center pages."""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Q

from accounts.models import MitraProfile, MitraStatus
from failed_pairings.models import MONEY_ACTIONS, PairingFailure
from live_settings.selectors import config_get
from pairing.models import OCCUPYING_STATUSES, ChatSession, ChatStatus
from payments.models import PaymentStatus
from realtime.presence import connected_user_ids


def mitra_dashboard_rows() -> list[dict]:
    """Every mitra with status, live-socket presence and occupied slots: one query plus
    one Redis round trip, whatever the number of mitras."""
    capacity = config_get("max_customers_per_mitra")
    mitras = list(
        MitraProfile.objects.select_related("user")
        .annotate(active_sessions=Count("user__mitra_sessions", filter=Q(user__mitra_sessions__status__in=OCCUPYING_STATUSES)))
        .order_by("display_name")
    )
    connected = connected_user_ids([m.user_id for m in mitras])
    return [
        {
            "id": str(m.user_id),
            "display_name": m.display_name,
            "login": str(m.user),
            "status": m.status,
            "connected": str(m.user_id) in connected,
            "active_sessions": m.active_sessions,
            "capacity": capacity,
            "status_changed_at": m.status_changed_at,
        }
        for m in mitras
    ]


def dashboard_counts() -> dict:
    sessions = ChatSession.objects.aggregate(
        waiting=Count("id", filter=Q(status=ChatStatus.WAITING)),
        active=Count("id", filter=Q(status=ChatStatus.ACTIVE)),
        closing=Count("id", filter=Q(status=ChatStatus.CLOSING)),
    )
    mitras = MitraProfile.objects.aggregate(online=Count("user_id", filter=Q(status=MitraStatus.ONLINE)), total=Count("user_id"))
    unactioned = PairingFailure.objects.filter(operator_action="").count()
    return {**sessions, "mitras_online": mitras["online"], "mitras_total": mitras["total"], "failures_unactioned": unactioned}


def failed_pairings_for_page(queryset):
    """Annotate what the page needs to offer only the actions the server would accept."""
    other_money_action = PairingFailure.objects.filter(
        payment_session_id=OuterRef("payment_session_id"), operator_action__in=MONEY_ACTIONS
    )
    return queryset.annotate(payment_has_money_action=Exists(other_money_action))


def money_action_possible(failure) -> bool:
    return (
        failure.payment_session.status not in (PaymentStatus.CONSUMED, PaymentStatus.PENDING, PaymentStatus.CONFIRMED)
        and not failure.payment_has_money_action
    )
