"""The broker transport (config/celery_broker.py). When Redis went away under the worker
(``make faults`` F2), Celery collected the lost connection, which detaches it from its
transport, and closed it again; the second close asked for a new Redis client through the
detached transport and died with AttributeError, which made the worker exit. A detached
transport must instead give the connection error that kombu ignores while closing."""

from __future__ import annotations

import pytest
from django.conf import settings
from kombu import Connection
from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

from config.celery import app
from config.celery_broker import Transport


def test_the_app_uses_this_transport():
    with app.connection_for_write() as conn:
        assert conn.get_transport_cls() is Transport


@pytest.mark.parametrize("transport, raises", [(kombu_redis.Transport, AttributeError), (Transport, RedisConnectionError)])
def test_a_detached_transport_is_a_connection_error(transport, raises):
    conn = Connection(settings.CELERY_BROKER_URL, transport=transport)
    channel = conn.channel()
    # the state of the traceback: the transport detached from its connection (the last
    # step of ``Connection.collect()``, which the worker runs on a connection it lost)
    # while a channel whose close failed against the dead Redis is still open
    conn._do_close_transport()
    assert channel.connection.client is None

    with pytest.raises(raises):
        channel._connparams()  # where the restore of unacknowledged messages gets its client
    assert issubclass(raises, transport.connection_errors) == (transport is Transport)
