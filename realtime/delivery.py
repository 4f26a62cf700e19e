"""The one way domain services reach people: websocket events and mobile pushes,
sent only after the transaction commits, to an explicit list of recipients.

Services decide *who* gets *what*; this module only delivers. Websocket events go out
in batches (``REALTIME_FANOUT_BATCH_SIZE`` recipients a batch, two Redis round trips
each, see ``realtime.channel_layer``) with at most ``REALTIME_FANOUT_CONCURRENCY``
batches in flight, so a blast to thousands never exhausts a connection pool. A failed
batch is retried (``REALTIME_FANOUT_RETRIES``, with backoff); what is finally dropped,
or refused by a full channel, is logged as an error and counted in Redis
(``delivery_stats``, shown by ``/health``). Pushes go in one batch through the push
backend.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from config.on_commit import after_commit
from config.redis_client import get_async_redis, get_redis
from realtime.consumers import user_group
from realtime.push import PushMessage, get_push_backend

logger = logging.getLogger(__name__)

STATS = ("events_sent", "events_retried", "events_dropped")


@dataclass(frozen=True)
class Event:
    user_id: object
    payload: dict
    # the consumer handler it reaches: realtime.event sends ``payload`` as a frame;
    # realtime.close closes the socket (close_sockets)
    handler: str = "realtime.event"


def deliver(*, events: list[Event] = (), pushes: list[PushMessage] = ()) -> None:
    """Queue ``events`` (websocket) and ``pushes`` (FCM) for after the commit."""
    events, pushes = list(events), list(pushes)
    if events:
        after_commit(lambda: send_events_now(events))
    if pushes:
        after_commit(lambda: get_push_backend().send(pushes))


def close_sockets(user_ids: list) -> None:
    """Close every open socket of ``user_ids`` (4401), whichever process holds it, the
    way events are sent (through this process's outbox when it is a web process)."""
    send_events_now([Event(user_id, {}, handler="realtime.close") for user_id in user_ids])


def _stats_key() -> str:
    return f"{settings.REDIS_PREFIX}:delivery-stats"


def count(**increments: int) -> None:
    """Add to the shared delivery counters (every process writes the same hash)."""
    increments = {name: value for name, value in increments.items() if value}
    if not increments:
        return
    try:
        pipe = get_redis().pipeline(transaction=False)
        for name, value in increments.items():
            pipe.hincrby(_stats_key(), name, value)
        pipe.execute()
    except Exception as exc:  # Redis itself is down: the log line is all that is left
        logger.error("delivery counters not updated (%s): %s", increments, exc)


def delivery_stats() -> dict[str, int]:
    raw = get_redis().hgetall(_stats_key())
    return {name: int(raw.get(name, 0)) for name in STATS}


async def _send_batch(layer, batch: list[Event]) -> tuple[int, int]:
    """Send one batch, retrying the whole batch on a Redis error. Returns (retries, dropped)."""
    sends = [(user_group(e.user_id), {"type": e.handler, "payload": e.payload}) for e in batch]
    retries = settings.REALTIME_FANOUT_RETRIES
    for attempt in range(retries + 1):
        try:
            over_capacity = await layer.group_send_many(sends)
        except Exception as exc:
            if attempt == retries:
                logger.error(
                    "websocket events dropped: %d %s events after %d tries: %s",
                    len(batch), batch[0].payload.get("type"), attempt + 1, exc,
                )
                return attempt, len(batch)
            await asyncio.sleep(settings.REALTIME_FANOUT_RETRY_DELAY * 2**attempt)
        else:
            if over_capacity:
                logger.error("websocket events dropped: %d sockets' channels were full", over_capacity)
            return attempt, over_capacity
    raise AssertionError("unreachable")


async def fan_out(events: list[Event]) -> dict[str, int]:
    """Send every event; returns what happened (``events_sent``/``_retried``/``_dropped``)."""
    layer = get_channel_layer()
    size = max(1, settings.REALTIME_FANOUT_BATCH_SIZE)
    batches = [events[i : i + size] for i in range(0, len(events), size)]
    limit = asyncio.Semaphore(max(1, settings.REALTIME_FANOUT_CONCURRENCY))

    async def bounded(batch):
        async with limit:
            return await _send_batch(layer, batch)

    results = await asyncio.gather(*(bounded(b) for b in batches))
    dropped = sum(d for _, d in results)
    return {
        "events_sent": len(events) - dropped,
        "events_retried": sum(r for r, _ in results),
        "events_dropped": dropped,
    }


async def _count_async(outcome: dict[str, int]) -> None:
    try:
        redis = get_async_redis()
        async with redis.slot:
            pipe = redis.client.pipeline(transaction=False)
            for name, value in outcome.items():
                if value:
                    pipe.hincrby(_stats_key(), name, value)
            await pipe.execute()
    except Exception as exc:
        logger.error("delivery counters not updated (%s): %s", outcome, exc)


class _Outbox:
    """A web process's queue of events waiting to go out, drained by one task on its
    event loop. Request threads hand their events over and return at once (they hold a
    database connection until the request ends), events leave in the order they were
    committed in this process, and whatever piled up meanwhile goes out as one batch."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[list[Event]] = asyncio.Queue()
        self.task = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        while True:
            events, taken = list(await self.queue.get()), 1
            while not self.queue.empty() and len(events) < settings.REALTIME_FANOUT_BATCH_SIZE:
                events.extend(self.queue.get_nowait())
                taken += 1
            try:
                await _count_async(await fan_out(events))
            except Exception:  # fan_out counts its own failures; never let the drain die
                logger.exception("websocket fan-out failed for %d events", len(events))
            finally:
                for _ in range(taken):
                    self.queue.task_done()


_bound_loop: weakref.ref | None = None
_outboxes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class BindEventLoop:
    """ASGI wrapper (``config.asgi``): remembers the server's event loop, so that request
    threads of this process hand their events to it instead of waiting for the send."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        global _bound_loop
        loop = asyncio.get_running_loop()
        if _bound_loop is None or _bound_loop() is not loop:
            _bound_loop = weakref.ref(loop)
        return await self.app(scope, receive, send)


def _enqueue(loop, events: list[Event]) -> None:
    outbox = _outboxes.get(loop)
    if outbox is None:
        outbox = _outboxes[loop] = _Outbox()
    outbox.queue.put_nowait(events)


def enqueue_on_loop(events: list[Event]) -> None:
    """From code running on a web process's event loop (the fast paths): queue
    ``events`` for this loop's outbox, behind what its request threads handed over."""
    _enqueue(asyncio.get_running_loop(), list(events))


async def outbox_sent() -> None:
    """Wait until this loop's outbox has sent everything handed to it so far (before a
    loop is closed: tests, shutdown)."""
    outbox = _outboxes.get(asyncio.get_running_loop())
    if outbox is not None:
        await outbox.queue.join()


def send_events_now(events: list[Event]) -> dict[str, int] | None:
    """Send ``events``. In a web process (a request thread beside the server's event
    loop) they are queued for that loop and this returns ``None`` at once; elsewhere
    (Celery workers, commands, tests without a server) it sends them, waits, and returns
    the outcome."""
    loop = _bound_loop() if _bound_loop is not None else None
    if loop is not None and loop.is_running() and not loop.is_closed() and not _on_loop(loop):
        loop.call_soon_threadsafe(_enqueue, loop, events)
        return None
    outcome = async_to_sync(fan_out)(events)
    count(**outcome)
    return outcome


def _on_loop(loop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
