"""Row locks of pairing (``chat_sessions``: after accounts and mitra profiles, before
extensions and payments in the lock order, ``config/locks.py``)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from config.locks import row_lock, rows_lock
from pairing.models import ChatSession, ChatStatus


def chat_session_lock(chat_session_id, *, no_key: bool = False, **filters) -> ChatSession | None:
    """One attempt or session ``FOR UPDATE`` (None when no row matches ``filters``)."""
    return row_lock(ChatSession.objects.filter(id=chat_session_id, **filters), no_key=no_key)


def chat_sessions_lock(rows: QuerySet[ChatSession]) -> list[ChatSession]:
    """The attempts or sessions of ``rows`` (a filtered queryset, ``select_related`` as
    the caller needs), ``FOR UPDATE``, in primary-key order — only the session rows,
    whatever the filters join."""
    return list(rows_lock(rows, of=("self",)))


def customer_waiting_attempts_lock(customer_id) -> list[ChatSession]:
    """The customer's waiting attempts, locked (a block takes them before it writes the
    block, so a late joiner's offers of them wait for it, or are withdrawn by it)."""
    return chat_sessions_lock(ChatSession.objects.filter(customer_id=customer_id, status=ChatStatus.WAITING))


def chat_session_claim(*conditions: Q, exclude_ids=()) -> object | None:
    """The id of one matching session nobody else holds, locked ``FOR UPDATE SKIP
    LOCKED`` (a backstop's claim: concurrent runs split the work), or None."""
    rows = ChatSession.objects.filter(*conditions)
    if exclude_ids:
        rows = rows.exclude(id__in=exclude_ids)
    return rows_lock(rows, skip_locked=True, of=("self",)).values_list("id", flat=True).first()
