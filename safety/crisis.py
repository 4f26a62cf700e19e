"""Crisis signals (SPEC §12): screening a customer's message after it has committed,
raising one alert per session and phrase, and operators' steps on alerts.

Nothing here ever blocks or delays a message: ``customer_message_screen`` runs after
the message's commit, on the process's screening thread (``chat/services.py``), and a
match is raised by a worker (``safety.tasks.raise_crisis_alerts``).
"""

from __future__ import annotations

import logging

from celery import current_app
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from config.errors import AppError, ConflictError, ErrorCode, NotFoundError
from config.sql import json_param
from live_settings.selectors import config_get
from pairing.models import ChatSession
from realtime.consumers import OPERATORS
from realtime.delivery import Event, deliver
from realtime.push import PushMessage
from safety import selectors
from safety.locks import safety_alert_lock
from safety.models import ALERT_ACTIONS, AlertStatus, SafetyAlert, SafetyAlertAction
from safety.representations import alert_payload

logger = logging.getLogger(__name__)

SAFETY_RESOURCES_TITLE = "Kamu tidak sendirian"
SAFETY_RESOURCES_TEXT = (
    "Kamu tidak sendirian. Kalau kamu merasa tidak aman atau ingin menyakiti diri, hubungi salah satu "
    "layanan ini sekarang. Mereka siap membantu, kapan saja."
)
RAISE_TASK = "safety.tasks.raise_crisis_alerts"
MAX_NOTE_LENGTH = 2000


def note_clean(note) -> str:
    """An operator's note: trimmed, at most ``MAX_NOTE_LENGTH`` characters."""
    note = (note or "").strip() if isinstance(note, str) else ""
    if len(note) > MAX_NOTE_LENGTH:
        raise AppError(ErrorCode.INVALID_INPUT, f"note: At most {MAX_NOTE_LENGTH} characters.", errors={"note": ["Too long."]})
    return note


def customer_message_screen(*, chat_session_id, message_id, text: str) -> list[str]:
    """Screen a customer's message that has committed (never before: the message goes
    out as it always does). A match is handed to a worker (``raise_crisis_alerts``);
    with the broker unreachable it is raised here instead, so no match is lost.
    Returns the phrases found."""
    phrases = selectors.crisis_phrases_in(text)
    if phrases:
        args = [str(chat_session_id), str(message_id) if message_id is not None else None, phrases]
        try:
            current_app.send_task(RAISE_TASK, args=args)
        except Exception as exc:
            logger.warning("crisis alert: could not enqueue (%s: %s); raising it here", type(exc).__name__, exc)
            crisis_alerts_raise(chat_session_id=chat_session_id, message_id=message_id, phrases=phrases)
    return phrases


_RAISE_SQL = f"""
    INSERT INTO {SafetyAlert._meta.db_table} (chat_session_id, message_id, phrase)
    SELECT %s, %s, p FROM jsonb_array_elements_text(%s::jsonb) AS p
    ON CONFLICT (chat_session_id, phrase) DO NOTHING
    RETURNING id
"""


@transaction.atomic
def crisis_alerts_raise(*, chat_session_id, message_id, phrases: list[str]) -> list[SafetyAlert]:
    """One ``safety_alerts`` row per session and phrase (a phrase seen again in the same
    session, or a replayed task, adds nothing). For new alerts: the customer gets
    ``safety_resources`` (also as a push), the mitra ``safety_protocol``, every open
    control-center page ``safety_alert``. Returns the new alerts."""
    session = ChatSession.objects.filter(id=chat_session_id).only("id", "customer_id", "mitra_id").first()
    if session is None or not phrases:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_RAISE_SQL, [session.id, message_id, json_param([str(p)[:100] for p in phrases])])
        new_ids = [row[0] for row in cursor.fetchall()]
    if not new_ids:
        return []
    alerts = list(selectors.safety_alerts_list().filter(id__in=new_ids))
    chat_id = str(session.id)
    resources = {
        "type": "safety_resources", "chat_session_id": chat_id,
        "message": SAFETY_RESOURCES_TEXT, "resources": config_get("crisis_resources"),
    }
    events = [Event(session.customer_id, resources)]
    if session.mitra_id is not None:
        protocol = {"type": "safety_protocol", "chat_session_id": chat_id, "guidance": config_get("safety_protocol_text")}
        events.append(Event(session.mitra_id, protocol))
    events += [Event(OPERATORS, {"type": "safety_alert", "alert": alert_payload(alert)}) for alert in alerts]
    deliver(
        events=events,
        pushes=[
            PushMessage(
                str(session.customer_id), SAFETY_RESOURCES_TITLE, SAFETY_RESOURCES_TEXT,
                {"type": "safety_resources", "chat_session_id": chat_id},
            )
        ],
    )
    logger.info("safety alert raised: session %s, %d phrase(s)", chat_id, len(alerts))
    return alerts


@transaction.atomic
def safety_alert_action(*, alert_id, action: str, actor: User, note: str = "") -> SafetyAlert:
    """An operator's step on an alert (``acknowledged``, ``contacted``, ``escalated``,
    ``resolved``), kept in the audit trail and shown live on every Safety page. Steps
    may repeat (a second contact, with its note); a resolved alert is final."""
    if action not in ALERT_ACTIONS:
        raise AppError(ErrorCode.INVALID_INPUT, f"action: Must be one of {', '.join(ALERT_ACTIONS)}.", errors={"action": ["Invalid."]})
    note = note_clean(note)
    alert = safety_alert_lock(alert_id)
    if alert is None:
        raise NotFoundError("Safety alert not found.")
    if alert.status == AlertStatus.RESOLVED:
        raise ConflictError(ErrorCode.ALERT_RESOLVED, "This alert is already resolved.")
    SafetyAlert.objects.filter(pk=alert.pk).update(status=action, updated_at=timezone.now())
    SafetyAlertAction.objects.create(alert=alert, action=action, note=note, actor=actor)
    alert = selectors.safety_alert_get(alert_id=alert.pk)
    deliver(events=[Event(OPERATORS, {"type": "safety_alert", "alert": alert_payload(alert)})])
    return alert
