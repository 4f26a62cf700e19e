"""``DELETE /api/me`` (SPEC §13): the person's password erases their personal data; the
accounting rows stay, linked to the anonymised account; the tokens stop working at
once; refused while a chat is waiting, active or closing, also when the erasure and a
new payment or chat start race (no half-erased account starts anything)."""

from __future__ import annotations

import asyncio

import pytest
from fcm_django.models import FCMDevice

from accounts.models import User
from chat.models import Message
from pairing import lifecycle
from pairing.models import ChatRequestNotification, ChatSession, EndedBy
from pairing.tests.live import CLIENT_WS, as_text, off_loop, open_sockets, race
from payments.models import PaymentSession
from privacy.models import AccountErasure
from safety.models import Block, Rating
from safety import services as safety_services

PASSWORD = "s3cret-pass-123"  # the root conftest's
PHONE, EMAIL = "081234567890", "ayu.rahasia@example.test"


def _erase(client, password=PASSWORD):
    return client.delete("/api/me", {"password": password}, format="json")


@pytest.fixture
def finished(make_customer, online_mitra, start_chat, api_client_for, make_operator):
    """Ayu's finished, rated session with a blocked bestie, and a registered phone."""
    ayu = make_customer(call_name="Ayu", phone=PHONE, email=EMAIL)
    mitra = online_mitra(display_name="Bestie Sekar")
    customer, chat = start_chat(ayu)
    bestie = api_client_for(mitra)
    assert bestie.post(f"/api/mitra/chat-requests/{chat['id']}/accept").status_code == 200
    customer.post(f"/api/chat/{chat['id']}/messages", {"client_message_id": "a", "text": "rahasia Ayu"}, format="json")
    bestie.post(f"/api/chat/{chat['id']}/messages", {"client_message_id": "b", "text": "aku dengar"}, format="json")
    lifecycle.chat_end(user=make_operator(), chat_session_id=chat["id"], ended_by=EndedBy.OPERATOR)
    safety_services.rating_create(customer=ayu, chat_session_id=chat["id"], stars=4, comment="Ayu merasa lega")
    safety_services.block_create(customer=ayu, mitra_id=mitra.id)
    assert customer.post("/api/devices", {"registration_id": "fcm-ayu", "type": "android"}, format="json").status_code in (200, 201)
    return ayu, customer, chat["id"]


@pytest.mark.django_db
def test_erasure_removes_the_personal_data_and_keeps_the_accounts_rows(finished, django_capture_on_commit_callbacks):
    ayu, customer, session_id = finished
    payments = list(PaymentSession.objects.filter(customer=ayu).values_list("id", "amount", "status"))

    with django_capture_on_commit_callbacks(execute=True):
        response = _erase(customer)

    assert response.status_code == 204
    user = User.objects.get(id=ayu.id)
    assert (user.phone, user.is_active, user.has_usable_password()) == (None, False, False)
    assert user.email.endswith("@erased.invalid") and EMAIL not in user.email
    assert user.customer_profile.call_name == "Pengguna"
    assert set(Message.objects.filter(chat_session_id=session_id).values_list("text", flat=True)) == {""}
    assert Rating.objects.get().comment == "" and not Block.objects.exists() and not FCMDevice.objects.exists()
    assert list(PaymentSession.objects.filter(customer=ayu).values_list("id", "amount", "status")) == payments
    assert ChatSession.objects.filter(id=session_id, customer=ayu).exists()
    assert AccountErasure.objects.get(user=ayu).erased_by_id == ayu.id
    for secret in (PHONE, EMAIL, "Ayu"):
        assert secret not in as_text(list(User.objects.filter(id=ayu.id).values()))


@pytest.mark.django_db
def test_the_tokens_stop_working_at_once(finished, api_client_for):
    ayu, customer, _ = finished
    refresh = customer.tokens["refresh"]

    assert _erase(customer).status_code == 204

    assert customer.get("/api/client/chat/history").status_code == 401
    assert customer.get("/api/client/mitra-availability").status_code == 401
    assert customer.post("/api/auth/token/refresh", {"refresh": refresh}, format="json").status_code == 401
    assert customer.post("/api/auth/token", {"login": EMAIL, "password": PASSWORD}, format="json").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_the_sockets_of_an_erased_account_close_4401(make_customer, api_client_for):
    client = api_client_for(make_customer())

    async def scenario():
        socket = (await open_sockets(CLIENT_WS, [client]))[0]
        await off_loop(lambda: _erase(client))
        return await socket.receive_output(timeout=30)

    assert asyncio.run(scenario()) == {"type": "websocket.close", "code": 4401}


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{"password": "wrong-pass-000"}, {}, {"password": ""}])
def test_a_wrong_password_erases_nothing(finished, body):
    ayu, customer, _ = finished

    response = customer.delete("/api/me", body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] in ("wrong_password", "invalid_input")
    assert User.objects.get(id=ayu.id).email == EMAIL and not AccountErasure.objects.exists()


@pytest.mark.django_db
def test_erasure_waits_for_the_running_chat(make_customer, online_mitra, start_chat, api_client_for):
    ayu = make_customer()
    online_mitra()
    customer, _ = start_chat(ayu)  # waiting

    response = _erase(customer)

    assert (response.status_code, response.json()["code"]) == (409, "active_session")
    assert User.objects.get(id=ayu.id).is_active


@pytest.mark.django_db
def test_a_mitra_with_a_running_session_cannot_erase_and_an_idle_one_can(make_customer, online_mitra, start_chat, api_client_for):
    mitra = online_mitra()
    bestie = api_client_for(mitra)
    _, chat = start_chat(make_customer())
    bestie.post(f"/api/mitra/chat-requests/{chat['id']}/accept")

    refused = _erase(bestie)
    ChatSession.objects.filter(id=chat["id"]).update(status="completed")
    erased = _erase(bestie)

    assert (refused.status_code, refused.json()["code"]) == (409, "active_session")
    assert erased.status_code == 204
    assert User.objects.get(id=mitra.id).mitra_profile.display_name == "Bestie"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(5))
def test_erasure_racing_a_chat_start_leaves_no_half_erased_account_searching(round_, make_customer, online_mitra, confirmed_payment, api_client_for):
    online_mitra()
    ayu = make_customer()
    payment = confirmed_payment(ayu)
    phone, tablet = api_client_for(ayu), api_client_for(ayu)

    started, erased = race(
        [
            lambda: phone.post("/api/client/chat/start", {"payment_session_id": str(payment.id), "sensitive": False}, format="json"),
            lambda: _erase(tablet),
        ]
    )

    user = User.objects.get(id=ayu.id)
    searching = ChatSession.objects.filter(customer=ayu, status="waiting").exists()
    if erased.status_code == 204:  # the erasure won: nothing was started in the erased account's name
        assert not user.is_active and not searching and started.status_code == 401
    else:  # the search won: the erasure waits for it
        assert (erased.status_code, erased.json()["code"]) == (409, "active_session")
        assert user.is_active and searching and started.status_code == 201


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(5))
def test_erasure_racing_a_new_payment_leaves_no_payment_of_an_erased_account(round_, make_customer, make_tier, api_client_for):
    ayu = make_customer()
    tier = make_tier()
    phone, tablet = api_client_for(ayu), api_client_for(ayu)

    paid, erased = race(
        [
            lambda: phone.post("/api/client/payment-sessions", {"tier_id": str(tier.id)}, format="json"),
            lambda: _erase(tablet),
        ]
    )

    assert erased.status_code == 204  # a pending payment is not a session
    created_after = PaymentSession.objects.filter(customer=ayu, created_at__gt=AccountErasure.objects.get(user=ayu).created_at)
    assert not created_after.exists()
    assert paid.status_code in (201, 401)


@pytest.mark.django_db
def test_an_online_mitra_who_erases_leaves_every_open_offer(make_customer, online_mitra, start_chat, api_client_for):
    mitra, other = online_mitra(), online_mitra()
    _, chat = start_chat(make_customer())  # offered to both

    assert _erase(api_client_for(mitra)).status_code == 204

    offers = dict(ChatRequestNotification.objects.filter(chat_session_id=chat["id"]).values_list("mitra_id", "status"))
    assert offers == {mitra.id: "closed", other.id: "offered"}
    assert User.objects.get(id=mitra.id).mitra_profile.status == "offline"
