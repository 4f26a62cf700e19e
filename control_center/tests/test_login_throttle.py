"""The control-center login is rate-limited per login, with the same Redis counter as
``/api/auth/token`` (DRF throttling is no security control)."""

import pytest
from django.test import Client

from conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


def test_repeated_wrong_passwords_lock_the_operator_login_even_for_the_right_one(make_operator, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    operator = make_operator()
    client = Client()
    for _ in range(3):
        assert client.post(LOGIN, {"username": operator.email, "password": "wrong"}).status_code == 200

    response = client.post(LOGIN, {"username": operator.email, "password": PASSWORD})

    assert response.status_code == 200  # the form again, not the redirect
    assert b"Too many failed attempts" in response.content
    assert client.get("/admin/").status_code == 302


def test_a_successful_login_clears_the_count(make_operator, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    operator = make_operator()
    client = Client()
    for _ in range(2):
        client.post(LOGIN, {"username": operator.email, "password": "wrong"})
    assert client.post(LOGIN, {"username": operator.email, "password": PASSWORD}).status_code == 302
    client.logout()
    for _ in range(2):
        client.post(LOGIN, {"username": operator.email, "password": "wrong"})

    assert client.post(LOGIN, {"username": operator.email, "password": PASSWORD}).status_code == 302


def test_the_api_and_the_control_center_share_one_counter(make_operator, anon_client, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    operator = make_operator()
    Client().post(LOGIN, {"username": operator.email, "password": "wrong"})
    anon_client.post("/api/auth/token", {"login": operator.email, "password": "wrong"}, format="json")

    response = anon_client.post("/api/auth/token", {"login": operator.email, "password": PASSWORD}, format="json")

    assert response.status_code == 429
