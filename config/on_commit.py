"""The one way to run a side effect (websocket push, FCM, Celery enqueue, Redis publish):
after the surrounding transaction commits, never inside it.

https://docs.djangoproject.com/en/5.2/topics/db/transactions/#performing-actions-after-commit
``robust=True``: one failing side effect is logged and does not stop the others.
Outside a transaction (autocommit) the callable runs at once.
"""

from __future__ import annotations

from typing import Callable

from django.db import transaction


def after_commit(func: Callable[[], None]) -> None:
    transaction.on_commit(func, robust=True)
