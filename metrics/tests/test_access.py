"""Who may read ``/metrics``: an operator's control-center session or the configured
bearer token; anyone else gets API.md's error shape and no figures."""

from __future__ import annotations

import pytest

from metrics.tests.scrape import TOKEN, parse

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _token(settings):
    settings.METRICS_TOKEN = TOKEN


def _refused(response, status: int, code: str) -> None:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code and set(body) == {"code", "detail"}
    assert b"curhat_" not in response.content


def test_anonymous_is_refused_401(client):
    response = client.get("/metrics")
    _refused(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'


@pytest.mark.parametrize("header", [
    "Bearer wrong-token", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer ünïcode-tökén", "Bearer ",
])
def test_a_wrong_token_is_refused_401(client, header):
    _refused(client.get("/metrics", HTTP_AUTHORIZATION=header), 401, "authentication_failed")


def test_with_no_token_configured_no_token_opens_it(client, settings):
    settings.METRICS_TOKEN = ""
    _refused(client.get("/metrics", HTTP_AUTHORIZATION="Bearer "), 401, "authentication_failed")
    _refused(client.get("/metrics", HTTP_AUTHORIZATION="Bearer x"), 401, "authentication_failed")


def test_a_users_api_token_is_not_the_metrics_token(client, operator_client, customer_client):
    for api_client in (operator_client, customer_client):
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {api_client.tokens['access']}")
        _refused(response, 401, "authentication_failed")


def test_a_signed_in_non_operator_is_refused_403(client, make_customer, make_mitra):
    for user in (make_customer(), make_mitra()):
        client.force_login(user)
        _refused(client.get("/metrics"), 403, "permission_denied")


def test_a_deactivated_operator_is_refused(client, make_operator):
    operator = make_operator()
    client.force_login(operator)
    operator.is_active = False
    operator.save(update_fields=["is_active"])
    _refused(client.get("/metrics"), 401, "not_authenticated")  # its session no longer signs anyone in


def test_the_token_is_accepted(client):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert response["Cache-Control"] == "no-store"
    samples = parse(response.content.decode())
    assert {"curhat_payments", "curhat_celery_queue_length", "curhat_metrics_source_up"} <= samples.names()


def test_an_operator_session_is_accepted(client, make_operator):
    client.force_login(make_operator())
    response = client.get("/metrics")
    assert response.status_code == 200
    assert "curhat_failed_pairings_open" in parse(response.content.decode()).names()


def test_openmetrics_is_served_to_a_scraper_that_asks_for_it(client):
    response = client.get(
        "/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
        HTTP_ACCEPT="application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.endswith(b"# EOF\n")


def test_only_get_and_head(client):
    response = client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    _refused(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, HEAD"
