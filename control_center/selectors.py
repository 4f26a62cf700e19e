"""Reads for the control-center pages."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Avg, Count, Exists, IntegerField, Max, Min, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountSuspension, MitraProfile, MitraStatus, Role, User
from chat.models import Message
from extensions.models import Extension
from failed_pairings.models import CauseTag, OperatorAction, PairingFailure
from live_settings.selectors import config_get
from pairing.models import (
    LIVE_STATUSES, OCCUPYING_STATUSES, ChatRequestNotification, ChatSession, ChatStatus, NotificationStatus, RequestType,
)
from payments.models import PaymentEvent, Transaction, TransactionKind
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


# --- Dashboard: today and the last 14 days (issue 14) ---------------------------------------------
DASHBOARD_DAYS = 14


def _operator_zone() -> ZoneInfo:
    return ZoneInfo(settings.CONTROL_CENTER_TIME_ZONE)


def dashboard_days(*, days: int = DASHBOARD_DAYS, now: datetime | None = None) -> list[dict]:
    """The last ``days`` operators' days (``CONTROL_CENTER_TIME_ZONE``), oldest first,
    today last; each: ``requests`` (pairing attempts made that day, a fallback blast
    counting as one more), ``matched`` (of those, accepted by a mitra — an accept is
    only possible inside the pairing window, so every match is within it), ``failed``
    and ``failed_by_cause`` (failure rows written that day), ``revenue`` /
    ``charges`` (charge transactions: money taken) and ``refunds`` / ``refund_count``
    (refund transactions — money the gateway gave back — plus failure rows an operator
    marked refunded by hand, with no gateway refund). Four GROUP BY queries whatever
    the number of rows."""
    zone = _operator_zone()
    today = (now or timezone.now()).astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time.min, tzinfo=zone)
    by_day = {
        first + timedelta(days=i): {
            "day": first + timedelta(days=i), "requests": 0, "matched": 0, "failed": 0, "failed_by_cause": {},
            "revenue": 0, "charges": 0, "refunds": 0, "refund_count": 0,
        }
        for i in range(days)
    }

    def day_of(field: str):
        return TruncDate(field, tzinfo=zone)

    attempts = (
        ChatSession.objects.filter(created_at__gte=since).annotate(day=day_of("created_at")).values("day")
        .annotate(requests=Count("id"), matched=Count("id", filter=Q(started_at__isnull=False))).order_by()
    )
    for row in attempts:
        if row["day"] in by_day:
            by_day[row["day"]].update(requests=row["requests"], matched=row["matched"])
    failures = (
        PairingFailure.objects.filter(created_at__gte=since).annotate(day=day_of("created_at")).values("day", "cause_tag")
        .annotate(count=Count("id")).order_by()
    )
    for row in failures:
        if row["day"] in by_day:
            day = by_day[row["day"]]
            day["failed"] += row["count"]
            day["failed_by_cause"][row["cause_tag"]] = row["count"]
    money = (
        Transaction.objects.filter(created_at__gte=since).annotate(day=day_of("created_at")).values("day", "kind")
        .annotate(total=Sum("amount"), count=Count("id")).order_by()
    )
    for row in money:
        if row["day"] not in by_day:
            continue
        day = by_day[row["day"]]
        if row["kind"] == TransactionKind.CHARGE:
            day.update(revenue=row["total"], charges=row["count"])
        elif row["kind"] == TransactionKind.REFUND:
            day["refunds"] += row["total"]
            day["refund_count"] += row["count"]
    # refunds an operator made outside the gateway (marked "refunded" with no gateway
    # refund on the payment), on the day they were marked
    by_hand = (
        PairingFailure.objects.filter(operator_action=OperatorAction.REFUNDED, actioned_at__gte=since)
        .filter(~Exists(Transaction.objects.filter(payment_session_id=OuterRef("payment_session_id"), kind=TransactionKind.REFUND)))
        .annotate(day=day_of("actioned_at")).values("day").annotate(total=Sum("amount"), count=Count("id")).order_by()
    )
    for row in by_hand:
        if row["day"] in by_day:
            by_day[row["day"]]["refunds"] += row["total"]
            by_day[row["day"]]["refund_count"] += row["count"]
    order = {tag: index for index, tag in enumerate(CauseTag.values)}
    for day in by_day.values():
        # the most frequent cause first, ties in CauseTag's order
        day["failed_by_cause"] = sorted(day["failed_by_cause"].items(), key=lambda item: (-item[1], order.get(item[0], 99)))
    return list(by_day.values())


# --- Sesi: one session's timeline (issue 14) --------------------------------------------------------
def session_timeline(*, chat_session_id) -> dict | None:
    """What happened to one pairing attempt / session, in time order: its payment (and
    its extensions' payments) changing state, money taken and given back, the offers
    (how many mitras, when), the accept, the extensions, closing and ending, and the
    failure rows with their operator actions. Never a message's text: only how many
    each side sent. Seven queries whatever the number of offers, messages or events."""
    session = (
        ChatSession.objects.select_related(
            "payment_session", "customer__customer_profile", "mitra__mitra_profile", "targeted_mitra__mitra_profile",
            "ended_by_user", "fallback_from", "fallback",
        )
        .filter(id=chat_session_id)
        .first()
    )
    if session is None:
        return None
    payment = session.payment_session
    of_this_session = Q(payment_session_id=payment.id) | Q(payment_session__extension__chat_session_id=session.id)
    events: list[dict] = []

    def add(at, kind: str, text: str, **extra) -> None:
        if at is not None:
            events.append({"at": at, "kind": kind, "text": text, "order": len(events), **extra})

    for event in PaymentEvent.objects.filter(of_this_session).select_related("payment_session").order_by("created_at", "id"):
        what = "Extension payment" if event.payment_session.is_extension else "Payment"
        change = f"{event.from_status} → {event.to_status}" if event.from_status else event.to_status
        add(event.created_at, "payment", f"{what} {change} ({event.reason})", amount=event.payment_session.amount)
    for transaction_row in Transaction.objects.filter(of_this_session).select_related("payment_session").order_by("created_at"):
        what = "charged" if transaction_row.kind == TransactionKind.CHARGE else "refunded"
        extension = " (extension)" if transaction_row.payment_session.is_extension else ""
        add(transaction_row.created_at, "money", f"Money {what}{extension}", amount=transaction_row.amount)

    kind = "returning chat" if session.request_type == RequestType.RETURNING else "general blast"
    add(session.created_at, "request", f"Chat requested ({kind}{', sensitive topic' if session.sensitive else ''})")
    offers = (
        ChatRequestNotification.objects.filter(chat_session_id=session.id).values("status")
        .annotate(count=Count("id"), first=Min("created_at"), last=Max("created_at"), answered=Max("responded_at")).order_by()
    )
    offers_by_status = {row["status"]: row for row in offers}
    offered = sum(row["count"] for row in offers_by_status.values())
    if offered:
        first = min(row["first"] for row in offers_by_status.values())
        last = max(row["last"] for row in offers_by_status.values())
        add(first, "offer", f"Offered to {offered} mitra{'s' if offered != 1 else ''}", until=last if last != first else None)
    declined = offers_by_status.get(NotificationStatus.DECLINED)
    if declined:
        add(declined["answered"], "offer", f"{declined['count']} declined (the last of them at this time)")
    if session.started_at:
        add(session.started_at, "accept", f"Accepted by {session.mitra.mitra_profile.display_name}")

    for extension in Extension.objects.filter(chat_session_id=session.id).select_related("audit", "payment_session").order_by("created_at"):
        add(extension.created_at, "extension", f"Extension of {extension.minutes} min requested", amount=extension.payment_session.amount)
        audit = getattr(extension, "audit", None)
        if extension.resolved_at:
            tag = f" ({audit.tag})" if audit else ""
            add(extension.resolved_at, "extension", f"Extension {extension.get_status_display().lower()}{tag}")

    if session.closing_started_at:
        add(session.closing_started_at, "closing", "Time up: closing (goodbyes)")
    if session.ended_at:
        who = f" by {session.get_ended_by_display().lower()}" if session.ended_by else ""
        add(session.ended_at, "end", f"{session.get_status_display()}{who}")

    failures = PairingFailure.objects.filter(
        Q(chat_session_id=session.id) | Q(payment_session_id=payment.id, chat_session__isnull=True)
        | Q(payment_session__extension__chat_session_id=session.id)
    ).select_related("actioned_by")
    for failure in failures:
        add(failure.created_at, "failure", "Failure row", cause=failure.cause_tag, amount=failure.amount)
        if failure.actioned_at:
            add(failure.actioned_at, "operator", f"Operator: {failure.get_operator_action_display().lower()} ({failure.actioned_by})")

    message_counts = Message.objects.filter(chat_session_id=session.id).aggregate(
        customer=Count("id", filter=Q(sender="customer")), mitra=Count("id", filter=Q(sender="mitra")),
    )
    events.sort(key=lambda e: (e["at"], e["order"]))
    return {"session": session, "payment": payment, "events": events, "message_counts": message_counts, "offered": offered}
