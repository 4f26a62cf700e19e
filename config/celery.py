"""The Celery app: broker is REDIS_URL; tasks are found in every installed app.

https://docs.celeryq.dev/en/stable/django/first-steps-with-django.html
"""

import logging
import os

from celery import Celery
from celery.signals import beat_init, setup_logging, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

logger = logging.getLogger(__name__)

app = Celery("curhat")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def log_as_django_does(loglevel=None, **kwargs):
    """Worker and beat log through Django's ``LOGGING`` — its format and its redaction
    filter (SPEC §13: no personal data in any line) — instead of the handlers Celery
    would install; ``--loglevel`` still sets the level."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)


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
    for task in ("pairing.tasks.fire_due_timers", "payments.tasks.sweep_payments", "accounts.tasks.publish_suspended_users"):
        try:
            sender.app.send_task(task)
        except Exception as exc:  # the broker is down: the schedule runs them when it is back
            logger.warning("beat start: could not enqueue %s: %s", task, exc)
