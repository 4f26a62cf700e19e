"""Suspension (SPEC §12): operators suspend and reactivate customers and mitras (reason
required, audited); a suspended account's tokens get 401 ``account_suspended`` on every
REST path (the fast paths included) and its sockets close 4401; a suspended mitra goes
offline and leaves every open offer; running sessions go on unless ended on purpose."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.testing import WebsocketCommunicator

from accounts.models import AccountSuspension, MitraStatus, User
from chat.tests.conftest import post_message
from config.asgi import application
from failed_pairings.models import PairingFailure
from pairing.models import ChatRequestNotification, ChatSession, NotificationStatus
from pairing.tests.live import CLIENT_WS, MITRA_WS, close_sockets, off_loop, open_sockets, received_by_all, run_like_a_web_process
from safety import services

PASSWORD = "s3cret-pass-123"  # the root conftest's
SUSPENDED = {"code": "account_suspended", "detail": "This account is suspended. Contact Curhat support."}
CLOSED_AUTH = {"type": "websocket.close", "code": 4401}


def _suspend(operator_client, user, **body):
    return operator_client.post(f"/internal/users/{user.id}/suspend", {"reason": "abusive messages", **body}, format="json")


# --- the operator's side -------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("role", ["customer", "mitra"])
def test_an_operator_suspends_and_reactivates_with_a_reason_each_time_audited(role, operator_client, make_customer, make_mitra):
    user = make_customer() if role == "customer" else make_mitra()

    suspended = _suspend(operator_client, user)
    again = _suspend(operator_client, user, reason="second look, still abusive")
    at = User.objects.get(id=user.id).suspended_at
    reactivated = operator_client.post(f"/internal/users/{user.id}/reactivate", {"reason": "appeal accepted"}, format="json")

    assert (suspended.status_code, suspended.json()) == (200, {"id": str(user.id), "suspended": True})
    assert again.status_code == 200 and at is not None
    assert (reactivated.status_code, reactivated.json()) == (200, {"id": str(user.id), "suspended": False})
    assert User.objects.get(id=user.id).suspended_at is None
    trail = list(AccountSuspension.objects.filter(user=user).order_by("created_at", "id").values_list("action", "reason", "actor_id"))
    assert trail == [
        ("suspended", "abusive messages", operator_client.user.id),
        ("suspended", "second look, still abusive", operator_client.user.id),
        ("reactivated", "appeal accepted", operator_client.user.id),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 1001}, {"reason": "ok", "end_active_sessions": "perhaps"}])
def test_a_suspension_without_a_usable_reason_is_400_and_changes_nothing(operator_client, make_customer, body):
    user = make_customer()

    response = operator_client.post(f"/internal/users/{user.id}/suspend", body, format="json")

    assert (response.status_code, response.json()["code"]) == (400, "invalid_input")
    if body.get("reason", "").strip() in ("", "x" * 1001):
        reactivate = operator_client.post(f"/internal/users/{user.id}/reactivate", {"reason": body.get("reason")} if body else {}, format="json")
        assert (reactivate.status_code, reactivate.json()["code"]) == (400, "invalid_input")
    assert User.objects.get(id=user.id).suspended_at is None and not AccountSuspension.objects.exists()


@pytest.mark.django_db
def test_unknown_accounts_and_operators_cannot_be_suspended(operator_client, make_operator, customer_client, mitra_client, anon_client):
    unknown = operator_client.post("/internal/users/00000000-0000-0000-0000-000000000000/suspend", {"reason": "x"}, format="json")
    operator = operator_client.post(f"/internal/users/{make_operator().id}/suspend", {"reason": "x"}, format="json")

    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    assert (operator.status_code, operator.json()["code"]) == (409, "conflict")
    target = customer_client.user
    for client, status in ((customer_client, 403), (mitra_client, 403), (anon_client, 401)):
        assert client.post(f"/internal/users/{target.id}/suspend", {"reason": "x"}, format="json").status_code == status
    assert not AccountSuspension.objects.exists()


# --- what the suspended account meets -------------------------------------------------------------------
@pytest.mark.django_db
def test_every_rest_path_refuses_the_suspended_customer_401_account_suspended(
    operator_client, make_customer, api_client_for, django_capture_on_commit_callbacks
):
    customer = make_customer()
    client = api_client_for(customer)
    refresh = client.tokens["refresh"]
    with django_capture_on_commit_callbacks(execute=True):
        _suspend(operator_client, customer)

    answers = {
        "history": client.get("/api/client/chat/history"),
        "availability": client.get("/api/client/mitra-availability"),
        "payment": client.post("/api/client/payment-sessions", {"free_trial": True}, format="json"),
        "refresh": client.post("/api/auth/token/refresh", {"refresh": refresh}, format="json"),
        "login": client.post("/api/auth/token", {"login": customer.email, "password": PASSWORD}, format="json"),
    }

    assert {name: (r.status_code, r.json()) for name, r in answers.items()} == {name: (401, SUSPENDED) for name in answers}


@pytest.mark.django_db
def test_the_suspended_mitra_is_refused_too(operator_client, make_mitra, api_client_for):
    mitra = make_mitra()
    client = api_client_for(mitra)
    _suspend(operator_client, mitra)

    for response in (client.get("/api/mitra/status"), client.post("/api/mitra/status/online"), client.get("/api/mitra/ratings/summary")):
        assert (response.status_code, response.json()) == (401, SUSPENDED)


@pytest.mark.django_db(transaction=True)
def test_the_fast_paths_hand_a_suspended_account_to_django_which_refuses_it(operator_client, session_between):
    session_id, customer, _ = session_between()
    token = customer.tokens["access"]
    _suspend(operator_client, customer.user)

    async def scenario():
        from channels.testing import HttpCommunicator

        poll = HttpCommunicator(
            application, "GET", "/api/client/mitra-availability",
            headers=[(b"host", b"localhost"), (b"authorization", f"Bearer {token}".encode())],
        )
        polled = await poll.get_response(timeout=30)
        sent = await post_message(application, token, session_id, {"client_message_id": "s1", "text": "halo"})
        return polled, sent

    polled, (status, body, _) = run_like_a_web_process(scenario)

    assert polled["status"] == 401 and b"account_suspended" in polled["body"]
    assert (status, body) == (401, SUSPENDED)
    assert not ChatSession.objects.get(id=session_id).messages.exists()


@pytest.mark.django_db(transaction=True)
def test_open_sockets_close_4401_and_new_ones_are_refused_and_others_stay(operator_client, make_customer, make_mitra, api_client_for):
    customer, mitra, bystander = make_customer(), make_mitra(), make_customer()
    clients = [api_client_for(u) for u in (customer, mitra, bystander)]

    async def scenario():
        phone, mitra_app = (await open_sockets(CLIENT_WS, clients[:1]))[0], (await open_sockets(MITRA_WS, clients[1:2]))[0]
        theirs = (await open_sockets(CLIENT_WS, clients[2:]))[0]
        await off_loop(lambda: _suspend(operator_client, customer))
        await off_loop(lambda: _suspend(operator_client, mitra))
        closed = [await phone.receive_output(timeout=30), await mitra_app.receive_output(timeout=30)]
        retry = WebsocketCommunicator(application, f"{CLIENT_WS}?token={clients[0].tokens['access']}")
        retried = (await retry.connect(), await retry.receive_output(timeout=30))
        alive = await received_by_all([theirs])
        await close_sockets([theirs])
        return closed, retried, alive

    closed, retried, alive = asyncio.run(scenario())

    assert closed == [CLOSED_AUTH, CLOSED_AUTH]
    assert retried == ((True, None), CLOSED_AUTH)
    assert alive == [[]]


# --- what suspension does to pairing ------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_suspended_mitra_goes_offline_and_leaves_every_open_offer_but_the_running_session_goes_on(
    operator_client, online_mitra, session_between, start_chat, make_customer, api_client_for, set_config
):
    set_config(max_customers_per_mitra=3)
    mitra = online_mitra()
    running, _, _ = session_between(mitra=mitra)
    other = online_mitra()
    _, shared = start_chat(make_customer())  # offered to both
    _, only_theirs = start_chat(make_customer())
    ChatRequestNotification.objects.filter(chat_session_id=only_theirs["id"], mitra=other).update(status=NotificationStatus.DECLINED)

    suspended_app = api_client_for(mitra)

    async def scenario():
        socket = (await open_sockets(MITRA_WS, [suspended_app]))[0]
        await off_loop(lambda: _suspend(operator_client, mitra))
        frames = [await socket.receive_output(timeout=30)]
        while frames[-1]["type"] != "websocket.close":
            frames.append(await socket.receive_output(timeout=30))
        return frames

    frames = asyncio.run(scenario())

    # the mitra's app is told of each withdrawal (no customer named), then closed
    told = sorted(json.loads(f["text"])["request_id"] for f in frames[:-1])
    assert told == sorted([shared["id"], only_theirs["id"]])
    assert {json.loads(f["text"])["reason"] for f in frames[:-1]} == {"withdrawn"}
    assert frames[-1] == CLOSED_AUTH
    mitra.mitra_profile.refresh_from_db()
    assert mitra.mitra_profile.status == MitraStatus.OFFLINE
    assert not ChatRequestNotification.objects.filter(mitra=mitra, status=NotificationStatus.OFFERED).exists()
    assert ChatSession.objects.get(id=shared["id"]).status == "waiting"  # the other mitra still has it
    ended = ChatSession.objects.get(id=only_theirs["id"])
    assert (ended.status, ended.failure_cause) == ("unmatched", "no_mitra_available")  # nobody left
    assert ChatSession.objects.get(id=running).status == "active"


@pytest.mark.django_db
def test_a_returning_request_to_a_mitra_being_suspended_ends_as_targeted_offline(operator_client, session_between, make_tier):
    session_id, customer, mitra = session_between()
    assert customer.post(f"/api/client/chat/{session_id}/end").status_code == 200
    tier = make_tier()
    created = customer.post("/api/client/payment-sessions", {"tier_id": str(tier.id), "targeted_mitra_id": str(mitra.user.id)}, format="json")
    customer.post(f"/api/client/payment-sessions/{created.json()['id']}/confirm")
    waiting = customer.post("/api/client/chat/returning", {"payment_session_id": created.json()["id"], "mitra_id": str(mitra.user.id)}, format="json")
    assert waiting.status_code == 201, waiting.json()

    _suspend(operator_client, mitra.user)

    attempt = ChatSession.objects.get(id=waiting.json()["id"])
    assert (attempt.status, attempt.failure_cause) == ("unmatched", "targeted_mitra_offline")
    assert customer.get(f"/api/client/payment-sessions/{created.json()['id']}").json()["status"] == "confirmed"


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["customer", "mitra"])
def test_end_active_sessions_now_ends_them_as_the_operator_without_moving_money(role, operator_client, session_between):
    session_id, customer, mitra = session_between()
    target = customer.user if role == "customer" else mitra.user

    _suspend(operator_client, target, end_active_sessions=True)

    session = ChatSession.objects.get(id=session_id)
    assert (session.status, session.ended_by, session.ended_by_user_id) == ("completed", "operator", operator_client.user.id)
    assert session.payment_session.status == "consumed"
    assert AccountSuspension.objects.get().end_active_sessions is True


@pytest.mark.django_db
def test_a_customer_suspended_while_searching_has_the_search_ended_for_operators(operator_client, online_mitra, start_chat, make_customer):
    online_mitra()
    customer = make_customer()
    _, chat = start_chat(customer)

    _suspend(operator_client, customer)

    attempt = ChatSession.objects.get(id=chat["id"])
    assert (attempt.status, attempt.failure_cause) == ("cancelled", "account_suspended")
    assert PairingFailure.objects.filter(chat_session=attempt, cause_tag="account_suspended").exists()
    assert not ChatRequestNotification.objects.filter(chat_session=attempt, status=NotificationStatus.OFFERED).exists()


@pytest.mark.django_db
def test_after_reactivation_the_account_works_again_and_a_mitra_stays_offline(operator_client, online_mitra, api_client_for):
    mitra = online_mitra()
    client = api_client_for(mitra)
    _suspend(operator_client, mitra)

    services.account_reactivate(user_id=mitra.id, actor=operator_client.user, reason="cleared")

    status = client.get("/api/mitra/status")
    assert status.status_code == 200 and status.json()["status"] == "offline"
