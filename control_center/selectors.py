"""Reads for the control-center pages."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Avg, Count, Exists, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse

from accounts.models import AccountSuspension, MitraProfile, MitraStatus, Role, User
from chat.models import Message
from failed_pairings.models import MONEY_ACTIONS, PairingFailure
from live_settings.selectors import config_get
from pairing.models import LIVE_STATUSES, OCCUPYING_STATUSES, ChatSession, ChatStatus
from payments.models import PaymentStatus
from realtime.presence import connected_user_ids
from safety.models import Rating
from safety.selectors import open_alert_count, open_report_count, reports_list, safety_alerts_list, session_context_messages_for


def _ratings_of_mitra(aggregate):
    """A correlated subquery of one aggregate over the mitra's ratings: a value per row,
    so the ratings are never joined into the sessions' Count (which would multiply it)."""
    return Subquery(
        Rating.objects.filter(mitra_id=OuterRef("user_id")).order_by().values("mitra_id").annotate(value=aggregate).values("value")[:1]
    )


def mitra_dashboard_rows() -> list[dict]:
    """Every mitra with status, live-socket presence, occupied slots, rating average and
    count, and suspension: one query plus one Redis round trip, whatever the number of
    mitras."""
    capacity = config_get("max_customers_per_mitra")
    mitras = list(
        MitraProfile.objects.select_related("user", "user__erasure")
        .annotate(
            active_sessions=Count("user__mitra_sessions", filter=Q(user__mitra_sessions__status__in=OCCUPYING_STATUSES)),
            rating_average=_ratings_of_mitra(Avg("stars")),
            rating_count=Coalesce(_ratings_of_mitra(Count("chat_session_id")), 0, output_field=IntegerField()),
        )
        .order_by("display_name")
    )
    connected = connected_user_ids([m.user_id for m in mitras])
    rows = [
        {
            "id": str(m.user_id),
            "display_name": m.display_name,
            "login": str(m.user),
            "status": m.status,
            "connected": str(m.user_id) in connected,
            "active_sessions": m.active_sessions,
            "capacity": capacity,
            "status_changed_at": m.status_changed_at,
            # as the mitra's own summary rounds it (safety.selectors.rating_summary)
            "rating_average": round(float(m.rating_average), 2) if m.rating_average is not None else None,
            "rating_count": m.rating_count,
            "suspended": m.user.suspended_at is not None,
            "suspension_url": reverse("control_center:cc-suspension", args=[m.user_id]),
            "erased": hasattr(m.user, "erasure"),
            "erasure_url": reverse("control_center:cc-mitra-erasure", args=[m.user_id]),
        }
        for m in mitras
    ]
    for row in rows:
        # one rounding for the page and its live refresh: "4.5 ★", or "—" before the first rating
        average = row["rating_average"]
        row["rating_label"] = "—" if average is None else f"{Decimal(str(average)).quantize(Decimal('0.1'), ROUND_HALF_UP)} ★"
    return rows


def dashboard_counts() -> dict:
    sessions = ChatSession.objects.aggregate(
        waiting=Count("id", filter=Q(status=ChatStatus.WAITING)),
        active=Count("id", filter=Q(status=ChatStatus.ACTIVE)),
        closing=Count("id", filter=Q(status=ChatStatus.CLOSING)),
    )
    mitras = MitraProfile.objects.aggregate(online=Count("user_id", filter=Q(status=MitraStatus.ONLINE)), total=Count("user_id"))
    unactioned = PairingFailure.objects.filter(operator_action="").count()
    return {
        **sessions, "mitras_online": mitras["online"], "mitras_total": mitras["total"], "failures_unactioned": unactioned,
        **safety_counts(),
    }


def safety_counts() -> dict:
    """What the Dashboard's safety cards show, and their live refresh reads."""
    return {"open_alerts": open_alert_count(), "open_reports": open_report_count()}


# --- Safety and Reports pages (SPEC §12) -----------------------------------------------------------
_PEOPLE_OF_SESSION = ("chat_session__customer__customer_profile", "chat_session__mitra__mitra_profile")


def safety_alerts_for_page(*, status: str | None = None):
    """``safety_alerts_list`` with the session's two people joined in (a page of alerts
    costs the same queries whatever its length)."""
    return safety_alerts_list(status=status).select_related(*_PEOPLE_OF_SESSION)


def alert_rows(alerts) -> list[dict]:
    """A page of alerts with each session's recent messages (one query for the page):
    context for operators, shown on the Safety page only."""
    alerts = list(alerts)
    context = session_context_messages_for(chat_session_ids=[a.chat_session_id for a in alerts])
    rows = []
    for alert in alerts:
        messages = context.get(alert.chat_session_id, [])
        # changes whenever the page would show the row differently (a step, a new message)
        version = f"{alert.updated_at.timestamp()}:{alert.status}:{messages[-1].id if messages else ''}"
        rows.append({"alert": alert, "messages": messages, "version": version})
    return rows


_PEOPLE_OF_REPORT = (
    "reporter__customer_profile", "reporter__mitra_profile", "reported__customer_profile", "reported__mitra_profile",
)


def reports_for_page(*, status: str | None = None):
    """``reports_list`` with both people's names joined in."""
    return reports_list(status=status).select_related(*_PEOPLE_OF_REPORT)


def person_name(user: User) -> str:
    """What the control center calls an account: a customer's call name, a mitra's
    display name (profiles joined in by the caller), else nothing."""
    for profile in ("customer_profile", "mitra_profile"):
        try:
            return str(getattr(user, profile))
        except ObjectDoesNotExist:
            continue
    return ""


def account_for_suspension(*, user_id) -> dict | None:
    """An account as its suspension page shows it: role, name, login, whether suspended,
    and its suspension audit trail, newest first."""
    user = User.objects.select_related("customer_profile", "mitra_profile").filter(id=user_id).first()
    if user is None:
        return None
    trail = list(AccountSuspension.objects.filter(user=user).select_related("actor").order_by("-created_at", "-id"))
    active_sessions = ChatSession.objects.filter(status__in=OCCUPYING_STATUSES).filter(Q(customer=user) | Q(mitra=user)).count()
    # "account", not "user": templates already have ``user``, the operator signed in
    return {"account": user, "name": person_name(user), "trail": trail, "active_sessions": active_sessions}


def mitra_for_erasure(*, user_id) -> dict | None:
    """A mitra as the erasure page shows it: name, login, live sessions (which block an
    erasure), what the erasure purges and keeps, and the audit row once erased."""
    user = User.objects.select_related("mitra_profile", "erasure__erased_by").filter(id=user_id, role=Role.MITRA).first()
    if user is None:
        return None
    sessions = ChatSession.objects.filter(mitra=user).aggregate(
        live=Count("id", filter=Q(status__in=LIVE_STATUSES)), kept=Count("id")
    )
    return {
        "account": user,
        "name": person_name(user),
        "erasure": getattr(user, "erasure", None),
        "live_sessions": sessions["live"],
        "sessions_kept": sessions["kept"],
        "messages_to_purge": Message.objects.filter(sender_user=user, purged_at__isnull=True).count(),
    }


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
