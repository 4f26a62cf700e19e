"""While PostgreSQL is unreachable a web process answers 503 at once instead of making
every request wait for the pool (config/db_outage.py); the first connection made again
ends that. ``make faults`` F3 runs the same against a stopped server under traffic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
from django.db import OperationalError, connections
from psycopg_pool import PoolTimeout

from config.db_outage import breaker, is_database_unreachable

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_breaker():
    breaker.reset()
    yield breaker
    breaker.reset()


def _wrapped(exc: Exception) -> OperationalError:
    """As Django hands it on: its own OperationalError caused by psycopg's."""
    try:
        try:
            raise exc
        except Exception as inner:
            raise OperationalError(str(inner)) from inner
    except OperationalError as outer:
        return outer


def test_only_an_unreachable_server_counts():
    assert is_database_unreachable(_wrapped(psycopg.OperationalError("connection refused")))
    assert is_database_unreachable(_wrapped(PoolTimeout("couldn't get a connection after 3.00 sec")))
    assert is_database_unreachable(psycopg.errors.AdminShutdown("terminating connection due to administrator command"))
    assert is_database_unreachable(psycopg.errors.CannotConnectNow("the database system is starting up"))
    # answers of a running server are not outages
    assert not is_database_unreachable(_wrapped(psycopg.errors.DeadlockDetected("deadlock detected")))
    assert not is_database_unreachable(_wrapped(psycopg.errors.QueryCanceled("canceling statement")))
    assert not is_database_unreachable(psycopg.errors.UniqueViolation("duplicate key"))
    assert not is_database_unreachable(ValueError("a bug"))
    assert not is_database_unreachable(None)


@pytest.mark.django_db
def test_while_tripped_the_api_answers_503_at_once_and_health_still_looks(clean_breaker, customer_client, client):
    clean_breaker.trip()
    trips = clean_breaker.trips
    clean_breaker._next_probe = float("inf")  # no probe is due
    from config.liveness import liveness_record

    liveness_record("worker")  # /health's other parts are fine (config/tests/test_liveness.py)
    liveness_record("beat")

    response = customer_client.get("/api/client/chat/history")
    health = client.get("/health")

    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"
    assert response["Retry-After"] == "5"
    assert clean_breaker.trips == trips  # it did not try the database
    assert health.status_code == 200  # /health always looks for itself


@pytest.mark.django_db
def test_a_due_probe_that_reaches_the_server_resets_it_and_goes_through(clean_breaker, customer_client):
    clean_breaker.trip()
    clean_breaker._next_probe = 0.0  # the probe interval has passed
    probes = clean_breaker.probes

    response = customer_client.get("/api/client/chat/history")

    assert response.status_code == 200
    assert clean_breaker.probes == probes + 1 and not clean_breaker.tripped


@pytest.mark.django_db(transaction=True)
def test_a_new_database_connection_resets_it(clean_breaker):
    clean_breaker.trip()
    assert clean_breaker.tripped

    def connect():
        try:
            connections["default"].ensure_connection()
        finally:
            connections.close_all()

    thread = threading.Thread(target=connect)
    thread.start()
    thread.join(30)

    assert not clean_breaker.tripped


def test_an_unreachable_database_trips_it_and_later_requests_do_not_wait():
    """In a separate process whose DATABASE_URL points at a port nothing listens on: the
    first request waits for the pool and trips the breaker (503); the next is refused
    without trying (503, no new trip); once the probe interval has passed one request
    probes the server with a connection of its own, which is refused (503 at once)."""
    script = (
        "import django, json, time; django.setup()\n"
        "from django.test import Client\n"
        "from config.db_outage import breaker\n"
        "c = Client(SERVER_NAME='localhost', raise_request_exception=False)\n"
        "def call():\n"
        "    r = c.post('/api/auth/token', {'login': 'a@b.test', 'password': 'x'}, content_type='application/json')\n"
        "    return [r.status_code, r.json()['code'], breaker.trips, breaker.probes]\n"
        "out = [call(), call()]\n"
        "time.sleep(0.6)\n"
        "out.append(call())\n"
        "print(json.dumps(out))\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nothing",
        "DB_POOL_TIMEOUT": "1",
        "DB_OUTAGE_PROBE_SECONDS": "0.5",
    }
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [
        [503, "service_unavailable", 1, 0],  # waited for the pool, tripped it
        [503, "service_unavailable", 1, 0],  # refused at once
        [503, "service_unavailable", 1, 1],  # a probe: its own connection, refused; the pool not tried
    ]
