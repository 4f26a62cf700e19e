"""The Redis channel layer, sized and batched for fan-out to thousands of sockets.

channels-redis builds one redis-py asyncio pool per event loop; redis-py 8 caps it at
100 connections and raises ``Too many connections`` at once when it is full. A blast
to hundreds of mitras (or hundreds of sockets closing at once) then loses events. Two
changes here:

- ``create_pool`` builds a ``BlockingConnectionPool``: a caller waits (up to
  ``pool_timeout``) for a free connection instead of failing, and the pool size is
  explicit (``max_connections`` in the host config, from ``REDIS_CHANNEL_MAX_CONNECTIONS``).
- ``group_send_many`` sends one message to each of many groups in two round trips per
  Redis shard (a pipeline that reads every group's members, then one Lua script that
  queues every message), instead of four round trips per group. It returns how many
  channel messages were dropped because a channel was full, so callers can count them.

It follows ``RedisChannelLayer.group_send`` of channels-redis 4.3
(https://github.com/django/channels_redis/blob/main/channels_redis/core.py) and uses its
key layout and serializer, so receivers are the stock consumers.
"""

from __future__ import annotations

import collections
import time

from channels_redis.core import RedisChannelLayer
from redis import asyncio as aioredis

# Queue each message unless its channel is full; returns how many were not queued.
# KEYS may repeat (several groups with sockets in one process share that process's key).
_GROUP_SEND_MANY_LUA = """
local over_capacity = 0
local now = tonumber(ARGV[#ARGV - 1])
local expiry = tonumber(ARGV[#ARGV])
for i = 1, #KEYS do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, now - expiry)
    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
        redis.call('ZADD', KEYS[i], now, ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
    else
        over_capacity = over_capacity + 1
    end
end
return over_capacity
"""


class CurhatChannelLayer(RedisChannelLayer):
    def create_pool(self, index):
        host = dict(self.hosts[index])
        address = host.pop("address")
        host.setdefault("max_connections", 100)
        # seconds a caller waits for a free connection before ConnectionError
        host["timeout"] = host.pop("pool_timeout", 10)
        return aioredis.BlockingConnectionPool.from_url(address, **host)

    async def group_send_many(self, sends: list[tuple[str, dict]]) -> int:
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
