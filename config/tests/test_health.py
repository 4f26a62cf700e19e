import pytest

from config.liveness import liveness_record


@pytest.fixture
def alive():
    """The worker and beat seen just now (their own tests: test_liveness.py)."""
    liveness_record("worker")
    liveness_record("beat")


@pytest.mark.django_db
def test_health_reports_database_and_redis_ok(client, alive):
    response = client.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("status", "database", "redis")} == {"status": "ok", "database": "ok", "redis": "ok"}
    assert (body["worker"]["status"], body["beat"]["status"]) == ("ok", "ok")
    assert set(body["delivery"]) == {"events_sent", "events_retried", "events_dropped"}


@pytest.mark.django_db
def test_health_names_redis_when_it_is_unreachable(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    response = client.get("/health")

    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "ok", "redis": "error", "failing": ["redis"]}


def test_health_names_the_database_when_it_is_unreachable(tmp_path, alive):
    """In a separate process whose DATABASE_URL points at a port nothing listens on."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import django, json; django.setup()\n"
        "from django.test import Client\n"
        "r = Client(SERVER_NAME='localhost').get('/health')\n"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nothing",
        "DB_POOL_TIMEOUT": "2",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2], env=env,
        capture_output=True, text=True, timeout=60,
    )

    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    for part in ("delivery", "worker", "beat"):  # Redis is up: its counters and the liveness are shown
        answer["body"].pop(part)
    assert answer == {
        "status": 503,
        "body": {"status": "error", "database": "error", "redis": "ok", "failing": ["database"]},
    }
