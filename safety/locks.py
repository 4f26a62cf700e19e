"""Row locks of safety's own tables. An operator's decision on a report or an alert
locks that row first, before anything of the lock order (``config/locks.py``) — a
report's decision may suspend the account; nothing locks a report or an alert after
an account."""

from __future__ import annotations

from config.locks import row_lock
from safety.models import Report, SafetyAlert


def report_lock(report_id) -> Report | None:
    return row_lock(Report.objects.filter(id=report_id))


def safety_alert_lock(alert_id) -> SafetyAlert | None:
    return row_lock(SafetyAlert.objects.filter(id=alert_id))
