"""The one way to run a side effect (websocket push, FCM, Celery enqueue, Redis publish):
after the surrounding transaction commits, never inside it.

https://docs.djangoproject.com/en/5.2/topics/db/transactions/#performing-actions-after-commit
``robust=True``: one failing side effect is logged and does not stop the others.
Outside a transaction (autocommit) the callable runs at once.
"""

from __future__ import annotations

from typing import Callable

from celery import current_app
from django.db import transaction


def after_commit(func: Callable[[], None]) -> None:
    transaction.on_commit(func, robust=True)


def task_after_commit(task_name: str, *args, eta=None) -> None:
    """After commit, enqueue the Celery task ``task_name`` (``app.tasks`` module path +
    function name) with ``args`` (JSON values: ids as strings), at ``eta`` when given.

    By name, as Celery allows (https://docs.celeryq.dev/en/stable/reference/celery.html#celery.Celery.send_task):
    a service that schedules its own task never imports its ``tasks`` module, which
    imports the service — no import cycle. ``config/tests/test_task_names.py`` checks
    every name used this way is a registered task."""
    after_commit(lambda: current_app.send_task(task_name, args=list(args), eta=eta))
