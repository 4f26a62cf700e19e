"""Firing deadlines (SPEC §5, ``fire_due_timers`` of §10): every deadline is a column — an attempt's pairing window
(``deadline_at``), a session's end (``ends_at``), its goodbye phase (``closes_at``).
A task enqueued after commit (``pairing.timers.timer_schedule``) fires each on time;
the beat backstop ``due_deadlines_fire`` fires any a lost task missed. Both re-read the
row under its lock and act only if it is still due, so firing twice does nothing.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from pairing import lifecycle
from pairing.attempts import chat_deadline_fire
from pairing.locks import chat_session_claim
from pairing.models import ChatSession, ChatStatus
from pairing.timers import registered_backstops

logger = logging.getLogger(__name__)


def chat_timer_fire(*, chat_session_id, now=None) -> bool:
    """Fire whichever deadline of this session is due: the pairing window while waiting,
    ``ends_at`` while active, ``closes_at`` while closing. Idempotent."""
    status = ChatSession.objects.filter(id=chat_session_id).values_list("status", flat=True).first()
    if status == ChatStatus.WAITING:
        return chat_deadline_fire(chat_session_id=chat_session_id, now=now)
    if status in (ChatStatus.ACTIVE, ChatStatus.CLOSING):
        return lifecycle.session_timer_fire(chat_session_id=chat_session_id, now=now)
    return False


def due_deadlines_fire(*, now=None, limit: int = 1000) -> int:
    """The backstop: fire every deadline already past (pairing windows, session ends,
    goodbye phases), one row per transaction, claimed with ``FOR UPDATE SKIP LOCKED`` so
    concurrent runs split the work instead of queueing behind each other."""
    due_filter = (
        Q(status=ChatStatus.WAITING, deadline_at__lte=now or timezone.now())
        | Q(status=ChatStatus.ACTIVE, ends_at__lte=now or timezone.now())
        | Q(status=ChatStatus.CLOSING, closes_at__lte=now or timezone.now())
    )
    # other apps' deadlines first: an extension's outcome decides when its session closes
    fired, held = sum(fire_due(now=now) for fire_due in registered_backstops()), []
    while fired < limit:
        with transaction.atomic():
            due = chat_session_claim(due_filter, exclude_ids=held)
            if due is None:
                break
            if chat_timer_fire(chat_session_id=due, now=now):
                fired += 1
            else:
                held.append(due)  # e.g. waiting for an extension's answer
    if fired:
        logger.warning("backstop fired %d overdue deadline(s)", fired)
    return fired
