"""``GET /api/me/export`` (SPEC §13): the caller's own data as one JSON document,
streamed; a mitra's export names no customer beyond what the mitra's app shows."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from chat.models import Message
from pairing import lifecycle
from pairing.models import EndedBy
from pairing.tests.live import as_text
from safety import services as safety_services

pytestmark = pytest.mark.django_db

PHONE, PHONE_CANONICAL, EMAIL = "081234567890", "+6281234567890", "ayu.rahasia@example.test"


@pytest.fixture
def history(make_customer, online_mitra, start_chat, api_client_for, make_operator):
    """Ayu (phone and email) had one session with Bestie Sekar: two messages each way,
    one of them already purged, ended and rated."""
    ayu = make_customer(call_name="Ayu", phone=PHONE, email=EMAIL)
    mitra = online_mitra(display_name="Bestie Sekar")
    customer, chat = start_chat(ayu)
    bestie = api_client_for(mitra)
    assert bestie.post(f"/api/mitra/chat-requests/{chat['id']}/accept").status_code == 200
    for i, (client, text) in enumerate([(customer, "halo kak"), (bestie, "halo Ayu"), (customer, "makasih"), (bestie, "sama-sama")]):
        assert client.post(f"/api/chat/{chat['id']}/messages", {"client_message_id": f"m{i}", "text": text}, format="json").status_code == 201
    Message.objects.filter(text="halo kak").update(text="", purged_at=timezone.now())
    lifecycle.chat_end(user=make_operator(), chat_session_id=chat["id"], ended_by=EndedBy.OPERATOR)
    safety_services.rating_create(customer=ayu, chat_session_id=chat["id"], stars=5, comment="lega")
    return ayu, mitra, chat["id"], customer, bestie


def _export(client):
    response = client.get("/api/me/export")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith('attachment; filename="curhat-export-')
    return json.loads(b"".join(response.streaming_content))


def test_a_customer_exports_profile_sessions_kept_messages_payments_and_ratings(history):
    ayu, _, session_id, customer, _ = history

    document = _export(customer)

    assert document["account"] == {
        "id": str(ayu.id), "role": "customer", "email": EMAIL, "phone": PHONE_CANONICAL, "call_name": "Ayu",
        "date_joined": document["account"]["date_joined"],
    }
    assert [s["id"] for s in document["sessions"]] == [session_id]
    assert document["sessions"][0]["mitra"]["display_name"] == "Bestie Sekar"
    assert [(m["sender"], m["text"]) for m in document["messages"]] == [("mitra", "halo Ayu"), ("customer", "makasih"), ("mitra", "sama-sama")]
    assert [p["status"] for p in document["payments"]] == ["consumed"]
    assert [(r["stars"], r["comment"]) for r in document["ratings"]] == [(5, "lega")]
    assert set(document) == {"exported_at", "account", "sessions", "messages", "payments", "ratings"}


def test_a_mitras_export_has_their_own_words_and_never_the_customers_identity(history):
    ayu, mitra, session_id, _, bestie = history

    document = _export(bestie)

    assert document["account"]["display_name"] == "Bestie Sekar" and document["account"]["role"] == "mitra"
    assert [s["customer"] for s in document["sessions"]] == [{"call_name": "Ayu"}]
    assert [m["text"] for m in document["messages"]] == ["halo Ayu", "sama-sama"]
    assert [(r["stars"], r["comment"]) for r in document["ratings_received"]] == [(5, "lega")]
    text = as_text(document)
    for secret in (PHONE, PHONE_CANONICAL, PHONE_CANONICAL[1:], EMAIL, str(ayu.id), ayu.id.hex):
        assert secret not in text


def test_the_export_reads_each_list_in_chunks_whatever_the_history(history, django_assert_max_num_queries):
    _, _, session_id, customer, _ = history
    Message.objects.bulk_create(
        [Message(chat_session_id=session_id, sender="customer", sender_user_id=customer.user.id, text=f"lagi {i}", client_message_id=f"x{i}") for i in range(3000)]
    )

    with django_assert_max_num_queries(20):  # auth, profile, and a few cursor fetches per list: not one per row
        document = _export(customer)

    assert len(document["messages"]) == 3003


@pytest.mark.parametrize("who", ["operator_client", "anon_client"])
def test_only_customers_and_mitras_export(who, request):
    client = request.getfixturevalue(who)
    assert client.get("/api/me/export").status_code == (403 if who == "operator_client" else 401)
