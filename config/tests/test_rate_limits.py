"""Rate limits (API.md: 429 ``rate_limited`` + ``retry_after`` + ``Retry-After``): per
user, per client address and overall, counted in the shared Redis (exact under
concurrency), on the DRF path and on the message send fast path alike. Each test sets
the windows it tests (hour-long ones: no test depends on the clock)."""

from __future__ import annotations


import pytest
from rest_framework.test import APIClient

from accounts.models import User
from config.throttling import parse_rate
from conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _limit(settings, scope: str, rate: str) -> None:
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, scope: rate}


def _assert_rate_limited(response) -> None:
    assert response.status_code == 429, response.content[:300]
    body = response.json()
    assert body["code"] == "rate_limited" and body["detail"]
    assert 0 < body["retry_after"] <= 3600
    assert response["Retry-After"] == str(body["retry_after"])


def _register(client, n: int, **extra):
    body = {"call_name": f"Orang {n}", "email": f"orang{n}@example.test", "password": "rahasia-sekali-123"}
    return client.post("/api/auth/register", body, format="json", **extra)


def test_the_default_limits_are_valid_rates():
    from config import settings as project_settings

    for scope, rate in project_settings._DEFAULT_RATE_LIMITS.items():
        assert parse_rate(rate), scope
    assert parse_rate("5/s,120/min") == [(5, 1), (120, 60)]
    with pytest.raises(ValueError):
        parse_rate("5 per second")


def test_registrations_are_limited_per_client_address(settings):
    _limit(settings, "register", "3/hour")
    client = APIClient()

    answers = [_register(client, n) for n in range(4)]
    elsewhere = _register(client, 99, REMOTE_ADDR="10.1.2.3")

    assert [a.status_code for a in answers[:3]] == [201] * 3
    _assert_rate_limited(answers[3])
    assert elsewhere.status_code == 201
    assert User.objects.count() == 4  # the refused one changed nothing


def test_a_client_written_forwarded_for_header_is_not_trusted_unless_configured(settings):
    _limit(settings, "register", "1/hour")
    client = APIClient()

    assert _register(client, 1, HTTP_X_FORWARDED_FOR="10.0.0.1").status_code == 201
    _assert_rate_limited(_register(client, 2, HTTP_X_FORWARDED_FOR="10.0.0.2"))  # same REMOTE_ADDR

    settings.CLIENT_IP_HEADER = "X-Forwarded-For"  # behind our proxy: its last entry counts
    assert _register(client, 3, HTTP_X_FORWARDED_FOR="6.6.6.6, 10.0.0.3").status_code == 201
    _assert_rate_limited(_register(client, 4, HTTP_X_FORWARDED_FOR="7.7.7.7, 10.0.0.3"))


def test_wrong_passwords_for_many_logins_from_one_address_are_limited(settings, make_customer):
    """The finding: 300 different logins from one address never met a limit."""
    _limit(settings, "login_address", "20/hour")
    client = APIClient()

    answers = [
        client.post("/api/auth/token", {"login": f"nobody{n}@example.test", "password": "x"}, format="json")
        for n in range(21)
    ]

    assert {a.status_code for a in answers[:20]} == {401}
    _assert_rate_limited(answers[20])


def test_logins_are_limited_overall_across_addresses(settings, make_customer):
    _limit(settings, "login_all", "2/hour")
    user = make_customer()
    answers = [
        APIClient().post("/api/auth/token", {"login": user.email, "password": PASSWORD}, format="json", REMOTE_ADDR=f"10.0.0.{n}")
        for n in range(3)
    ]

    assert [a.status_code for a in answers[:2]] == [200, 200]
    _assert_rate_limited(answers[2])


def test_the_login_lockout_says_when_to_retry_like_rate_limits(settings, make_customer):
    settings.LOGIN_FAILURE_LIMIT = 1
    user = make_customer()
    client = APIClient()
    client.post("/api/auth/token", {"login": user.email, "password": "bad"}, format="json")

    response = client.post("/api/auth/token", {"login": user.email, "password": PASSWORD}, format="json")

    assert (response.status_code, response.json()["code"]) == (429, "too_many_login_attempts")
    assert response["Retry-After"] == str(response.json()["retry_after"])


def test_payment_sessions_and_devices_are_limited_per_user(settings, customer_client, make_customer, api_client_for, make_tier):
    _limit(settings, "payment_sessions", "2/hour")
    _limit(settings, "devices", "2/hour")
    tier = make_tier()
    other = api_client_for(make_customer())

    payments = [customer_client.post("/api/client/payment-sessions", {"tier_id": str(tier.id)}, format="json") for _ in range(3)]
    devices = [customer_client.post("/api/devices", {"registration_id": f"tok-{n}", "type": "android"}, format="json") for n in range(3)]

    assert [p.status_code for p in payments[:2]] == [201, 201]
    _assert_rate_limited(payments[2])
    assert [d.status_code for d in devices[:2]] == [201, 201]
    _assert_rate_limited(devices[2])
    assert other.post("/api/client/payment-sessions", {"tier_id": str(tier.id)}, format="json").status_code == 201


@pytest.mark.django_db(transaction=True)
def test_a_limit_holds_exactly_under_simultaneous_requests(settings):
    """Real race: twenty registrations from one address at once, limit five."""
    from pairing.tests.live import race

    _limit(settings, "register", "5/hour")

    answers = race([lambda n=n: _register(APIClient(), n) for n in range(20)])

    assert sorted(a.status_code for a in answers) == [201] * 5 + [429] * 15
    assert User.objects.count() == 5
