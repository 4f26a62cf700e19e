"""The Redis channel layer, sized and batched for fan-out to thousands of sockets.

channels-redis builds one redis-py asyncio pool per event loop; redis-py 8 caps it at
100 connections and raises ``Too many connections`` at once when it is full. A blast
to hundreds of mitras, or hundreds of sockets closing at once, then loses events and
crashes consumers. Three changes here:

- Every command this layer sends on behalf of a socket or a sender (``send``,
  ``group_add``, ``group_discard``, ``group_send``, ``group_send_many``) first takes a
  slot of a per-event-loop semaphore (``command_concurrency``,
  ``REDIS_CHANNEL_COMMAND_CONCURRENCY``), so a storm queues instead of opening more
  connections than the pool has (``max_connections``, ``REDIS_CHANNEL_MAX_CONNECTIONS``,
  sized above it for the receive loop). (redis-py's ``BlockingConnectionPool`` would
  wait too, but a consumer cancelled while it waits leaks its receive task: measured
  with 1,000 sockets closing at once.)
- Receiving: one pump task per event loop pops this process's messages in batches
  (``BZPOPMIN`` then ``ZPOPMIN … COUNT``) and hands them to per-socket queues, so a
  socket only ever waits on its own queue. Stock channels-redis has every socket take
  turns on one blocking ``BZPOPMIN`` (four round trips per message); a consumer
  cancelled while it held that turn could swallow the cancellation and never finish
  (seen with 1,000 sockets closing at once on Python 3.11), and a push to thousands of
  sockets of one process took thousands of round trips.
- ``group_send_many`` sends one message to each of many groups in two round trips per
  Redis shard (a pipeline that reads every group's members, then one Lua script that
  queues every message), instead of four round trips per group. It returns how many
  channel messages were dropped because a channel was full, so callers can count them.

``group_send_many`` follows ``RedisChannelLayer.group_send`` of channels-redis 4.3
(https://github.com/django/channels_redis/blob/main/channels_redis/core.py); the layer
keeps its key layout, serializer, capacities and expiries, so stock channels-redis
senders (another service, ``redis-cli``) still reach these sockets.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
import weakref

from channels_redis.core import RedisChannelLayer

# Queue each message unless its channel is full; returns how many were not queued.
# KEYS may repeat (several groups with sockets in one process share that process's key).
_GROUP_SEND_MANY_LUA = """
local over_capacity = 0
local now = tonumber(ARGV[#ARGV - 1])
local expiry = tonumber(ARGV[#ARGV])
for i = 1, #KEYS do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, now - expiry)
    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
        -- one microsecond apart: a socket's messages leave in the order they were sent
        redis.call('ZADD', KEYS[i], now + i / 1000000, ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
    else
        over_capacity = over_capacity + 1
    end
end
return over_capacity
"""


logger = logging.getLogger(__name__)


class _LoopReceiver:
    """One event loop's local channels: a queue per channel and a pump per process key."""

    def __init__(self) -> None:
        self.queues: dict[str, asyncio.Queue] = {}
        self.pumps: dict[str, asyncio.Task] = {}


class CurhatChannelLayer(RedisChannelLayer):
    pump_timeout = 1  # seconds a pump blocks in BZPOPMIN before looking around
    receive_batch = 500  # messages popped per round trip after the first

    def __init__(self, *, command_concurrency: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.command_concurrency = command_concurrency
        self._slots: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._receivers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    # --- receiving ------------------------------------------------------------------
    def _receiver(self) -> _LoopReceiver:
        loop = asyncio.get_running_loop()
        receiver = self._receivers.get(loop)
        if receiver is None:
            receiver = self._receivers[loop] = _LoopReceiver()
        return receiver

    async def new_channel(self, prefix="specific"):
        name = await super().new_channel(prefix)
        # registered now: a message sent before the first receive() is kept
        self._receiver().queues[name] = asyncio.Queue()
        return name

    async def receive(self, channel):
        if "!" not in channel:
            return await super().receive(channel)
        receiver = self._receiver()
        queue = receiver.queues.get(channel)
        if queue is None:
            queue = receiver.queues[channel] = asyncio.Queue()
        non_local = self.non_local_name(channel)
        pump = receiver.pumps.get(non_local)
        if pump is None or pump.done():
            receiver.pumps[non_local] = asyncio.ensure_future(self._pump(receiver, non_local))
        try:
            return await queue.get()
        except asyncio.CancelledError:
            # the consumer is going away: nothing more is queued for its channel
            receiver.queues.pop(channel, None)
            raise

    async def _pump(self, receiver: _LoopReceiver, non_local: str) -> None:
        key = self.prefix + non_local
        index = self.consistent_hash(non_local)
        me = asyncio.current_task()
        # cancelling(): stop even if a cancellation was swallowed inside redis-py
        while not me.cancelling():
            try:
                connection = self.connection(index)
                popped = await connection.bzpopmin(key, timeout=self.pump_timeout)
                if popped is None:
                    continue
                members = [popped[1]]
                members += [entry[0] for entry in await connection.zpopmin(key, count=self.receive_batch)]
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis restarting: keep trying, sockets stay open
                logger.warning("channel layer receive failed, retrying: %s", exc)
                await asyncio.sleep(1)
                continue
            for member in members:
                self._hand_out(receiver, member)

    def _hand_out(self, receiver: _LoopReceiver, member: bytes) -> None:
        message = self.deserialize(member)
        targets = message.pop("__asgi_channel__", None)
        if isinstance(targets, str):
            targets = [targets]
        for channel in targets or ():
            queue = receiver.queues.get(channel)
            if queue is None:
                continue  # that socket has gone
            if queue.qsize() >= self.capacity:
                queue.get_nowait()
                logger.error("channel %s is %d messages behind: dropped its oldest", channel, self.capacity)
            queue.put_nowait(message if len(targets) == 1 else dict(message))

    def _slot(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        slot = self._slots.get(loop)
        if slot is None:
            slot = self._slots[loop] = asyncio.Semaphore(self.command_concurrency)
        return slot

    async def send(self, channel, message):
        async with self._slot():
            return await super().send(channel, message)

    async def group_add(self, group, channel):
        async with self._slot():
            return await super().group_add(group, channel)

    async def group_discard(self, group, channel):
        async with self._slot():
            return await super().group_discard(group, channel)

    async def group_send(self, group, message):
        async with self._slot():
            return await super().group_send(group, message)

    async def group_send_many(self, sends: list[tuple[str, dict]]) -> int:
        async with self._slot():
            return await self._group_send_many(sends)

    async def _group_send_many(self, sends: list[tuple[str, dict]]) -> int:
        """Send ``message`` to every channel of ``group`` for each ``(group, message)``.

        Returns the number of channel messages dropped because their channel was at
        capacity. Raises on a Redis error; nothing is half-sent per shard then, except
        that a retry may deliver a message twice (at-least-once, like any retry)."""
        by_shard: dict[int, list[int]] = collections.defaultdict(list)
        for position, (group, _message) in enumerate(sends):
            assert self.require_valid_group_name(group), "Group name not valid"
            by_shard[self.consistent_hash(group)].append(position)

        members: list[list[str]] = [[] for _ in sends]
        cutoff = int(time.time()) - self.group_expiry
        for shard, positions in by_shard.items():
            pipe = self.connection(shard).pipeline(transaction=False)
            for position in positions:
                key = self._group_key(sends[position][0])
                pipe.zremrangebyscore(key, min=0, max=cutoff)
                pipe.zrange(key, 0, -1)
            results = await pipe.execute()
            for n, position in enumerate(positions):
                members[position] = [name.decode("utf8") for name in results[2 * n + 1]]

        keys_by_connection: dict[int, list[bytes | str]] = collections.defaultdict(list)
        payloads_by_connection: dict[int, list[bytes]] = collections.defaultdict(list)
        capacities_by_connection: dict[int, list[int]] = collections.defaultdict(list)
        for (_group, message), channel_names in zip(sends, members):
            if not channel_names:
                continue
            connection_to_keys, key_to_payload, key_to_capacity = self._map_channel_keys_to_connection(
                channel_names, message
            )
            for index, channel_keys in connection_to_keys.items():
                for channel_key in channel_keys:
                    keys_by_connection[index].append(channel_key)
                    payloads_by_connection[index].append(key_to_payload[channel_key])
                    capacities_by_connection[index].append(key_to_capacity[channel_key])

        dropped = 0
        for index, channel_keys in keys_by_connection.items():
            dropped += await self.connection(index).eval(
                _GROUP_SEND_MANY_LUA,
                len(channel_keys),
                *channel_keys,
                *payloads_by_connection[index],
                *capacities_by_connection[index],
                time.time(),
                int(self.expiry),
            )
        return int(dropped)
