"""Auth, devices and roles through the public API (API.md "Auth")."""

from __future__ import annotations

import pytest
from django.conf import settings
from fcm_django.models import FCMDevice
from rest_framework.test import APIClient

from accounts.models import CustomerProfile, MitraProfile, Role, User
from conftest import PASSWORD

pytestmark = pytest.mark.django_db


# --- register -----------------------------------------------------------------
def test_register_with_email_creates_a_customer(anon_client):
    response = anon_client.post(
        "/api/auth/register", {"call_name": "Ayu", "email": "Ayu@Example.test", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    user = User.objects.get(id=body["id"])
    assert body == {"id": str(user.id), "role": "customer", "call_name": "Ayu"}
    assert user.email == "ayu@example.test"
    assert user.role == Role.CUSTOMER and not user.is_staff
    assert CustomerProfile.objects.get(user=user).call_name == "Ayu"


def test_register_with_phone_stores_the_canonical_number_and_both_spellings_log_in(anon_client):
    response = anon_client.post(
        "/api/auth/register", {"call_name": "Budi", "phone": "0812-3456 7890", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 201
    assert User.objects.get(id=response.json()["id"]).phone == "+6281234567890"
    for login in ("081234567890", "+6281234567890", "6281234567890"):
        token = anon_client.post("/api/auth/token", {"login": login, "password": PASSWORD}, format="json")
        assert token.status_code == 200, login


@pytest.mark.parametrize(
    "body, field",
    [
        ({"call_name": "A", "password": PASSWORD}, "non_field_errors"),
        ({"call_name": "A", "phone": "", "email": "", "password": PASSWORD}, "non_field_errors"),
        ({"call_name": "A", "phone": "12ab", "password": PASSWORD}, "phone"),
        ({"call_name": "A", "email": "not-an-email", "password": PASSWORD}, "email"),
        ({"call_name": "A", "email": "a@example.test", "password": "123"}, "password"),
        ({"call_name": "A", "email": "a@example.test", "password": "password"}, "password"),
        ({"call_name": "", "email": "a@example.test", "password": PASSWORD}, "call_name"),
        ({"email": "a@example.test", "password": PASSWORD}, "call_name"),
    ],
)
def test_register_refuses_bad_input_and_creates_nothing(anon_client, body, field):
    response = anon_client.post("/api/auth/register", body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"
    assert field in response.json()["errors"]
    assert response.json()["detail"]
    assert User.objects.count() == 0 and CustomerProfile.objects.count() == 0


def test_register_twice_with_the_same_email_in_another_case_is_a_conflict(anon_client, make_customer):
    make_customer(email="dup@example.test")

    response = anon_client.post(
        "/api/auth/register", {"call_name": "X", "email": "DUP@example.test", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 409
    assert response.json() == {
        "code": "already_registered",
        "detail": "An account with this phone number or email already exists.",
    }
    assert User.objects.count() == 1


def test_malformed_json_is_a_400_in_the_error_shape(anon_client):
    response = anon_client.post("/api/auth/register", "{not json", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"
    assert User.objects.count() == 0


# --- token ----------------------------------------------------------------------
@pytest.mark.parametrize("role_fixture, role", [("make_customer", "customer"), ("make_mitra", "mitra"), ("make_operator", "operator")])
def test_token_for_each_role_carries_role_and_user_id(request, anon_client, role_fixture, role):
    user = request.getfixturevalue(role_fixture)()

    response = anon_client.post("/api/auth/token", {"login": user.email.upper(), "password": PASSWORD}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh", "role", "user_id"}
    assert body["role"] == role and body["user_id"] == str(user.id)


def test_wrong_password_is_401_invalid_credentials(anon_client, make_customer):
    user = make_customer()

    response = anon_client.post("/api/auth/token", {"login": user.email, "password": "wrong-password"}, format="json")

    assert response.status_code == 401
    assert response.json() == {"code": "invalid_credentials", "detail": "Wrong login or password."}


def test_unknown_login_answers_exactly_like_a_wrong_password(anon_client):
    response = anon_client.post("/api/auth/token", {"login": "nobody@example.test", "password": "x"}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


def test_repeated_failures_lock_the_login_even_for_the_right_password(anon_client, make_customer, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    user = make_customer()
    for _ in range(3):
        assert anon_client.post("/api/auth/token", {"login": user.email, "password": "bad"}, format="json").status_code == 401

    response = anon_client.post("/api/auth/token", {"login": user.email, "password": PASSWORD}, format="json")

    assert response.status_code == 429
    assert response.json()["code"] == "too_many_login_attempts"
    assert 0 < response.json()["retry_after_seconds"] <= settings.LOGIN_FAILURE_WINDOW_SECONDS


def test_the_spellings_of_one_phone_number_share_one_failure_count(anon_client, make_customer, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    make_customer(phone="081234567890")
    for spelling in ("081234567890", "6281234567890", "+62 812-3456-7890"):
        response = anon_client.post("/api/auth/token", {"login": spelling, "password": "bad"}, format="json")
        assert response.status_code == 401

    response = anon_client.post("/api/auth/token", {"login": "+6281234567890", "password": PASSWORD}, format="json")

    assert (response.status_code, response.json()["code"]) == (429, "too_many_login_attempts")


def test_a_successful_login_resets_the_failure_count(anon_client, make_customer, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    user = make_customer()
    for _ in range(2):
        anon_client.post("/api/auth/token", {"login": user.email, "password": "bad"}, format="json")
    assert anon_client.post("/api/auth/token", {"login": user.email, "password": PASSWORD}, format="json").status_code == 200
    for _ in range(2):
        anon_client.post("/api/auth/token", {"login": user.email, "password": "bad"}, format="json")

    response = anon_client.post("/api/auth/token", {"login": user.email, "password": PASSWORD}, format="json")

    assert response.status_code == 200


def test_inactive_user_cannot_log_in(anon_client, make_customer):
    user = make_customer()
    User.objects.filter(pk=user.pk).update(is_active=False)

    response = anon_client.post("/api/auth/token", {"login": user.email, "password": PASSWORD}, format="json")

    assert response.status_code == 401


def test_refresh_gives_a_working_access_token_with_the_role(anon_client, make_mitra):
    user = make_mitra()
    tokens = anon_client.post("/api/auth/token", {"login": user.email, "password": PASSWORD}, format="json").json()

    response = anon_client.post("/api/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")

    assert response.status_code == 200
    from rest_framework_simplejwt.tokens import AccessToken

    access = AccessToken(response.json()["access"])
    assert access["role"] == "mitra" and access["user_id"] == str(user.id)


def test_refresh_with_a_bad_token_is_401_in_the_error_shape(anon_client):
    response = anon_client.post("/api/auth/token/refresh", {"refresh": "garbage"}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"
    assert response.json()["detail"]


def _login(client, user) -> dict:
    return client.post("/api/auth/token", {"login": user.email, "password": PASSWORD}, format="json").json()


def test_a_refresh_token_works_once_and_its_successor_carries_on(anon_client, make_customer):
    tokens = _login(anon_client, make_customer())

    first = anon_client.post("/api/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")
    again = anon_client.post("/api/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")
    successor = anon_client.post("/api/auth/token/refresh", {"refresh": first.json()["refresh"]}, format="json")

    assert first.status_code == 200 and set(first.json()) == {"access", "refresh"}
    assert first.json()["refresh"] != tokens["refresh"]
    assert (again.status_code, again.json()["code"]) == (401, "token_not_valid")
    assert successor.status_code == 200


@pytest.mark.parametrize("change", ["deleted", "deactivated"])
def test_refresh_for_an_account_deleted_or_deactivated_since_is_401_not_500(change, anon_client, make_customer):
    user = make_customer()
    tokens = _login(anon_client, user)
    if change == "deleted":
        user.delete()
    else:
        User.objects.filter(pk=user.pk).update(is_active=False)

    response = anon_client.post("/api/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")

    assert (response.status_code, response.json()["code"]) == (401, "token_not_valid")


@pytest.mark.django_db(transaction=True)
def test_one_refresh_token_used_at_once_from_twelve_places_gives_one_new_pair(make_customer):
    """Real race: twelve threads, each with its own database connection."""
    from pairing.tests.live import race

    tokens = _login(APIClient(), make_customer())
    answers = race([
        lambda: APIClient().post("/api/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")
        for _ in range(12)
    ])

    assert sorted(answer.status_code for answer in answers) == [200] + [401] * 11


# --- devices --------------------------------------------------------------------
def test_register_device_creates_an_fcm_device_of_the_caller(customer_client):
    response = customer_client.post("/api/devices", {"registration_id": "tok-1", "type": "android"}, format="json")

    assert response.status_code == 201
    device = FCMDevice.objects.get(registration_id="tok-1")
    assert device.user_id == customer_client.user.id and device.type == "android" and device.active
    assert response.json() == {"id": device.id, "registration_id": "tok-1", "type": "android"}


def test_a_token_registered_again_by_someone_else_moves_to_them(customer_client, api_client_for, make_mitra):
    customer_client.post("/api/devices", {"registration_id": "shared-tok", "type": "ios"}, format="json")
    mitra_client = api_client_for(make_mitra())

    response = mitra_client.post("/api/devices", {"registration_id": "shared-tok", "type": "ios"}, format="json")

    assert response.status_code == 201
    assert list(FCMDevice.objects.values_list("user_id", flat=True)) == [mitra_client.user.id]


def test_device_with_unknown_type_is_refused(customer_client):
    response = customer_client.post("/api/devices", {"registration_id": "tok", "type": "windows"}, format="json")

    assert response.status_code == 400
    assert "type" in response.json()["errors"]
    assert FCMDevice.objects.count() == 0


def test_device_without_token_is_401(anon_client):
    response = anon_client.post("/api/devices", {"registration_id": "tok", "type": "android"}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert FCMDevice.objects.count() == 0


def test_an_invalid_bearer_token_is_401(anon_client):
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")

    response = anon_client.post("/api/devices", {"registration_id": "tok", "type": "android"}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


# --- /internal/mitras and roles -------------------------------------------------------
def test_operator_creates_a_mitra_who_can_then_log_in_as_mitra(operator_client, anon_client):
    response = operator_client.post(
        "/internal/mitras", {"display_name": "Bestie Ana", "email": "ana@example.test", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 201
    mitra = MitraProfile.objects.select_related("user").get()
    assert response.json() == {"id": str(mitra.user_id), "display_name": "Bestie Ana"}
    assert mitra.status == "offline" and mitra.user.role == Role.MITRA
    login = anon_client.post("/api/auth/token", {"login": "ana@example.test", "password": PASSWORD}, format="json")
    assert login.json()["role"] == "mitra"


@pytest.mark.parametrize("client_fixture", ["customer_client", "mitra_client"])
def test_non_operators_get_403_on_internal_endpoints(request, client_fixture):
    client = request.getfixturevalue(client_fixture)
    before = User.objects.count()

    create = client.post("/internal/mitras", {"display_name": "X", "email": "x@example.test", "password": PASSWORD}, format="json")
    config = client.get("/internal/config")

    assert create.status_code == 403 and create.json()["code"] == "permission_denied"
    assert config.status_code == 403 and config.json()["code"] == "permission_denied"
    assert User.objects.count() == before


def test_anonymous_gets_401_on_internal_endpoints(anon_client):
    assert anon_client.get("/internal/config").status_code == 401
    response = anon_client.post("/internal/mitras", {}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_operator_session_login_reaches_internal_api(make_operator):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(make_operator())

    response = client.get("/internal/config")

    assert response.status_code == 200
    assert response.json()["max_customers_per_mitra"] == 1


def test_session_of_a_non_operator_is_refused_on_internal_api(make_customer):
    client = APIClient()
    client.force_login(make_customer())

    assert client.get("/internal/config").status_code == 403


def test_duplicate_mitra_is_a_conflict(operator_client, make_mitra):
    make_mitra(email="taken@example.test")

    response = operator_client.post(
        "/internal/mitras", {"display_name": "Y", "email": "taken@example.test", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "already_registered"
    assert MitraProfile.objects.count() == 1


def test_login_failures_are_counted_in_shared_redis(anon_client, make_customer):
    from config.redis_client import get_redis

    user = make_customer()
    anon_client.post("/api/auth/token", {"login": user.email, "password": "bad"}, format="json")

    keys = list(get_redis().scan_iter(f"{settings.REDIS_PREFIX}:login-failures:*"))
    assert len(keys) == 1 and get_redis().get(keys[0]) == "1"
