"""The per-process cache of runtime settings and its Redis invalidation listener.

Every process (daphne, Celery worker, beat, a management command) keeps the values
it has read for ``LIVE_SETTINGS_TTL_SECONDS`` and drops a key the moment a
``{"key": ..., "ts": ...}`` message arrives on ``config:invalidate``. Redis pub/sub is
at-most-once: a process that was disconnected may have missed messages, so on every
(re)subscribe the whole cache is dropped, and the TTL bounds staleness anyway.

A per-key generation counter closes the read/invalidate race: a value read from the
database is stored only if no invalidation for that key arrived while it was read.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any, Callable

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

ALL_KEYS = "*"


class LiveSettingsCache:
    def __init__(self, loader: Callable[[str], Any]) -> None:
        self._loader = loader
        self._values: dict[str, tuple[Any, float]] = {}
        self._generation: dict[str, int] = {}
        self._global_generation = 0
        self._lock = threading.Lock()
        self._listener_pid: int | None = None
        self._listener_lock = threading.Lock()
        self.subscribed = threading.Event()

    # -- reads ----------------------------------------------------------------
    def get(self, key: str) -> Any:
        self.ensure_listener()
        now = time.monotonic()
        entry = self._values.get(key)
        if entry is not None and now - entry[1] < settings.LIVE_SETTINGS_TTL_SECONDS:
            return entry[0]
        with self._lock:
            generation = (self._global_generation, self._generation.get(key, 0))
        value = self._loader(key)
        with self._lock:
            if generation == (self._global_generation, self._generation.get(key, 0)):
                self._values[key] = (value, now)
        return value

    # -- invalidation -----------------------------------------------------------
    def drop(self, key: str) -> None:
        with self._lock:
            if key == ALL_KEYS:
                self._global_generation += 1
                self._values.clear()
            else:
                self._generation[key] = self._generation.get(key, 0) + 1
                self._values.pop(key, None)

    def clear(self) -> None:
        self.drop(ALL_KEYS)

    def handle_message(self, data: Any) -> None:
        """Apply one ``config:invalidate`` payload; anything unreadable drops everything."""
        try:
            payload = json.loads(data)
            key = payload.get("key") if isinstance(payload, dict) else None
        except (TypeError, ValueError):
            key = None
        if not isinstance(key, str) or not key:
            logger.warning("live settings: unreadable invalidation %r; dropping every cached key", data)
            key = ALL_KEYS
        self.drop(key)

    # -- listener thread ----------------------------------------------------------
    def ensure_listener(self) -> None:
        """Start the subscriber thread once per process (again in a forked child)."""
        pid = os.getpid()
        if self._listener_pid == pid:
            return
        with self._listener_lock:
            if self._listener_pid == pid:
                return
            self.subscribed = threading.Event()
            self._listener_pid = pid
            thread = threading.Thread(target=self._listen_forever, name="live-settings-invalidation", daemon=True)
            thread.start()

    def wait_until_subscribed(self, timeout: float = 5.0) -> bool:
        self.ensure_listener()
        return self.subscribed.wait(timeout)

    def _listen_forever(self) -> None:
        backoff = 0.2
        while True:
            try:
                self._listen_once()
                backoff = 0.2
            except Exception as exc:  # Redis down or connection lost: retry, cache stays TTL-bounded
                logger.warning("live settings: invalidation listener lost Redis (%s); retrying", exc)
            self.subscribed.clear()
            time.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    def _listen_once(self) -> None:
        # socket_timeout well above the get_message wait (redis-py 8 defaults it to 5 s)
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=15, socket_keepalive=True,
            health_check_interval=10,
        )
        pubsub = client.pubsub()
        try:
            pubsub.subscribe(settings.LIVE_SETTINGS_CHANNEL)
            while True:
                message = pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    # anything published while we were not subscribed is lost: start clean
                    self.clear()
                    self.subscribed.set()
                elif message["type"] == "message":
                    self.handle_message(message["data"])
        finally:
            pubsub.close()
            client.close()
