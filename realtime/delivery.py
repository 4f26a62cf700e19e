"""The one way domain services reach people: websocket events and mobile pushes,
sent only after the transaction commits, to an explicit list of recipients.

Services decide *who* gets *what*; this module only delivers. Websocket events are
fanned out concurrently over the channel layer (one event loop, all group sends in
flight at once), pushes in one batch through the push backend.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from config.on_commit import after_commit
from realtime.consumers import user_group
from realtime.push import PushMessage, get_push_backend

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    user_id: object
    payload: dict


def deliver(*, events: list[Event] = (), pushes: list[PushMessage] = ()) -> None:
    """Queue ``events`` (websocket) and ``pushes`` (FCM) for after the commit."""
    events, pushes = list(events), list(pushes)
    if events:
        after_commit(lambda: send_events_now(events))
    if pushes:
        after_commit(lambda: get_push_backend().send(pushes))


async def _fan_out(events: list[Event]) -> None:
    layer = get_channel_layer()
    results = await asyncio.gather(
        *(layer.group_send(user_group(e.user_id), {"type": "realtime.event", "payload": e.payload}) for e in events),
        return_exceptions=True,
    )
    for event, result in zip(events, results):
        if isinstance(result, Exception):
            logger.warning("websocket event %s to %s failed: %s", event.payload.get("type"), event.user_id, result)


def send_events_now(events: list[Event]) -> None:
    async_to_sync(_fan_out)(events)
