"""Messages and receipts. Only the two participants of a session may use them; anyone
else gets "not found". Sending is allowed while the session is active and, once it is
closing, one goodbye per side."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from chat.models import Message, SenderRole
from chat.representations import message_payload
from config.errors import ConflictError, ErrorCode, NotFoundError
from pairing.models import ChatSession, ChatStatus
from realtime.delivery import Event, deliver

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
    # [:1], not first(): first() orders by pk, which costs SQL compilation on the hottest path
    session = next(iter(ChatSession.objects.select_for_update(no_key=True).filter(id=chat_session_id)[:1]), None)
    if session is None:
        raise NotFoundError("Chat session not found.")
    return session, participant_role(session, user)


@transaction.atomic
def message_send(*, user, chat_session_id, client_message_id: str, text: str) -> tuple[Message, bool]:
    """Send (or replay) a message. Returns ``(message, created)``; the same
    ``client_message_id`` from the same side returns the first message unchanged.
    Sends of one session serialize on its row, so "one goodbye each" holds under races."""
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
    return message, True


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
        from django.db.models import Q

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
