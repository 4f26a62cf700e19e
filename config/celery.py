"""The Celery app: broker is REDIS_URL; tasks are found in every installed app.

https://docs.celeryq.dev/en/stable/django/first-steps-with-django.html
"""

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("curhat")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def fire_overdue_timers_on_start(sender, **kwargs):
    """A worker that starts (or restarts after a crash) first fires every deadline that
    passed while no worker ran, instead of waiting for beat's next backstop run. The
    tasks a killed worker held come back only after the broker's visibility timeout;
    their deadlines are in the database, so nothing waits that long."""
    sender.app.send_task("pairing.tasks.fire_due_timers")
