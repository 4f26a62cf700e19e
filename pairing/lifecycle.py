"""The session lifecycle (SPEC §5.4): ``active`` until ``ends_at`` → ``closing`` for
``closing_goodbye_seconds`` → ``completed``; early end by customer, mitra or operator.

Every deadline is a column (``ends_at``, ``closes_at``); a task enqueued after commit
fires it on time and the beat backstop fires any that were missed. Handlers re-read
the row under its lock and act only if it is still due, so they are idempotent.
A mitra going offline never touches any of this.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from config.errors import AppError, ConflictError, ErrorCode, NotFoundError
from config.on_commit import after_commit
from live_settings.selectors import config_get
from metrics.instruments import deadline_fired
from pairing.locks import chat_session_lock
from pairing.models import ChatSession, ChatStatus, EndedBy
from pairing.representations import iso_datetime
from pairing.selectors import availability_refresh
from pairing.timers import end_is_held, timer_schedule
from realtime.delivery import Event, deliver
from realtime.push import PushMessage

SESSION_CLOSING_TITLE = "Sesi akan berakhir"
SESSION_CLOSING_TEXT = "Waktu curhatmu hampir habis. Sampaikan salam penutupmu."


def _both(session: ChatSession) -> list:
    return [session.customer_id, session.mitra_id]


def _complete(session: ChatSession, *, ended_by: str, now, by_user=None) -> None:
    """Call holding the session's row lock, with the session active or closing."""
    session.status = ChatStatus.COMPLETED
    session.ended_at = now
    session.ended_by = ended_by
    session.ended_by_user = by_user
    session.save(update_fields=["status", "ended_at", "ended_by", "ended_by_user"])
    payload = {"type": "session_completed", "chat_session_id": str(session.id), "ended_by": ended_by}
    deliver(events=[Event(user_id, payload) for user_id in _both(session)])
    after_commit(availability_refresh)


def _begin_closing(session: ChatSession, *, now) -> None:
    goodbye_seconds = config_get("closing_goodbye_seconds")
    if goodbye_seconds == 0:
        _complete(session, ended_by=EndedBy.TIMER, now=now)
        return
    session.status = ChatStatus.CLOSING
    session.closing_started_at = now
    session.closes_at = now + timedelta(seconds=goodbye_seconds)
    session.save(update_fields=["status", "closing_started_at", "closes_at"])
    payload = {"type": "session_closing", "chat_session_id": str(session.id), "closes_at": iso_datetime(session.closes_at)}
    data = {"type": "session_closing", "chat_session_id": str(session.id)}
    deliver(
        events=[Event(user_id, payload) for user_id in _both(session)],
        pushes=[PushMessage(str(user_id), SESSION_CLOSING_TITLE, SESSION_CLOSING_TEXT, data) for user_id in _both(session)],
    )
    timer_schedule(session.id, session.closes_at)


def session_timer_fire(*, chat_session_id, now=None) -> bool:
    """Fire whichever of ``ends_at`` / ``closes_at`` is due. Returns whether it did."""
    with transaction.atomic():
        session = chat_session_lock(chat_session_id)
        if session is None:
            return False
        # read the clock only once the row is ours: a message sent while we waited for the
        # lock was sent while active and must not count as that side's goodbye
        now = now or timezone.now()
        if session.status == ChatStatus.ACTIVE and session.ends_at <= now:
            if end_is_held(session.id):
                return False  # an extension's outcome decides first and re-arms this timer
            deadline_fired(deadline="session_end", due_at=session.ends_at, fired_at=now)
            _begin_closing(session, now=now)
            return True
        if session.status == ChatStatus.CLOSING and session.closes_at <= now:
            deadline_fired(deadline="goodbye", due_at=session.closes_at, fired_at=now)
            _complete(session, ended_by=EndedBy.TIMER, now=now)
            return True
        return False


@transaction.atomic
def chat_end(*, user, chat_session_id, ended_by: str) -> ChatSession:
    """End a session early. Customers and mitras only when their ``early_end_*`` key allows
    (403 otherwise); operators always. Ending an ended session returns it unchanged."""
    session = chat_session_lock(chat_session_id)
    if session is None:
        raise NotFoundError("Chat session not found.")
    owner_id = {EndedBy.CUSTOMER: session.customer_id, EndedBy.MITRA: session.mitra_id}.get(ended_by, user.id)
    if owner_id != user.id:  # someone else's session is "not found", as everywhere
        raise NotFoundError("Chat session not found.")
    if ended_by == EndedBy.CUSTOMER and not config_get("early_end_customer_enabled"):
        raise AppError(ErrorCode.EARLY_END_DISABLED, "Ending a session early is not available.", status=403)
    if ended_by == EndedBy.MITRA and not config_get("early_end_mitra_enabled"):
        raise AppError(ErrorCode.EARLY_END_DISABLED, "Ending a session early is not available.", status=403)
    if session.status == ChatStatus.COMPLETED:
        return session
    if session.status not in (ChatStatus.ACTIVE, ChatStatus.CLOSING):
        raise ConflictError(ErrorCode.SESSION_NOT_ACTIVE, "Only a running session can be ended.")
    _complete(session, ended_by=ended_by, now=timezone.now(), by_user=user)
    return session
