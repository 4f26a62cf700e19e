"""Row locks: one order for the whole codebase, and the one way to take them.

Two transactions that lock the same rows in different orders can deadlock; PostgreSQL
then kills one of them (a 500 for somebody, or a retried task). So every transaction
takes its row locks in this order of tables, and within a table in primary-key order:

    users → mitra_profiles → chat_sessions → extensions → payment_sessions → pairing_failures

- ``users``: ``FOR NO KEY UPDATE`` by what changes an account (a block, a suspension, an
  erasure), ``FOR SHARE`` by what starts something in its name (a payment, a chat, the
  offers of its request): ``accounts.locks``.
- ``mitra_profiles``: a mitra's own accepts and status changes serialize on it
  (capacity): ``accounts.locks``.
- ``chat_sessions``: an attempt or a session, before anything that hangs off it:
  ``pairing.locks``.
- ``extensions``: flipped by a conditional ``UPDATE … WHERE status = 'pending'`` while
  its session's row is held (``extensions.services``).
- ``payment_sessions``: ``payments.locks``.
- ``pairing_failures``: after their payment (operator actions): ``failed_pairings.locks``.

A transaction may skip tables, never go back to an earlier one for rows it did not lock
yet. Rows of other tables come before the order or alone, each through its app's
``locks`` module: a report or a safety alert first (a report's decision may suspend its
account; nothing locks one after an account), the runtime settings alone. ``config/tests/test_lock_order.py`` runs the hot paths and
checks every locking statement against this order.

The app modules build on ``row_lock`` and ``rows_lock``; no code outside a ``locks`` module calls
``select_for_update`` (a test greps for it). Three hot statements lock in raw SQL
(a message send, the payment sweeper, the message purge); each says so where it is.
"""

from __future__ import annotations

from django.db.models import QuerySet

#: the tables of the lock order, first to last
LOCK_ORDER = ("users", "mitra_profiles", "chat_sessions", "extensions", "payment_sessions", "pairing_failures")


def row_lock(queryset: QuerySet, *, no_key: bool = False):
    """The one row of ``queryset`` (a lookup by a unique key) locked ``FOR UPDATE`` (``FOR
    NO KEY UPDATE`` with ``no_key``), or None. No ``ORDER BY``: one row has no order,
    and compiling one costs time on the hottest paths (a message send)."""
    return next(iter(queryset.select_for_update(no_key=no_key)[:1]), None)


def rows_lock(queryset: QuerySet, *, no_key: bool = False, skip_locked: bool = False, of: tuple = ()) -> QuerySet:
    """``queryset`` locked ``FOR UPDATE`` (``FOR NO KEY UPDATE`` with ``no_key``: enough
    unless the row's key changes, and it does not block foreign keys to the row), in
    primary-key order. Evaluate it inside a transaction."""
    return queryset.select_for_update(no_key=no_key, skip_locked=skip_locked, of=of).order_by("pk")
