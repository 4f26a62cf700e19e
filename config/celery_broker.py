"""The Celery broker transport: kombu's Redis transport with one fix for a lost connection.

When the worker loses Redis (Redis restarted, a network cut), Celery 5.7 collects the
broken connection, which detaches it from its transport, and then closes it again. The
second close asks the channel to hand its unacknowledged messages back to Redis through
a fresh client, whose parameters come from the detached connection: ``AttributeError:
'NoneType' object has no attribute 'hostname'``, which the worker takes as
unrecoverable, and it exits instead of reconnecting (seen with kombu 5.7.0 under
``make faults`` F2). Here that case is the connection error it really is, which kombu
ignores while closing, and the worker goes on to reconnect.

Nothing is lost by not handing those messages back at that moment: Redis was
unreachable anyway, kombu restores unacknowledged messages after the visibility timeout,
and every deadline lives in the database, where beat's backstop finds it.
"""

from __future__ import annotations

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous=False):
        if self.connection is None or self.connection.client is None:
            raise RedisConnectionError("the broker connection was already closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
