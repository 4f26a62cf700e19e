"""Reads of accounts."""

from __future__ import annotations

from django.db import connection

from accounts.models import User
from config.errors import AppError, ErrorCode

_SHARE_LOCK_SQL = f"SELECT is_active FROM {User._meta.db_table} WHERE id = %s FOR SHARE"


def user_is_active(user_id) -> bool:
    """Whether the account may still use the API and its sockets (as JWT auth checks):
    active, and not suspended by an operator."""
    return User.objects.filter(id=user_id, is_active=True, suspended_at__isnull=True).exists()


def account_in_use_lock(user_id) -> None:
    """Share-lock the account's row for a transaction that starts something in its name
    (a payment, a chat, offers of its request), and refuse if it has been erased or
    deactivated meanwhile. Erasure (``privacy.services.account_erase``) and a block
    (``safety.services.block_create``) take the row ``FOR NO KEY UPDATE``: they wait for
    what holds this lock to commit, and whatever comes after them sees their result."""
    with connection.cursor() as cursor:
        cursor.execute(_SHARE_LOCK_SQL, [user_id])
        row = cursor.fetchone()
    if row is None or not row[0]:
        raise AppError(ErrorCode.AUTHENTICATION_FAILED, "This account can no longer be used.", status=401)
