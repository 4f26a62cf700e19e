"""Fail fast while PostgreSQL is unreachable (a circuit breaker per web process).

Without it, every request of an outage waits ``DB_POOL_TIMEOUT`` for a connection the
pool cannot make, holding one of the process's few request threads; the requests
behind it queue, and clients see no answer at all instead of the 503 API.md promises
(``make faults`` F3 counted them). So:

- the first request that finds PostgreSQL unreachable trips the breaker (the
  middleware's ``process_exception``; ``handler500`` then answers it 503) and the pool
  drops the idle connections that died with the server;
- while it is tripped, ``DatabaseOutageMiddleware`` answers 503 ``service_unavailable``
  at once, except that one request per ``DB_OUTAGE_PROBE_SECONDS`` probes the server
  with a connection of its own (``/health`` always goes through: it reports the
  database's state). When the server answers, the process gets a new connection pool
  and the request goes on. A new pool, because psycopg's pool backs off between
  reconnect attempts (1, 2, 4, 8, … s): the old one could go on failing for many
  seconds after the server is back (``make faults`` F3 saw it);
- the first connection Django opens again (its ``connection_created`` signal) also
  resets it.

Only connection-level failures trip it (no server, a refused or cut connection, the
pool's timeout, the server shutting down): a deadlock or a constraint violation is an
answer from a running PostgreSQL.
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg
from django.conf import settings
from django.db import connection
from django.db.backends.signals import connection_created

from config.error_views import service_unavailable

logger = logging.getLogger(__name__)

# server going away (admin_shutdown, crash_shutdown, cannot_connect_now) and SQL class 08
_UNREACHABLE_STATES = {"57P01", "57P02", "57P03"}


def is_database_unreachable(exc: BaseException | None) -> bool:
    """Whether ``exc`` or what caused it says PostgreSQL cannot be reached."""
    seen = 0
    while exc is not None and seen < 6:
        if isinstance(exc, psycopg.OperationalError):
            state = getattr(exc, "sqlstate", None)
            if state is None or state.startswith("08") or state in _UNREACHABLE_STATES:
                return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


class DatabaseBreaker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tripped = False
        self._next_probe = 0.0
        self.trips = 0
        self.probes = 0

    @property
    def tripped(self) -> bool:
        return self._tripped

    def admit(self) -> bool:
        """Whether a request may try the database now."""
        if not self._tripped:
            return True
        with self._lock:
            now = time.monotonic()
            if now >= self._next_probe:
                self._next_probe = now + settings.DB_OUTAGE_PROBE_SECONDS
                return True
            return False

    def trip(self) -> None:
        with self._lock:
            first = not self._tripped
            self._tripped = True
            self._next_probe = time.monotonic() + settings.DB_OUTAGE_PROBE_SECONDS
            self.trips += 1
        if first:
            logger.warning("PostgreSQL is unreachable: answering 503 at once, probing every %.1f s", settings.DB_OUTAGE_PROBE_SECONDS)
            self._drop_dead_connections()

    def probe(self) -> bool:
        """Whether PostgreSQL accepts a connection now (one of its own, not the pool's).
        When it does, the pool that may still be backing off is replaced."""
        self.probes += 1
        params = connection.get_connection_params()
        for name in ("cursor_factory", "context"):  # Django's, for its own connections
            params.pop(name, None)
        try:
            psycopg.connect(**params, connect_timeout=max(1, int(settings.DB_OUTAGE_PROBE_SECONDS * 2)), autocommit=True).close()
        except psycopg.Error:
            return False
        try:
            connection.close_pool()  # the next use makes a new one
        except Exception as exc:  # best effort: the old pool recovers by itself, only later
            logger.info("could not replace the connection pool: %s", exc)
        self.reset()
        return True

    def reset(self) -> None:
        if self._tripped:
            with self._lock:
                self._tripped = False
            logger.warning("PostgreSQL is reachable again")

    @staticmethod
    def _drop_dead_connections() -> None:
        """The pool's idle connections died with the server: check them now (psycopg's
        ``ConnectionPool.check``), so the first requests after it returns get new ones."""
        pool = getattr(connection, "pool", None)
        if pool is None:
            return
        try:
            pool.check()
        except Exception as exc:  # best effort: a dead connection fails one request later instead
            logger.info("could not check the connection pool: %s", exc)


breaker = DatabaseBreaker()


def _on_connection_created(sender, connection, **kwargs) -> None:
    breaker.reset()


connection_created.connect(_on_connection_created, dispatch_uid="config.db_outage")


class DatabaseOutageMiddleware:
    """In ``MIDDLEWARE`` before anything that uses the database: while the breaker is
    tripped, 503 without waiting."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        if request.path != "/health" and breaker.tripped and not (breaker.admit() and breaker.probe()):
            return service_unavailable(request)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if is_database_unreachable(exception):
            breaker.trip()
        return None  # handler500 answers it (503: config/error_views.server_error)
