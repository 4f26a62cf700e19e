"""The mitra side of pairing (API.md "Mitra"): status and presence, the open requests,
late joiners, own sessions; and the role walls between customers and mitras."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from pairing.models import ChatRequestNotification, ChatSession
from pairing.tests.live import (
    MITRA_WS, as_text, close_sockets, last_push_id, off_loop, open_socket, open_sockets, received_by_all,
)
from pairing.tests.state import pairing_state
from realtime.models import PushOutbox

REQUESTS = "/api/mitra/chat-requests"
STATUS = "/api/mitra/status"


def _request_ids(client) -> list[str]:
    response = client.get(REQUESTS)
    assert response.status_code == 200, response.json()
    return [r["request_id"] for r in response.json()["results"]]


# --- GET /api/mitra/chat-requests ---------------------------------------------------------
@pytest.mark.django_db
def test_chat_requests_lists_only_the_open_requests_offered_to_the_caller(
    make_customer, online_mitra, start_chat, api_client_for, settings_now
):
    # given: me and another mitra, both with room for several sessions
    settings_now(max_customers_per_mitra=5)
    me, other = api_client_for(online_mitra()), api_client_for(online_mitra())
    _, open_chat = start_chat(make_customer(call_name="Ayu"), sensitive=True)
    _, declined = start_chat(make_customer())
    assert me.post(f"{REQUESTS}/{declined['id']}/decline").status_code == 200
    _, taken = start_chat(make_customer())
    assert other.post(f"{REQUESTS}/{taken['id']}/accept").status_code == 200
    cancel_client, cancelled = start_chat(make_customer())
    assert cancel_client.post(f"/api/client/chat/{cancelled['id']}/cancel").status_code == 200
    _, expired = start_chat(make_customer())
    ChatSession.objects.filter(id=expired["id"]).update(deadline_at=timezone.now() - timedelta(seconds=1))
    assert me.post("/api/mitra/status/offline").status_code == 200
    _, others_only = start_chat(make_customer())  # blasted while I was offline

    # when
    response = me.get(REQUESTS)

    # then: the one open offer, as API.md's chat request object
    assert response.status_code == 200
    session = ChatSession.objects.get(id=open_chat["id"])
    assert response.json() == {
        "results": [
            {
                "request_id": open_chat["id"], "request_type": "general", "customer": {"call_name": "Ayu"},
                "sensitive": True, "timeout_seconds": None,
                "expires_at": session.deadline_at.isoformat().replace("+00:00", "Z"),
                "created_at": open_chat["created_at"],
            }
        ]
    }
    assert _request_ids(other) == [open_chat["id"], declined["id"], others_only["id"]]


# --- GET /api/mitra/status -----------------------------------------------------------------
@pytest.mark.django_db
def test_status_reports_toggle_sessions_and_capacity(make_mitra, make_customer, api_client_for, start_chat, settings_now):
    # given
    mitra_client = api_client_for(make_mitra())
    assert mitra_client.get(STATUS).json() == {"status": "offline", "connected": False, "active_sessions": 0, "capacity": 1}

    # when: online, capacity 3, one session accepted
    settings_now(max_customers_per_mitra=3)
    assert mitra_client.post("/api/mitra/status/online").json() == {"status": "online"}
    _, chat = start_chat(make_customer())
    assert mitra_client.post(f"{REQUESTS}/{chat['id']}/accept").status_code == 200

    # then
    assert mitra_client.get(STATUS).json() == {"status": "online", "connected": False, "active_sessions": 1, "capacity": 3}

    # and going offline keeps the session counted
    assert mitra_client.post("/api/mitra/status/offline").json() == {"status": "offline"}
    assert mitra_client.get(STATUS).json() == {"status": "offline", "connected": False, "active_sessions": 1, "capacity": 3}


@pytest.mark.django_db(transaction=True)
def test_connected_is_true_while_a_mitra_socket_is_open_and_pinging_and_false_after_it_closes(online_mitra, api_client_for):
    # given
    mitra_client = api_client_for(online_mitra())

    async def scenario():
        before = await off_loop(lambda: mitra_client.get(STATUS).json())
        socket = await open_socket(MITRA_WS, mitra_client)
        await socket.send_json_to({"type": "ping"})
        pong = await socket.receive_json_from(timeout=30)
        during = await off_loop(lambda: mitra_client.get(STATUS).json())
        await socket.disconnect()
        after = await off_loop(lambda: mitra_client.get(STATUS).json())
        return before, pong, during, after

    # when
    before, pong, during, after = asyncio.run(scenario())

    # then
    assert pong == {"type": "pong"}
    assert before == {"status": "online", "connected": False, "active_sessions": 0, "capacity": 1}
    assert during == {"status": "online", "connected": True, "active_sessions": 0, "capacity": 1}
    assert after == {"status": "online", "connected": False, "active_sessions": 0, "capacity": 1}


# --- late joiners (SPEC §5.1.3) ------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_mitra_going_online_is_offered_the_waiting_request_unless_at_capacity(
    make_customer, make_mitra, online_mitra, start_chat, matched_session, api_client_for
):
    # given: a busy mitra (one session, capacity 1) who went offline, and a waiting chat
    busy = online_mitra()
    matched_session(busy)
    busy_client = api_client_for(busy)
    assert busy_client.post("/api/mitra/status/offline").status_code == 200
    online_mitra()  # somebody was there for the blast
    customer = make_customer(call_name="Ayu", phone="081234567890", email="ayu.rahasia@example.test")
    _, chat = start_chat(customer)
    session = ChatSession.objects.get(id=chat["id"])
    late_client = api_client_for(make_mitra())
    last_push = last_push_id()

    async def scenario():
        sockets = await open_sockets(MITRA_WS, [late_client, busy_client])
        late = await off_loop(lambda: late_client.post("/api/mitra/status/online"))
        busy_back = await off_loop(lambda: busy_client.post("/api/mitra/status/online"))
        events = await received_by_all(sockets)
        await close_sockets(sockets)
        return late, busy_back, events

    # when
    late, busy_back, (late_events, busy_events) = asyncio.run(scenario())

    # then: the late joiner gets the offer row, the event and a push; the busy mitra nothing
    assert (late.status_code, busy_back.status_code) == (200, 200)
    assert ChatRequestNotification.objects.filter(chat_session=session, mitra=late_client.user, status="offered").count() == 1
    assert not ChatRequestNotification.objects.filter(chat_session=session, mitra=busy).exists()
    assert late_events == [
        {
            "type": "chat_request", "request_id": chat["id"], "request_type": "general",
            "customer": {"call_name": "Ayu"}, "sensitive": False, "timeout_seconds": None,
            "expires_at": session.deadline_at.isoformat().replace("+00:00", "Z"), "created_at": chat["created_at"],
        }
    ]
    assert busy_events == []
    pushes = list(PushOutbox.objects.filter(id__gt=last_push).values("user_id", "title", "body", "data"))
    assert pushes == [
        {
            "user_id": late_client.user.id, "title": "Ada yang ingin curhat", "body": "Ayu sedang menunggu bestie.",
            "data": {"type": "chat_request", "request_id": chat["id"], "request_type": "general"},
        }
    ]
    for secret in ("081234567890", "+6281234567890", "ayu.rahasia@example.test", str(customer.id), chat["payment_session_id"]):
        assert secret not in as_text([late_events, pushes[0]["title"], pushes[0]["body"], pushes[0]["data"]])
    assert _request_ids(late_client) == [chat["id"]]
    assert _request_ids(busy_client) == []

    # and the late joiner can take it
    assert late_client.post(f"{REQUESTS}/{chat['id']}/accept").status_code == 200


# --- GET /api/mitra/sessions ----------------------------------------------------------------
@pytest.mark.django_db
def test_sessions_lists_the_callers_sessions_filtered_by_status(make_customer, online_mitra, start_chat, api_client_for, settings_now):
    # given: two active sessions of mine, one of another mitra
    settings_now(max_customers_per_mitra=2)
    me, other = online_mitra(display_name="Bestie Sekar"), online_mitra()
    me_client, other_client = api_client_for(me), api_client_for(other)
    _, first = start_chat(make_customer(call_name="Ayu"), minutes=30)
    _, second = start_chat(make_customer(call_name="Budi"), minutes=60)
    _, theirs = start_chat(make_customer())
    assert me_client.post(f"{REQUESTS}/{first['id']}/accept").status_code == 200
    assert me_client.post(f"{REQUESTS}/{second['id']}/accept").status_code == 200
    assert other_client.post(f"{REQUESTS}/{theirs['id']}/accept").status_code == 200

    # when
    response = me_client.get("/api/mitra/sessions", {"status": "active"})

    # then: newest start first, the mitra view only
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(s["id"], s["status"], s["customer"], s["mitra"]) for s in results] == [
        (second["id"], "active", {"call_name": "Budi"}, {"id": str(me.id), "display_name": "Bestie Sekar"}),
        (first["id"], "active", {"call_name": "Ayu"}, {"id": str(me.id), "display_name": "Bestie Sekar"}),
    ]
    assert all(set(s) == {"id", "status", "request_type", "sensitive", "customer", "mitra", "started_at", "ends_at", "closes_at", "ended_by", "created_at"} for s in results)
    assert me_client.get("/api/mitra/sessions", {"status": "completed"}).json() == {"results": []}


@pytest.mark.django_db
def test_sessions_with_an_unknown_status_is_400(mitra_client):
    response = mitra_client.get("/api/mitra/sessions", {"status": "bogus"})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"


@pytest.mark.django_db
def test_operators_see_an_active_session_whose_mitra_went_offline_as_active(
    make_customer, online_mitra, start_chat, api_client_for, operator_client
):
    # given
    mitra = online_mitra(display_name="Bestie Sekar")
    customer = make_customer(call_name="Ayu")
    _, chat = start_chat(customer)
    mitra_client = api_client_for(mitra)
    assert mitra_client.post(f"{REQUESTS}/{chat['id']}/accept").status_code == 200
    assert mitra_client.post("/api/mitra/status/offline").status_code == 200

    # when
    response = operator_client.get("/internal/sessions", {"status": "active"})

    # then
    assert response.status_code == 200
    [listed] = response.json()["results"]
    assert (listed["id"], listed["status"], listed["customer"], listed["mitra"], listed["mitra_status"]) == (
        chat["id"], "active", {"id": str(customer.id), "call_name": "Ayu"}, {"id": str(mitra.id), "display_name": "Bestie Sekar"}, "offline"
    )


# --- roles ---------------------------------------------------------------------------------
MITRA_ENDPOINTS = [
    ("get", STATUS),
    ("post", "/api/mitra/status/online"),
    ("post", "/api/mitra/status/offline"),
    ("get", REQUESTS),
    ("post", f"{REQUESTS}/{{id}}/accept"),
    ("post", f"{REQUESTS}/{{id}}/decline"),
    ("get", "/api/mitra/sessions?status=active"),
]
CUSTOMER_ENDPOINTS = [
    ("get", "/api/client/mitra-availability"),
    ("post", "/api/client/chat/start"),
    ("get", "/api/client/chat/{id}"),
    ("post", "/api/client/chat/{id}/cancel"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("method,path", MITRA_ENDPOINTS)
def test_a_customer_token_on_mitra_endpoints_is_403_and_changes_nothing(method, path, make_customer, online_mitra, start_chat):
    online_mitra()
    client, chat = start_chat(make_customer())
    before = pairing_state()

    response = getattr(client, method)(path.format(id=chat["id"]))

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert pairing_state() == before


@pytest.mark.django_db
@pytest.mark.parametrize("method,path", CUSTOMER_ENDPOINTS)
def test_a_mitra_token_on_customer_endpoints_is_403_and_changes_nothing(
    method, path, make_customer, online_mitra, start_chat, api_client_for
):
    mitra_client = api_client_for(online_mitra())
    _, chat = start_chat(make_customer())
    before = pairing_state()

    url = path.format(id=chat["id"])
    if method == "post":
        response = mitra_client.post(url, {"payment_session_id": chat["payment_session_id"]}, format="json")
    else:
        response = mitra_client.get(url)

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert pairing_state() == before


@pytest.mark.django_db
@pytest.mark.parametrize("method,path", MITRA_ENDPOINTS + CUSTOMER_ENDPOINTS)
def test_no_token_is_401(method, path, anon_client):
    response = getattr(anon_client, method)(path.format(id="00000000-0000-4000-8000-000000000000"))

    assert response.status_code == 401
