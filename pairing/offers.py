"""Offers (SPEC §5.1–5.2): a waiting attempt offered to mitras, one row per mitra in
``chat_request_notifications``, and those offers closed when the attempt ends or is
taken. Rows and the mitras' events only; the commands that start and end attempts
are in ``pairing.attempts``, the mitras' answers in ``pairing.answers``.

Anonymity: a mitra's ``chat_request`` carries the customer's ``call_name`` only
(``pairing.representations.chat_request_for_mitra``).
"""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from config.sql import json_param
from pairing.models import ChatRequestNotification, ChatSession, NotificationStatus
from pairing.representations import chat_request_for_mitra
from realtime.delivery import Event, deliver
from realtime.push import PushMessage

CHAT_REQUEST_TITLE = "Ada yang ingin curhat"

_OFFER_SQL = f"""
    INSERT INTO {ChatRequestNotification._meta.db_table} (chat_session_id, mitra_id)
    SELECT %s, m.id::uuid FROM jsonb_array_elements_text(%s::jsonb) AS m(id)
    ON CONFLICT (chat_session_id, mitra_id) DO NOTHING
"""


def offer(session: ChatSession, mitra_ids: list, call_name: str) -> None:
    """Offer a waiting attempt to ``mitra_ids``: rows in bulk, events and pushes after commit."""
    # one statement (the ids as one JSON parameter, config/sql.py), no model instance per
    # mitra: a blast to thousands is the hot path (make bench P2); status and created_at
    # are database defaults
    with connection.cursor() as cursor:
        cursor.execute(_OFFER_SQL, [session.id, json_param(list(mitra_ids))])
    payload = {"type": "chat_request", **chat_request_for_mitra(session)}
    push_data = {"type": "chat_request", "request_id": str(session.id), "request_type": session.request_type}
    deliver(
        events=[Event(mitra_id, payload) for mitra_id in mitra_ids],
        pushes=[
            PushMessage(str(mitra_id), CHAT_REQUEST_TITLE, f"{call_name} sedang menunggu bestie.", push_data)
            for mitra_id in mitra_ids
        ],
    )


def offer_close(session: ChatSession, mitra_id, *, status: str = NotificationStatus.CLOSED) -> None:
    """Close one mitra's offer of ``session`` (``status``: closed, or their own decline)."""
    ChatRequestNotification.objects.filter(chat_session=session, mitra_id=mitra_id).update(status=status, responded_at=timezone.now())


def close_offers(session: ChatSession, *, reason: str, except_mitra_id=None) -> list:
    """Close every still-open offer of ``session``; tell those mitras why
    (``chat_request_closed`` with ``reason``). Returns their ids."""
    open_offers = ChatRequestNotification.objects.filter(chat_session=session, status=NotificationStatus.OFFERED)
    if except_mitra_id is not None:
        open_offers = open_offers.exclude(mitra_id=except_mitra_id)
    mitra_ids = list(open_offers.values_list("mitra_id", flat=True))
    if mitra_ids:
        ChatRequestNotification.objects.filter(chat_session=session, mitra_id__in=mitra_ids).update(
            status=NotificationStatus.CLOSED, responded_at=timezone.now()
        )
        deliver(events=[Event(mitra_id, closed_event(session, reason)) for mitra_id in mitra_ids])
    return mitra_ids


def closed_event(session: ChatSession, reason: str) -> dict:
    return {"type": "chat_request_closed", "request_id": str(session.id), "reason": reason}


def offers_open_exist(session: ChatSession) -> bool:
    return ChatRequestNotification.objects.filter(chat_session=session, status=NotificationStatus.OFFERED).exists()
