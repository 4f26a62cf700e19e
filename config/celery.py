"""The Celery app: broker is REDIS_URL; tasks are found in every installed app.

https://docs.celeryq.dev/en/stable/django/first-steps-with-django.html
"""

import logging
import os
from logging.config import dictConfig

from celery import Celery
from celery.signals import (
    after_task_publish,
    before_task_publish,
    beat_init,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_ready,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.conf import settings  # noqa: E402

from config.liveness import WorkerHeartbeat, beat_published, beat_started  # noqa: E402
from config.request_id import task_finished, task_headers_add, task_started  # noqa: E402

logger = logging.getLogger(__name__)

app = Celery("curhat")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def use_django_logging(loglevel=None, **kwargs):
    """Worker and beat log as the web processes do (``LOGGING`` in settings: JSON lines or
    plain text, with the request id and the redaction filter of SPEC §13), not in
    Celery's own format: with a receiver of this signal Celery configures no logging
    itself (https://docs.celeryq.dev/en/stable/userguide/signals.html#setup-logging).
    ``--loglevel`` still sets the root level."""
    dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)


# the worker's heartbeat for /health (config/liveness.py)
app.steps["consumer"].add(WorkerHeartbeat)


@before_task_publish.connect
def carry_request_id(headers=None, **kwargs):
    task_headers_add(headers)


@task_prerun.connect
def restore_request_id(task=None, **kwargs):
    task_started(task)


@task_postrun.connect
def clear_request_id(**kwargs):
    task_finished()


@after_task_publish.connect
def record_beat_liveness(sender=None, **kwargs):
    """In beat: the backstop reached the broker, so beat is alive (``config/liveness.py``)."""
    beat_published(sender)


@worker_ready.connect
def fire_overdue_timers_on_start(sender, **kwargs):
    """A worker that starts (or restarts after a crash) first fires every deadline that
    passed while no worker ran, instead of waiting for beat's next backstop run. The
    tasks a killed worker held come back only after the broker's visibility timeout;
    their deadlines are in the database, so nothing waits that long."""
    sender.app.send_task("pairing.tasks.fire_due_timers")


@beat_init.connect
def catch_up_on_start(sender, **kwargs):
    """Beat that starts (or restarts after a crash) runs its backstops once at once: the
    sweeper's 60 s interval starts again from zero at every start, so payments that ran
    out while no beat ran would otherwise wait up to a minute more (``make faults`` F5)."""
    beat_started()
    for task in (
        "pairing.tasks.fire_due_timers", "payments.tasks.sweep_payments", "accounts.tasks.publish_suspended_users",
        "idempotency.tasks.prune_idempotency_keys",
    ):
        try:
            sender.app.send_task(task)
        except Exception as exc:  # the broker is down: the schedule runs them when it is back
            logger.warning("beat start: could not enqueue %s: %s", task, exc)
