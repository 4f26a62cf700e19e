"""Safety reads: crisis phrases in a text, alerts, reports, blocks, rating summaries."""

from __future__ import annotations

from django.db.models import Avg, Case, Count, F, Prefetch, Value, When, Window
from django.db.models.functions import RowNumber

from chat.models import Message
from live_settings.selectors import config_get
from safety.models import UNRESOLVED_ALERT_STATUSES, AlertStatus, Block, Rating, Report, ReportAction, ReportStatus, SafetyAlert, SafetyAlertAction
from safety.phrases import matcher_for

RECENT_COMMENTS = 10
CONTEXT_MESSAGES = 20


def crisis_phrases_in(text: str) -> list[str]:
    """The ``crisis_phrases`` a text contains (SPEC §12), as written in the setting."""
    return matcher_for(tuple(config_get("crisis_phrases"))).find(text)


def _alerts():
    return SafetyAlert.objects.prefetch_related(
        Prefetch("actions", queryset=SafetyAlertAction.objects.select_related("actor").order_by("created_at", "id"))
    )


def safety_alerts_list(*, status: str | None = None):
    """Alerts, open ones first, newest first within each group (a queryset: the caller
    paginates); or those of one ``status``, newest first."""
    qs = _alerts()
    if status:
        return qs.filter(status=status).order_by("-created_at", "-id")
    open_first = Case(When(status=AlertStatus.OPEN, then=Value(0)), default=Value(1))
    return qs.annotate(open_first=open_first).order_by("open_first", "-created_at", "-id")


def safety_alert_get(*, alert_id) -> SafetyAlert | None:
    return _alerts().filter(id=alert_id).first()


def unresolved_alert_counts_by_status() -> dict[str, int]:
    """Crisis alerts not resolved yet, by status (``open`` = nobody acted yet): one
    ``GROUP BY`` (the metrics scrape)."""
    counts = dict.fromkeys((status.value for status in UNRESOLVED_ALERT_STATUSES), 0)
    rows = (
        SafetyAlert.objects.filter(status__in=UNRESOLVED_ALERT_STATUSES).order_by()
        .values_list("status").annotate(n=Count("id"))
    )
    counts.update(dict(rows))
    return counts


def open_alert_count() -> int:
    return SafetyAlert.objects.filter(status=AlertStatus.OPEN).count()


def session_context_messages_for(*, chat_session_ids, limit: int = CONTEXT_MESSAGES) -> dict:
    """The last ``limit`` messages of each session, in one query (a page of alerts):
    ``{chat_session_id: [messages, oldest first]}``; a session without messages is
    absent. Context for operators, on the Safety page only."""
    ids = set(chat_session_ids)
    if not ids:
        return {}
    newest_first = Window(
        RowNumber(), partition_by=[F("chat_session_id")], order_by=[F("created_at").desc(), F("id").desc()]
    )
    rows = (
        Message.objects.filter(chat_session_id__in=ids)
        .annotate(newest_rank=newest_first)
        .filter(newest_rank__lte=limit)
        .order_by("chat_session_id", "created_at", "id")
    )
    by_session: dict = {}
    for message in rows:
        by_session.setdefault(message.chat_session_id, []).append(message)
    return by_session


def _reports():
    return Report.objects.select_related("reporter", "reported").prefetch_related(
        Prefetch("actions", queryset=ReportAction.objects.select_related("actor").order_by("created_at", "id"))
    )


def reports_list(*, status: str | None = None):
    """Reports, open ones first, newest first within each group; or those of one ``status``."""
    qs = _reports()
    if status:
        return qs.filter(status=status).order_by("-created_at", "-id")
    open_first = Case(When(status=ReportStatus.OPEN, then=Value(0)), default=Value(1))
    return qs.annotate(open_first=open_first).order_by("open_first", "-created_at", "-id")


def report_get(*, report_id) -> Report | None:
    return _reports().filter(id=report_id).first()


def open_report_count() -> int:
    return Report.objects.filter(status=ReportStatus.OPEN).count()


def customer_blocked_mitra(*, customer_id, mitra_id) -> bool:
    return Block.objects.filter(customer_id=customer_id, mitra_id=mitra_id).exists()


def blocked_customer_ids(*, mitra_id, customer_ids) -> set:
    """Of ``customer_ids``, those who blocked ``mitra_id``."""
    return set(Block.objects.filter(mitra_id=mitra_id, customer_id__in=customer_ids).values_list("customer_id", flat=True))


def blocks_for_customer(*, customer) -> list[Block]:
    return list(Block.objects.filter(customer=customer).select_related("mitra__mitra_profile").order_by("-created_at", "-id"))


def rating_summary(*, mitra) -> dict:
    """A mitra's average, count and recent comments (no customer identity): two queries."""
    totals = Rating.objects.filter(mitra=mitra).aggregate(average=Avg("stars"), count=Count("chat_session_id"))
    recent = list(Rating.objects.filter(mitra=mitra).order_by("-created_at")[:RECENT_COMMENTS])
    average = totals["average"]
    return {
        "average": round(float(average), 2) if average is not None else None,
        "count": totals["count"],
        "recent": recent,
    }
