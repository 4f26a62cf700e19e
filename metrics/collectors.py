"""What ``/metrics`` reads when it is scraped rather than what processes record: the
websocket delivery counters every process already keeps in Redis, the Celery queue's
length, and figures from the database. Each source costs a fixed number of round trips
per scrape (Redis: one ``HGETALL``, one pipeline of ``LLEN``; PostgreSQL: three
``GROUP BY`` queries), whatever the size of the tables. A source that cannot be read
is left out of that scrape (and logged), and ``curhat_metrics_source_up`` says so.
https://prometheus.github.io/client_python/collector/custom/
"""

from __future__ import annotations

import logging

from django.conf import settings
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from config.redis_client import get_redis
from failed_pairings.selectors import open_failure_counts_by_cause
from payments.selectors import payment_counts_by_status
from realtime.delivery import delivery_stats
from safety.selectors import unresolved_alert_counts_by_status

logger = logging.getLogger(__name__)

# kombu's Redis transport keeps a queue's messages of priority p in "<queue>\x06\x16<p>"
# (p > 0) besides "<queue>" itself: https://docs.celeryq.dev/en/stable/userguide/routing.html#redis-message-priorities
_KOMBU_PRIORITY_SEPARATOR = "\x06\x16"
_KOMBU_PRIORITY_STEPS = (0, 3, 6, 9)


def celery_queue_keys(queue: str) -> list[str]:
    """The Redis lists holding ``queue``'s waiting messages."""
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
    return [f"{prefix}{queue}" if not step else f"{prefix}{queue}{_KOMBU_PRIORITY_SEPARATOR}{step}" for step in _KOMBU_PRIORITY_STEPS]


def _delivery():
    stats = delivery_stats()
    help_ = "Websocket events {} by every process since the Redis counters began (realtime/delivery.py)."
    for name, stat, what in (
        ("curhat_realtime_events_delivered", "events_sent", "handed to the channel layer"),
        ("curhat_realtime_events_dropped", "events_dropped", "dropped (retries spent, or a full channel)"),
        ("curhat_realtime_event_retries", "events_retried", "batch retries"),
    ):
        yield CounterMetricFamily(name, help_.format(what), value=stats[stat])


def _celery_queue():
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    pipe = get_redis().pipeline(transaction=False)
    for key in celery_queue_keys(queue):
        pipe.llen(key)
    family = GaugeMetricFamily(
        "curhat_celery_queue_length", "Tasks waiting in the Celery broker queue (LLEN, all priorities).", labels=["queue"]
    )
    family.add_metric([queue], sum(pipe.execute()))
    yield family


def _database():
    families = (
        ("curhat_payments", "Payment sessions by status.", "status", payment_counts_by_status()),
        ("curhat_failed_pairings_open", "Failed pairings no operator has actioned yet, by cause tag.", "cause",
         open_failure_counts_by_cause()),
        ("curhat_safety_alerts_unresolved", "Crisis alerts not resolved yet, by status (open: nobody acted yet).",
         "status", unresolved_alert_counts_by_status()),
    )
    for name, help_, label, counts in families:
        family = GaugeMetricFamily(name, help_, labels=[label])
        for value, count in sorted(counts.items()):
            family.add_metric([value], count)
        yield family


SOURCES = {"delivery": _delivery, "celery_queue": _celery_queue, "database": _database}


class ScrapeTimeCollector:
    """Registered on the registry of one scrape (``metrics.views``)."""

    def collect(self):
        up = GaugeMetricFamily(
            "curhat_metrics_source_up", "1 when this scrape could read the source, 0 when it could not.", labels=["source"]
        )
        for source, read in SOURCES.items():
            try:
                families = list(read())
            except Exception as exc:  # noqa: BLE001 - the rest of the scrape still answers
                logger.warning("metrics: %s unreadable: %s", source, exc)
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            yield from families
        yield up
