import pytest


@pytest.mark.django_db
def test_health_reports_database_and_redis_ok(client):
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


@pytest.mark.django_db
def test_health_names_redis_when_it_is_unreachable(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    response = client.get("/health")

    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "ok", "redis": "error", "failing": ["redis"]}
