"""Mitra presence: "connected" = at least one live websocket whose last heartbeat
(connect or ping) is within ``PRESENCE_WINDOW_SECONDS``. Kept in Redis so every
process sees it: one sorted set per user, member = channel name, score = last beat."""

from __future__ import annotations

import time

from django.conf import settings

from config.redis_client import get_async_redis, get_redis

PRESENCE_WINDOW_SECONDS = 30


def _key(user_id) -> str:
    return f"{settings.REDIS_PREFIX}:presence:{user_id}"


def presence_beat(user_id, channel_name: str) -> None:
    key = _key(user_id)
    pipe = get_redis().pipeline(transaction=False)
    pipe.zadd(key, {channel_name: time.time()})
    pipe.expire(key, PRESENCE_WINDOW_SECONDS * 4)
    pipe.execute()


def presence_leave(user_id, channel_name: str) -> None:
    get_redis().zrem(_key(user_id), channel_name)


# The consumers' versions run on the event loop: a storm of a thousand sockets opening
# or closing at once then needs no thread each, and a socket's beat and leave keep
# their order (a leave that overtook a beat would leave a ghost "connected" behind).
async def presence_beat_async(user_id, channel_name: str) -> None:
    key = _key(user_id)
    redis = get_async_redis()
    async with redis.slot:
        pipe = redis.client.pipeline(transaction=False)
        pipe.zadd(key, {channel_name: time.time()})
        pipe.expire(key, PRESENCE_WINDOW_SECONDS * 4)
        await pipe.execute()


async def presence_leave_async(user_id, channel_name: str) -> None:
    redis = get_async_redis()
    async with redis.slot:
        await redis.client.zrem(_key(user_id), channel_name)


def connected_user_ids(user_ids) -> set[str]:
    """Which of ``user_ids`` have a live socket: one Redis round trip for all of them."""
    user_ids = [str(u) for u in user_ids]
    if not user_ids:
        return set()
    since = time.time() - PRESENCE_WINDOW_SECONDS
    pipe = get_redis().pipeline(transaction=False)
    for user_id in user_ids:
        pipe.zcount(_key(user_id), since, "+inf")
    return {user_id for user_id, count in zip(user_ids, pipe.execute()) if count > 0}


def is_connected(user_id) -> bool:
    return bool(connected_user_ids([user_id]))
