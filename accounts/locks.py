"""Row locks of accounts (the first tables of the lock order, ``config/locks.py``)."""

from __future__ import annotations

from django.db import connection

from accounts.models import MitraProfile, User
from config.errors import AppError, ErrorCode
from config.locks import row_lock

_SHARE_LOCK_SQL = f"SELECT is_active FROM {User._meta.db_table} WHERE id = %s FOR SHARE"


def account_lock(user_id, **filters) -> User | None:
    """The account's row ``FOR NO KEY UPDATE`` (None when no row matches ``filters``):
    taken by what changes an account — a block, a suspension, an erasure, a free-trial
    request."""
    return row_lock(User.objects.filter(id=user_id, **filters), no_key=True)


def account_in_use_lock(user_id) -> None:
    """Share-lock the account's row for a transaction that starts something in its name
    (a payment, a chat, offers of its request), and refuse if it has been erased or
    deactivated meanwhile. Erasure (``privacy.services.account_erase``) and a block
    (``safety.services.block_create``) take the row with ``account_lock``: they wait for
    what holds this lock to commit, and whatever comes after them sees their result.
    (Raw SQL: Django's ``select_for_update`` has no ``FOR SHARE``.)"""
    with connection.cursor() as cursor:
        cursor.execute(_SHARE_LOCK_SQL, [user_id])
        row = cursor.fetchone()
    if row is None or not row[0]:
        raise AppError(ErrorCode.AUTHENTICATION_FAILED, "This account can no longer be used.", status=401)


def mitra_profile_lock(user_id, **filters) -> MitraProfile | None:
    """A mitra's profile row ``FOR UPDATE``: their accepts and status changes serialize
    on it, so capacity holds for simultaneous accepts."""
    return row_lock(MitraProfile.objects.filter(user_id=user_id, **filters))
