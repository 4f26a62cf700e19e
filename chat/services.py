"""Messages and receipts. Only the two participants of a session may use them; anyone
else gets "not found". Sending is allowed while the session is active and, once it is
closing, one goodbye per side."""

from __future__ import annotations

import asyncio
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.db import connection, connections, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from chat.models import Message, SenderRole
from chat.representations import message_payload
from config import async_db
from config.errors import ConflictError, ErrorCode, NotFoundError
from config.on_commit import after_commit
from config.request_id import with_request_id
from live_settings.selectors import config_get
from pairing.locks import chat_session_lock
from pairing.models import ChatSession, ChatStatus
from realtime.delivery import Event, deliver, enqueue_on_loop
from safety.crisis import customer_message_screen

logger = logging.getLogger(__name__)

MAX_TEXT_LENGTH = 4000


def participant_role(session: ChatSession, user) -> str:
    if session.customer_id == user.id:
        return SenderRole.CUSTOMER
    if session.mitra_id is not None and session.mitra_id == user.id:
        return SenderRole.MITRA
    raise NotFoundError("Chat session not found.")


def _other_party(session: ChatSession, role: str):
    return session.mitra_id if role == SenderRole.CUSTOMER else session.customer_id


def _lock_session_for(user, chat_session_id) -> tuple[ChatSession, str]:
    session = chat_session_lock(chat_session_id, no_key=True)
    if session is None:
        raise NotFoundError("Chat session not found.")
    return session, participant_role(session, user)


# The common case of a send in one statement (one round trip): the session is active,
# the sender is one of its participants with an active account, and this side has not
# used this client_message_id yet. The session row is locked (FOR NO KEY UPDATE), so a
# send serializes with the session's move to closing, as in message_send's full path. No
# row back means that path must decide: replay, goodbye, or an error.
_SEND_WHILE_ACTIVE_SQL = f"""
WITH s AS (
    SELECT cs.id, cs.customer_id, cs.mitra_id
    FROM {ChatSession._meta.db_table} cs
    WHERE cs.id = %(session)s AND cs.status = %(active)s
      AND (cs.customer_id = %(user)s OR cs.mitra_id = %(user)s)
      AND EXISTS (SELECT 1 FROM {User._meta.db_table} u
                  WHERE u.id = %(user)s AND u.is_active AND u.suspended_at IS NULL)
    FOR NO KEY UPDATE OF cs
)
INSERT INTO {Message._meta.db_table} (id, chat_session_id, sender, sender_user_id, text, client_message_id, created_at)
SELECT %(id)s, s.id, CASE WHEN s.customer_id = %(user)s THEN %(customer)s ELSE %(mitra)s END,
       %(user)s, %(text)s, %(client_message_id)s, %(now)s
FROM s
ON CONFLICT DO NOTHING
RETURNING sender, (SELECT CASE WHEN s.customer_id = %(user)s THEN s.mitra_id ELSE s.customer_id END FROM s)
"""


def _send_while_active_params(user_id, chat_session_id, client_message_id: str, text: str) -> dict:
    return {
        "session": chat_session_id, "user": user_id, "id": uuid.uuid4(), "text": text,
        "client_message_id": client_message_id, "now": timezone.now(), "active": ChatStatus.ACTIVE,
        "customer": SenderRole.CUSTOMER, "mitra": SenderRole.MITRA,
    }


def _sent(params: dict, row: tuple) -> tuple[Message, list[Event]]:
    """The message ``_SEND_WHILE_ACTIVE_SQL`` inserted, and its events: the other side,
    and the sender's other devices (each app dedupes by client_message_id)."""
    sender, other_party = row
    message = Message(
        id=params["id"], chat_session_id=params["session"], sender=sender, sender_user_id=params["user"],
        text=params["text"], client_message_id=params["client_message_id"], created_at=params["now"],
    )
    payload = {"type": "message", "message": message_payload(message)}
    return message, [Event(other_party, payload), Event(params["user"], payload)]


@transaction.atomic
def message_send(*, user, chat_session_id, client_message_id: str, text: str) -> tuple[Message, bool]:
    """Send (or replay) a message. Returns ``(message, created)``; the same
    ``client_message_id`` from the same side returns the first message unchanged.
    Sends of one session serialize on its row, so "one goodbye each" holds under races."""
    params = _send_while_active_params(user.id, chat_session_id, client_message_id, text)
    with connection.cursor() as cursor:
        cursor.execute(_SEND_WHILE_ACTIVE_SQL, params)
        row = cursor.fetchone()
    if row is not None:
        message, events = _sent(params, row)
        deliver(events=events)
        _screen_after_commit(message)
        return message, True

    session, role = _lock_session_for(user, chat_session_id)
    existing = next(iter(Message.objects.filter(chat_session=session, sender=role, client_message_id=client_message_id)[:1]), None)
    if existing is not None:
        return existing, False
    if session.status == ChatStatus.CLOSING:
        already = Message.objects.filter(chat_session=session, sender=role, created_at__gte=session.closing_started_at).exists()
        if already:
            raise ConflictError(ErrorCode.GOODBYE_ALREADY_SENT, "You have already sent your goodbye message.")
    elif session.status != ChatStatus.ACTIVE:
        raise ConflictError(ErrorCode.SESSION_NOT_ACTIVE, "Messages can only be sent during the session.")
    message = Message.objects.create(
        chat_session=session, sender=role, sender_user=user, text=text, client_message_id=client_message_id
    )
    payload = {"type": "message", "message": message_payload(message)}
    # the other side, and the sender's other devices (each app dedupes by client_message_id)
    deliver(events=[Event(_other_party(session, role), payload), Event(user.id, payload)])
    _screen_after_commit(message)
    return message, True


def _screen_after_commit(message: Message) -> None:
    """A customer's message is screened for crisis phrases once it has committed, on the
    screening thread: the request does not wait for it (nor for a broker in trouble).
    It runs with the request's id: an alert task it enqueues carries it
    (config/request_id.py)."""
    if message.sender == SenderRole.CUSTOMER:
        args = (message.chat_session_id, message.id, message.text)
        after_commit(lambda: _screening.submit(with_request_id(_screen_on_thread), *args))


# one thread per process screens customer messages after their commit, off the request
# threads and the event loop (SPEC §12: nothing delays a message)
_screening = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crisis-screening")


def screening_done() -> None:
    """Wait until the screening thread has screened everything handed to it so far
    (tests; a process about to exit)."""
    _screening.submit(lambda: None).result()


def _screen_on_thread(chat_session_id, message_id, text: str) -> None:
    try:
        customer_message_screen(chat_session_id=chat_session_id, message_id=message_id, text=text)
    except Exception:
        logger.exception("crisis screening failed for message %s", message_id)
    finally:
        connections.close_all()  # this thread's connection (a settings read) goes back to the pool


async def message_send_while_active(*, user_id, chat_session_id, client_message_id: str, text: str) -> dict | None:
    """``message_send``'s common case from a web process's event loop, without Django's
    request cycle (``chat/api/fast_paths.py``): the same statement, on the loop's own
    connection, its events handed to the loop's outbox once it has committed. Returns
    the new message's payload, or ``None`` when ``message_send`` must decide (nothing
    was written then). The caller has checked the input as the API's serializer does."""
    params = _send_while_active_params(user_id, chat_session_id, client_message_id, text)
    row = await async_db.fetchone(_SEND_WHILE_ACTIVE_SQL, params)
    if row is None:
        return None
    message, events = _sent(params, row)
    enqueue_on_loop(events)
    if message.sender == SenderRole.CUSTOMER:
        asyncio.get_running_loop().run_in_executor(
            _screening, with_request_id(_screen_on_thread), message.chat_session_id, message.id, text
        )
    return events[0].payload["message"]


def messages_list(*, user, chat_session_id, after=None, limit: int = 200) -> tuple[list[Message], bool]:
    """Up to ``limit`` messages after ``after``, oldest first, and whether more follow
    (page on with ``after`` = the last id)."""
    session = ChatSession.objects.filter(id=chat_session_id).first()
    if session is None:
        raise NotFoundError("Chat session not found.")
    participant_role(session, user)
    qs = Message.objects.filter(chat_session=session).order_by("created_at", "id")
    if after is not None:
        anchor = Message.objects.filter(chat_session=session, id=after).values("created_at", "id").first()
        if anchor is None:
            raise NotFoundError("Message not found in this chat.")
        qs = qs.filter(Q(created_at__gt=anchor["created_at"]) | Q(created_at=anchor["created_at"], id__gt=anchor["id"]))
    page = list(qs[: limit + 1])
    return page[:limit], len(page) > limit


@transaction.atomic
def messages_mark(*, user, chat_session_id, up_to, kind: str) -> int:
    """Mark the other side's messages up to ``up_to`` as delivered or read (read implies
    delivered) and tell their sender with a ``receipt`` event. Idempotent."""
    session = ChatSession.objects.filter(id=chat_session_id).first()
    if session is None:
        raise NotFoundError("Chat session not found.")
    role = participant_role(session, user)
    anchor = Message.objects.filter(chat_session=session, id=up_to).values("created_at", "sender").first()
    if anchor is None:
        raise NotFoundError("Message not found in this chat.")
    now = timezone.now()
    theirs = Message.objects.filter(chat_session=session, created_at__lte=anchor["created_at"]).exclude(sender=role)
    changed = theirs.filter(delivered_at__isnull=True).update(delivered_at=now)
    if kind == "read":
        changed = theirs.filter(read_at__isnull=True).update(read_at=now)
    if changed:
        deliver(
            events=[
                Event(
                    _other_party(session, role),
                    {"type": "receipt", "chat_session_id": str(session.id), "kind": kind, "up_to": str(up_to)},
                )
            ]
        )
    return changed


# --- retention (SPEC §13) ------------------------------------------------------------------------
PURGE_BATCH = 10_000

# one batch: the oldest texts still kept, locked so that two purges (a command beside
# beat's task) split the work; the text goes, the row stays (receipts, history pages)
_PURGE_SQL = f"""
WITH batch AS (
    SELECT id FROM {Message._meta.db_table}
    WHERE purged_at IS NULL AND created_at < %(cutoff)s
    ORDER BY created_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE {Message._meta.db_table} m SET text = '', purged_at = %(now)s
FROM batch WHERE m.id = batch.id
"""


def messages_purge(*, now=None, batch_size: int = PURGE_BATCH) -> int:
    """Erase the text of every message older than ``message_retention_days`` (SPEC §13),
    in batches of ``batch_size``, each committed on its own: the memory used does not
    grow with the number of messages, and a pass that stops half way (a deploy, a
    killed worker) leaves the rest to the next one. Idempotent. Returns the number of
    messages purged by this pass."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=config_get("message_retention_days"))
    purged = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_PURGE_SQL, {"cutoff": cutoff, "now": now, "limit": batch_size})
            batch = cursor.rowcount
        purged += batch
        if batch < batch_size:
            break
    if purged:
        logger.info("retention purge: %d message text(s) older than %s erased", purged, cutoff.date())
    return purged
