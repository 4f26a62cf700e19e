"""Liveness of the Celery worker and of beat, as ``GET /health`` reports it.

Each side writes the time it was last seen alive into one Redis key; ``/health`` reads
both keys in one round trip and calls a side ``stale`` once its time is older than
``HEALTH_WORKER_MAX_AGE_SECONDS`` / ``HEALTH_BEAT_MAX_AGE_SECONDS``.

**Worker**: a consumer bootstep (https://docs.celeryq.dev/en/stable/userguide/extending.html#consumer-bootsteps)
puts a repeating entry on the consumer's timer, which the worker's own event loop runs
between messages, whether or not a task runs. The entry only notes the time in memory;
a small thread of the worker process copies that time into Redis every
``HEALTH_WORKER_HEARTBEAT_SECONDS``. So the key keeps its age when the worker dies (the
thread dies with it) *and* when its loop hangs (the thread keeps writing the same old
time), and the key is back within one interval after Redis lost it (a restarted Redis
is empty), without waiting for the worker to reconnect to its broker. Celery's own
``heartbeat_sent`` signal was not used: it fires only with worker events enabled, and
the workers here run ``--without-heartbeat`` in tests.

**Beat**: beat itself, not the task it schedules, proves beat is alive. After beat has
handed the deadline backstop (``pairing.tasks.fire_due_timers``, every 2 s) to the
broker, the ``after_task_publish`` signal in the beat process records the time. A
record written by the task on the worker would go stale with the worker too, and
``/health`` could not tell which of the two stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone

from celery import bootsteps
from django.conf import settings

from config.redis_client import get_redis

logger = logging.getLogger(__name__)

WORKER, BEAT = "worker", "beat"
BACKSTOP_TASK = "pairing.tasks.fire_due_timers"
# a key of a deployment that stopped for good does not stay forever
KEY_TTL_SECONDS = 7 * 24 * 3600


def liveness_key(side: str) -> str:
    return f"{settings.REDIS_PREFIX}:liveness:{side}"


def liveness_record(side: str, at: float | None = None) -> None:
    """Write ``at`` (epoch seconds, default now) as the time ``side`` was last seen."""
    get_redis().set(liveness_key(side), repr(at if at is not None else time.time()), ex=KEY_TTL_SECONDS)


def liveness_read(now: float | None = None) -> dict[str, dict]:
    """``{"worker": {status, age_seconds, last_seen}, "beat": {...}}``: ``ok``, ``stale``
    (older than its threshold) or ``missing`` (never written, or Redis lost it). One
    Redis round trip; raises what Redis raises."""
    now = time.time() if now is None else now
    limits = {WORKER: settings.HEALTH_WORKER_MAX_AGE_SECONDS, BEAT: settings.HEALTH_BEAT_MAX_AGE_SECONDS}
    raw = get_redis().mget([liveness_key(side) for side in limits])
    parts = {}
    for (side, limit), value in zip(limits.items(), raw):
        try:
            seen = float(value) if value is not None else None
        except ValueError:
            seen = None
        if seen is None:
            parts[side] = {"status": "missing", "age_seconds": None, "last_seen": None}
            continue
        age = max(0.0, now - seen)
        parts[side] = {
            "status": "ok" if age <= limit else "stale",
            "age_seconds": round(age, 1),
            "last_seen": datetime.fromtimestamp(seen, tz=timezone.utc).isoformat().replace("+00:00", "Z"),
        }
    return parts


# --- the worker side --------------------------------------------------------------------------
class _WorkerClock:
    """The time the worker's event loop last ran its heartbeat entry, and the thread that
    copies it into Redis. One per worker process."""

    def __init__(self) -> None:
        self.last_tick: float | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        self.last_tick = time.time()

    def start_writer(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._write_forever, name="liveness-heartbeat", daemon=True)
                self._thread.start()
        self._wake.set()  # write at once (a worker that just connected)

    def _write_forever(self) -> None:
        failing = False
        while True:
            self._wake.wait(settings.HEALTH_WORKER_HEARTBEAT_SECONDS)
            self._wake.clear()
            if self.last_tick is None:
                continue
            try:
                liveness_record(WORKER, self.last_tick)
                if failing:
                    logger.info("worker heartbeat: Redis is reachable again")
                failing = False
            except Exception as exc:  # Redis away: /health reports that itself
                if not failing:
                    logger.warning("worker heartbeat: could not write (%s)", type(exc).__name__)
                failing = True


worker_clock = _WorkerClock()


class WorkerHeartbeat(bootsteps.StartStopStep):
    """The consumer bootstep: started again on every (re)connection to the broker,
    stopped when the connection is lost or the worker shuts down."""

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.entry = None

    def start(self, consumer):
        worker_clock.tick()
        self.entry = consumer.timer.call_repeatedly(settings.HEALTH_WORKER_HEARTBEAT_SECONDS, worker_clock.tick)
        worker_clock.start_writer()

    def stop(self, consumer):
        if self.entry is not None:
            consumer.timer.cancel(self.entry)
            self.entry = None

    shutdown = stop


# --- the beat side ----------------------------------------------------------------------------
class _BeatState:
    in_beat = False


beat_state = _BeatState()


def beat_started() -> None:
    """Called from ``beat_init``: this process is beat."""
    beat_state.in_beat = True


def beat_published(task_name: str) -> None:
    """Called from ``after_task_publish``: beat handed ``task_name`` to the broker."""
    if not beat_state.in_beat or task_name != BACKSTOP_TASK:
        return
    try:
        liveness_record(BEAT)
    except Exception as exc:
        logger.warning("beat liveness: could not write (%s)", type(exc).__name__)
