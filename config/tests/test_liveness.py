"""``GET /health`` on the Celery worker's heartbeat and beat's last backstop
(``config/liveness.py``): written by real worker and beat processes, judged by age."""

from __future__ import annotations

import time

import pytest

from config.liveness import liveness_key, liveness_record
from config.redis_client import get_redis


@pytest.fixture(autouse=True)
def _no_liveness_yet():
    """Redis outlives tests: no worker or beat of an earlier test counts here."""
    get_redis().delete(liveness_key("worker"), liveness_key("beat"))
    yield
    get_redis().delete(liveness_key("worker"), liveness_key("beat"))


def _written(side: str, *, after: float | None = None, timeout: float = 30) -> float:
    """Waits until ``side``'s key holds a time (later than ``after``) and returns it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        raw = get_redis().get(liveness_key(side))
        if raw is not None and (after is None or float(raw) > after):
            return float(raw)
        time.sleep(0.05)
    raise AssertionError(f"{side} wrote no (newer) liveness time")


# --- judged by age ------------------------------------------------------------------------------
@pytest.mark.django_db
def test_both_seen_recently_is_ok_with_their_age_and_time(client, settings):
    now = time.time()
    liveness_record("worker", now - 3)
    liveness_record("beat", now - 1)

    response = client.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and "failing" not in body
    assert body["worker"]["status"] == "ok" and 3 <= body["worker"]["age_seconds"] < settings.HEALTH_WORKER_MAX_AGE_SECONDS
    assert body["beat"]["status"] == "ok" and 1 <= body["beat"]["age_seconds"] < settings.HEALTH_BEAT_MAX_AGE_SECONDS
    assert body["worker"]["last_seen"].endswith("Z") and body["beat"]["last_seen"].endswith("Z")


@pytest.mark.django_db
def test_a_silent_worker_is_503_and_named(client, settings):
    settings.HEALTH_WORKER_MAX_AGE_SECONDS = 60
    old = time.time() - 61
    liveness_record("worker", old)
    liveness_record("beat")

    response = client.get("/health")

    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["failing"]) == ("error", ["worker"])
    assert body["worker"]["status"] == "stale" and body["worker"]["age_seconds"] >= 61
    assert (body["database"], body["redis"], body["beat"]["status"]) == ("ok", "ok", "ok")


@pytest.mark.django_db
def test_a_silent_beat_is_503_and_named(client, settings):
    settings.HEALTH_BEAT_MAX_AGE_SECONDS = 30
    liveness_record("worker")
    liveness_record("beat", time.time() - 31)

    response = client.get("/health")

    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["failing"]) == ("error", ["beat"])
    assert body["beat"]["status"] == "stale" and body["worker"]["status"] == "ok"


@pytest.mark.django_db
def test_neither_ever_seen_is_503_with_both_missing(client):
    response = client.get("/health")

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["worker", "beat"]
    assert body["worker"] == body["beat"] == {"status": "missing", "age_seconds": None, "last_seen": None}


@pytest.mark.django_db
def test_a_garbled_time_counts_as_missing_not_as_a_500(client):
    get_redis().set(liveness_key("worker"), "not a time")
    liveness_record("beat")

    response = client.get("/health")

    assert (response.status_code, response.json()["failing"], response.json()["worker"]["status"]) == (503, ["worker"], "missing")


# --- written by the real processes -------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_keeps_its_heartbeat_while_idle_writes_it_again_when_lost_and_stops_when_killed(client, celery_process):
    worker = celery_process("worker", env={"HEALTH_WORKER_HEARTBEAT_SECONDS": "0.2"})

    first = _written("worker")
    _written("worker", after=first)  # no task runs: the worker's own loop beats
    get_redis().delete(liveness_key("worker"))  # as a restarted Redis is empty
    later = _written("worker")  # back within an interval, without a reconnect
    liveness_record("beat")  # no beat runs here: fresh now, however long the worker took to start
    response = client.get("/health")
    assert response.status_code == 200, response.json()
    assert response.json()["worker"]["status"] == "ok"
    assert response.json()["worker"]["age_seconds"] < 60

    worker.kill()
    last = float(get_redis().get(liveness_key("worker")))
    assert last >= later
    time.sleep(1.0)  # five of its heartbeat intervals
    assert float(get_redis().get(liveness_key("worker"))) == last  # a dead worker writes nothing


@pytest.mark.django_db(transaction=True)
def test_beat_records_sending_the_backstop_and_a_worker_alone_does_not(client, celery_process):
    celery_process("worker")  # it enqueues the backstop itself when it starts
    _written("worker")
    assert get_redis().get(liveness_key("beat")) is None

    celery_process("beat")

    first = _written("beat")
    _written("beat", after=first)  # the schedule's next backstop, every 2 s
    get_redis().delete(liveness_key("beat"))
    _written("beat")
    response = client.get("/health")
    assert response.status_code == 200, response.json()
    assert (response.json()["worker"]["status"], response.json()["beat"]["status"]) == ("ok", "ok")
