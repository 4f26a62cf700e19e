"""``/internal/`` for operators (API.md "Operators"): CORS for the control-center origins
only and on ``/internal/`` only, the control-center session cookie as an alternative to
the JWT, and the operators' session list."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from live_settings.models import ConfigChange
from pairing import answers, attempts
from pairing.models import ChatSession
from pairing.representations import iso_datetime

pytestmark = pytest.mark.django_db

CC_ORIGIN = "http://localhost:8000"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _preflight(client, path: str, origin: str, method: str = "PATCH"):
    return client.options(
        path, HTTP_ORIGIN=origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,content-type",
    )


def _cors_headers(response) -> dict:
    return {name.lower(): value for name, value in response.headers.items() if name.lower().startswith("access-control-")}


# --- CORS ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("origin", [CC_ORIGIN, "http://127.0.0.1:8000"])
@pytest.mark.parametrize(
    "path", ["/internal/config", "/internal/failed-pairings", "/internal/failed-pairings/00000000-0000-4000-8000-000000000000/action", "/internal/sessions"]
)
def test_a_preflight_from_a_control_center_origin_is_allowed(path, origin, anon_client):
    response = _preflight(anon_client, path, origin)

    assert response.status_code == 200
    headers = _cors_headers(response)
    assert headers["access-control-allow-origin"] == origin
    assert headers["access-control-allow-credentials"] == "true"
    allowed = [m.strip() for m in headers["access-control-allow-methods"].split(",")]
    assert set(METHODS) <= set(allowed), allowed
    assert {"authorization", "content-type"} <= {h.strip() for h in headers["access-control-allow-headers"].split(",")}


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost:8001", "https://localhost:8000", "null"])
def test_a_foreign_origin_gets_no_cors_headers(origin, anon_client):
    preflight = _preflight(anon_client, "/internal/config", origin)

    assert "access-control-allow-origin" not in _cors_headers(preflight)
    assert "access-control-allow-methods" not in _cors_headers(preflight)


def test_a_foreign_origin_on_a_real_request_gets_no_allow_origin(operator_client):
    response = operator_client.get("/internal/config", HTTP_ORIGIN="https://evil.example")

    assert response.status_code == 200  # a token holder is a token holder; the browser is what CORS protects
    assert "access-control-allow-origin" not in _cors_headers(response)


def test_a_real_request_from_the_control_center_origin_carries_the_allow_origin(operator_client):
    response = operator_client.get("/internal/config", HTTP_ORIGIN=CC_ORIGIN)

    assert response.status_code == 200
    assert _cors_headers(response)["access-control-allow-origin"] == CC_ORIGIN
    assert "origin" in response.headers.get("Vary", "").lower()


@pytest.mark.parametrize("path", ["/api/client/mitra-availability", "/api/auth/token", "/api/mitra/status/offline", "/health"])
def test_paths_outside_internal_get_no_cors_headers(path, anon_client, customer_client):
    preflight = _preflight(anon_client, path, CC_ORIGIN, method="POST")
    real = customer_client.get(path, HTTP_ORIGIN=CC_ORIGIN)

    assert _cors_headers(preflight) == {}
    assert _cors_headers(real) == {}


# --- the session cookie ---------------------------------------------------------------------------
def test_the_control_center_session_reads_and_patches_config_with_its_csrf_token(make_operator):
    # given: an operator logged in to the control center (the page set the CSRF cookie)
    operator = make_operator()
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(operator)
    assert client.get("/admin/settings/").status_code == 200
    token = client.cookies["csrftoken"].value

    # when: the control center's own script calls /internal/
    read = client.get("/internal/config", HTTP_ORIGIN=CC_ORIGIN)
    refused = client.patch("/internal/config", {"pairing_blast_timeout_seconds": 45}, format="json", HTTP_ORIGIN=CC_ORIGIN)
    saved = client.patch(
        "/internal/config", {"pairing_blast_timeout_seconds": 45}, format="json", HTTP_ORIGIN=CC_ORIGIN, HTTP_X_CSRFTOKEN=token
    )

    # then: without the token nothing is saved; with it, the change is audited as the API's
    assert read.status_code == 200
    assert read.json()["pairing_blast_timeout_seconds"] == 60
    assert refused.status_code == 403
    assert saved.status_code == 200
    assert saved.json()["pairing_blast_timeout_seconds"] == 45
    assert _cors_headers(saved)["access-control-allow-origin"] == CC_ORIGIN
    assert list(ConfigChange.objects.values_list("key", "old_value", "new_value", "changed_by_id", "source")) == [
        ("pairing_blast_timeout_seconds", 60, 45, operator.id, "api")
    ]


@pytest.mark.parametrize("role", ["customer", "mitra"])
def test_a_customer_or_mitra_session_cookie_is_403(role, make_customer, make_mitra):
    client = APIClient()
    client.force_login(make_customer() if role == "customer" else make_mitra())

    assert client.get("/internal/config").status_code == 403
    assert client.get("/internal/sessions").status_code == 403


# --- GET /internal/sessions ------------------------------------------------------------------------
@pytest.fixture
def sessions(make_customer, online_mitra, confirmed_payment, api_client_for):
    """An active session of Ayu with Bestie Sekar (who then went offline through the app),
    a waiting attempt of Budi offered to Bestie Wulan, and a blast of Citra that found nobody."""
    ayu, budi, citra = (make_customer(call_name=name, phone=phone) for name, phone in [("Ayu", "081234567890"), ("Budi", None), ("Citra", None)])
    sekar = online_mitra(display_name="Bestie Sekar")
    attempt = attempts.chat_start(customer=ayu, payment_id=confirmed_payment(ayu).id, sensitive=True)
    active = answers.chat_request_accept(mitra=sekar, chat_session_id=attempt.id)
    assert api_client_for(sekar).post("/api/mitra/status/offline").json() == {"status": "offline"}
    wulan = online_mitra(display_name="Bestie Wulan")
    waiting = attempts.chat_start(customer=budi, payment_id=confirmed_payment(budi).id, sensitive=False)
    answers.mitra_status_set(mitra=wulan, status="offline")  # so Citra's blast finds nobody
    unmatched = attempts.chat_start(customer=citra, payment_id=confirmed_payment(citra).id, sensitive=False)
    assert (waiting.status, unmatched.status) == ("waiting", "unmatched")
    return {"active": ChatSession.objects.get(pk=active.pk), "waiting": waiting, "unmatched": unmatched, "ayu": ayu, "sekar": sekar}


def test_active_sessions_come_with_the_customer_call_name_and_the_mitra(sessions, operator_client):
    # when
    response = operator_client.get("/internal/sessions", {"status": "active"})

    # then: still active although the mitra went offline
    session = sessions["active"]
    assert response.status_code == 200
    assert response.json() == {
        "results": [
            {
                "id": str(session.id),
                "status": "active",
                "request_type": "general",
                "sensitive": True,
                "mitra": {"id": str(sessions["sekar"].id), "display_name": "Bestie Sekar"},
                "mitra_status": "offline",
                "customer": {"id": str(sessions["ayu"].id), "call_name": "Ayu"},
                "payment_session_id": str(session.payment_session_id),
                "started_at": iso_datetime(session.started_at),
                "ends_at": iso_datetime(session.ends_at),
                "closes_at": None,
                "ended_by": None,
                "created_at": iso_datetime(session.created_at),
            }
        ]
    }


def test_without_a_status_every_session_is_listed_newest_first(sessions, operator_client):
    response = operator_client.get("/internal/sessions")

    assert response.status_code == 200
    assert [(row["id"], row["status"], row["customer"]["call_name"]) for row in response.json()["results"]] == [
        (str(sessions["unmatched"].id), "unmatched", "Citra"),
        (str(sessions["waiting"].id), "waiting", "Budi"),
        (str(sessions["active"].id), "active", "Ayu"),
    ]
    assert [row["mitra"] for row in response.json()["results"][:2]] == [None, None]


def test_the_session_cookie_lists_sessions_too(sessions, make_operator):
    client = APIClient()
    client.force_login(make_operator())

    response = client.get("/internal/sessions", {"status": "waiting"})

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [str(sessions["waiting"].id)]


def test_an_unknown_status_is_400(operator_client):
    response = operator_client.get("/internal/sessions", {"status": "bogus"})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"


@pytest.mark.parametrize("who", ["customer", "mitra"])
def test_customers_and_mitras_get_403(who, customer_client, mitra_client):
    client = customer_client if who == "customer" else mitra_client

    response = client.get("/internal/sessions", {"status": "active"})

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_anonymous_gets_401(anon_client):
    response = anon_client.get("/internal/sessions", {"status": "active"})

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
