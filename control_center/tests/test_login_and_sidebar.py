"""Getting into the control center (SPEC §8): anonymous visitors are sent to the login,
only operators log in (by email or phone), and the sidebar lists every page in order."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.models import Role, User
from conftest import PASSWORD
from control_center.tests.page_reading import page_html as _html
from control_center.tests.page_reading import (
    FAILED_PAIRINGS, LOGIN, MITRAS, MITRAS_JSON, REPORTS, SAFETY, SAFETY_COUNTS, SAFETY_JSON, SESI, SETTINGS_PAGE, USERS,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path", ["/admin/", FAILED_PAIRINGS, SETTINGS_PAGE, SESI, USERS, MITRAS, MITRAS_JSON, SAFETY, SAFETY_JSON, SAFETY_COUNTS, REPORTS]
)
def test_anonymous_is_sent_to_the_login(path, client):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next={path}"


@pytest.mark.parametrize("role", ["customer", "mitra"])
def test_customers_and_mitras_cannot_log_in(role, client, make_customer, make_mitra):
    user = make_customer() if role == "customer" else make_mitra()

    response = client.post(LOGIN, {"username": user.email, "password": PASSWORD, "next": "/admin/"})

    assert response.status_code == 200  # the form again, with the error
    assert 'id="login-form"' in _html(response)
    assert '<p class="errornote">' in _html(response)
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/")["Location"] == f"{LOGIN}?next=/admin/"


@pytest.mark.parametrize("role", ["customer", "mitra"])
def test_a_logged_in_customer_or_mitra_session_is_not_enough(role, make_customer, make_mitra):
    client = Client()
    client.force_login(make_customer() if role == "customer" else make_mitra())

    assert client.get(FAILED_PAIRINGS)["Location"] == f"{LOGIN}?next={FAILED_PAIRINGS}"
    assert client.get(MITRAS_JSON).status_code == 302


def test_the_operator_logs_in_with_email(client, operator):
    response = client.post(LOGIN, {"username": operator.email.upper(), "password": PASSWORD, "next": "/admin/"})

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_the_operator_logs_in_with_phone(client):
    User.objects.create_user(phone="081299990000", password=PASSWORD, role=Role.OPERATOR)

    response = client.post(LOGIN, {"username": "0812-9999-0000", "password": PASSWORD, "next": "/admin/"})

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_wrong_password_shows_the_form_again(client, operator):
    response = client.post(LOGIN, {"username": operator.email, "password": "wrong-password", "next": "/admin/"})

    assert response.status_code == 200
    assert '<p class="errornote">' in _html(response)
    assert "_auth_user_id" not in client.session


def test_the_login_inputs_have_associated_labels(client):
    html = _html(client.get(LOGIN))

    assert re.search(r'<label for="id_username"[^>]*>Email or phone:</label>', html)
    assert re.search(r'<label for="id_password"[^>]*>Password:</label>', html)
    assert re.search(r'<input type="text" name="username"[^>]* id="id_username"', html)
    assert re.search(r'<input type="password" name="password"[^>]* id="id_password"', html)


def _sidebar(response) -> list[tuple[str, str, bool]]:
    nav = re.search(r'<ul class="cc-nav">(.*?)</ul>', _html(response), re.S).group(1)
    return [(label, href, bool(current)) for href, current, label in re.findall(r'<a href="([^"]+)"( class="current")?[^>]*>(.*?)</a>', nav)]


def test_the_sidebar_lists_the_pages_in_order(cc):
    assert _sidebar(cc.get("/admin/")) == [
        ("Dashboard", "/admin/", True),
        ("Mitra", MITRAS, False),
        ("Sesi", SESI, False),
        ("Failed Pairings", FAILED_PAIRINGS, False),
        ("Safety", SAFETY, False),
        ("Reports", REPORTS, False),
        ("Users", USERS, False),
        ("Settings", SETTINGS_PAGE, False),
    ]
    assert [(label, current) for label, _, current in _sidebar(cc.get(FAILED_PAIRINGS))] == [
        ("Dashboard", False), ("Mitra", False), ("Sesi", False), ("Failed Pairings", True), ("Safety", False),
        ("Reports", False), ("Users", False), ("Settings", False),
    ]
    assert [label for label, _, current in _sidebar(cc.get(SAFETY)) if current] == ["Safety"]
    assert [label for label, _, current in _sidebar(cc.get(REPORTS)) if current] == ["Reports"]


def test_every_sidebar_page_opens(cc):
    for _, href, _ in _sidebar(cc.get("/admin/")):
        assert cc.get(href).status_code == 200, href
