"""SPEC §5.4, the multi-actor scenario, end to end over real websockets: a mitra with two
customers goes offline mid-chat. Nothing about the running sessions changes — messages
keep flowing, operators still see them active, they end by their timer — while the mitra
leaves availability at once and a "Curhat lagi" to them is refused as offline.
(The extension safeguard part of the scenario is tested with the extensions.)"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from failed_pairings.models import PairingFailure
from pairing import deadlines
from pairing.models import ChatSession
from pairing.tests.live import CLIENT_WS, MITRA_WS, as_text, close_sockets, last_push_id, off_loop, open_sockets, received_by_all
from payments.models import PaymentSession
from realtime.models import PushOutbox

pytestmark = pytest.mark.django_db(transaction=True)

AVAILABILITY = "/api/client/mitra-availability"
CUSTOMERS = {
    "A": ("Ayu", "081100000001", "ayu.rahasia@example.test"),
    "B": ("Bima", "081100000002", "bima.rahasia@example.test"),
    "C": ("Citra", "081100000003", "citra.rahasia@example.test"),
}


def test_a_mitra_going_offline_mid_chat_with_two_customers(
    make_customer, online_mitra, start_chat, confirmed_payment, api_client_for, operator_client, set_config
):
    # --- given -------------------------------------------------------------------------------
    set_config(max_customers_per_mitra=2, closing_goodbye_seconds=30)
    mitra = online_mitra(display_name="Bestie Sekar")
    m = api_client_for(mitra)
    customers = {key: make_customer(call_name=name, phone=phone, email=email) for key, (name, phone, email) in CUSTOMERS.items()}
    a, b, c = (api_client_for(customers[key]) for key in "ABC")
    mitra_rest = []  # every REST body the mitra gets

    def session_with(customer) -> str:
        _, chat = start_chat(customer)
        accepted = m.post(f"/api/mitra/chat-requests/{chat['id']}/accept")
        assert (accepted.status_code, accepted.json()["status"]) == (200, "active"), accepted.json()
        mitra_rest.append(accepted.json())
        return chat["id"]

    # C talked with M before
    c_old = session_with(customers["C"])
    assert c.post(f"/api/client/chat/{c_old}/end").json()["status"] == "completed"
    # A and B each get a session with M; one slot left after A, none after B
    a_id = session_with(customers["A"])
    assert a.get(AVAILABILITY).json() == {"available": True}
    b_id = session_with(customers["B"])
    assert a.get(AVAILABILITY).json() == {"available": False}
    c_payment = confirmed_payment(customers["C"], targeted_mitra=mitra, amount=90_000)
    running_before = {s: ChatSession.objects.filter(id=s).values_list("status", "ends_at", "ended_by").get() for s in (a_id, b_id)}
    last_push = last_push_id()

    def send(client, session_id, cmid, text):
        response = client.post(f"/api/chat/{session_id}/messages", {"client_message_id": cmid, "text": text}, format="json")
        if client is m:
            mitra_rest.append(response.json())
        return response

    def overdue(column: str) -> None:
        ChatSession.objects.filter(id__in=[a_id, b_id]).update(**{column: timezone.now() - timedelta(seconds=1)})

    async def scenario():
        sockets = await open_sockets(CLIENT_WS, [a, b, c])
        sockets += await open_sockets(MITRA_WS, [m])
        got = {}

        async def step(name, call):
            result = await off_loop(call)
            got[name] = (result, await received_by_all(sockets))

        await step("offline", lambda: m.post("/api/mitra/status/offline"))
        await step("after_offline", lambda: {s: ChatSession.objects.filter(id=s).values_list("status", "ends_at", "ended_by").get() for s in (a_id, b_id)})
        await step("availability_offline", lambda: c.get(AVAILABILITY).json())
        await step("operator_list", lambda: operator_client.get("/internal/sessions", {"status": "active"}).json())
        await step("mitra_list", lambda: m.get("/api/mitra/sessions", {"status": "active"}).json())
        await step("a_says", lambda: send(a, a_id, "a-1", "Kak, aku masih di sini"))
        await step("m_answers", lambda: send(m, a_id, "m-1", "Iya Ayu, aku masih dengerin"))
        await step("b_says", lambda: send(b, b_id, "b-1", "Halo kak"))
        await step("m_reads_a", lambda: m.post(f"/api/chat/{a_id}/messages/read", {"up_to": got["a_says"][0].json()["id"]}, format="json"))
        await step("c_returns", lambda: c.post(
            "/api/client/chat/returning", {"payment_session_id": str(c_payment.id), "mitra_id": str(mitra.id)}, format="json"
        ))
        await off_loop(lambda: overdue("ends_at"))
        await step("ends", deadlines.due_deadlines_fire)
        await step("a_goodbye", lambda: send(a, a_id, "a-bye", "Makasih kak"))
        await step("m_goodbye", lambda: send(m, a_id, "m-bye", "Sama-sama, jaga diri ya"))
        await off_loop(lambda: overdue("closes_at"))
        await step("completes", deadlines.due_deadlines_fire)
        await step("availability_after", lambda: c.get(AVAILABILITY).json())
        await step("online_again", lambda: (m.post("/api/mitra/status/online").json(), c.get(AVAILABILITY).json()))
        await step("offline_again", lambda: (m.post("/api/mitra/status/offline").json(), c.get(AVAILABILITY).json()))
        await close_sockets(sockets)
        return got

    # --- when --------------------------------------------------------------------------------
    got = asyncio.run(scenario())

    # --- then --------------------------------------------------------------------------------
    def message(step: str) -> dict:
        response = got[step][0]
        assert response.status_code == 201, (step, response.json())
        return {"type": "message", "message": response.json()}

    nothing = [[], [], [], []]  # A, B, C, M

    # going offline: 200, tells nobody anything, ends nothing; availability is no at once
    offline, events = got["offline"]
    assert (offline.status_code, offline.json()) == (200, {"status": "offline"})
    assert events == nothing
    assert got["after_offline"] == (running_before, nothing)
    assert [status for status, _, ended_by in running_before.values()] == ["active", "active"]
    assert [ended_by for _, _, ended_by in running_before.values()] == ["", ""]
    assert got["availability_offline"] == ({"available": False}, nothing)

    # operators still see both sessions active (with the mitra offline); so does the mitra
    operator_list, _ = got["operator_list"]
    listed = {s["id"]: (s["status"], s["mitra"], s["mitra_status"], s["ended_by"]) for s in operator_list["results"]}
    sekar = {"id": str(mitra.id), "display_name": "Bestie Sekar"}
    assert listed == {a_id: ("active", sekar, "offline", None), b_id: ("active", sekar, "offline", None)}
    assert sorted(s["id"] for s in got["mitra_list"][0]["results"]) == sorted([a_id, b_id])
    mitra_rest.append(got["mitra_list"][0])

    # messages keep flowing both ways, each only to its own session's people
    a_says, m_answers, b_says = message("a_says"), message("m_answers"), message("b_says")
    assert got["a_says"][1] == [[a_says], [], [], [a_says]]
    assert got["m_answers"][1] == [[m_answers], [], [], [m_answers]]
    assert got["b_says"][1] == [[], [b_says], [], [b_says]]
    m_reads_a, events = got["m_reads_a"]
    assert m_reads_a.json() == {"kind": "read", "up_to": a_says["message"]["id"], "updated": 1}
    assert events == [[{"type": "receipt", "chat_session_id": a_id, "kind": "read", "up_to": a_says["message"]["id"]}], [], [], []]
    mitra_rest.append(m_reads_a.json())

    # "Curhat lagi" to the offline mitra: refused as offline (not at capacity), recorded, paid money kept
    c_returns, events = got["c_returns"]
    assert (c_returns.status_code, c_returns.json()) == (
        409, {"code": "targeted_unavailable", "detail": "Bestie sedang tidak online", "cause": "targeted_mitra_offline"}
    )
    assert events == nothing
    assert list(PairingFailure.objects.values_list("customer_id", "targeted_mitra_id", "cause_tag", "amount")) == [
        (customers["C"].id, mitra.id, "targeted_mitra_offline", 90_000)
    ]
    assert PaymentSession.objects.get(id=c_payment.id).status == "confirmed"

    # the sessions end by their timer: closing for both sides, one goodbye each, then completed
    fired, events = got["ends"]
    assert fired == 2
    closing = {s: ChatSession.objects.get(id=s).closing_started_at for s in (a_id, b_id)}
    assert all(closing.values())
    [[a_closing], [b_closing], c_events, m_events] = events
    assert (a_closing["type"], a_closing["chat_session_id"], b_closing["type"], b_closing["chat_session_id"]) == (
        "session_closing", a_id, "session_closing", b_id
    )
    assert c_events == [] and sorted(m_events, key=lambda e: e["chat_session_id"]) == sorted([a_closing, b_closing], key=lambda e: e["chat_session_id"])
    a_bye, m_bye = message("a_goodbye"), message("m_goodbye")
    assert got["a_goodbye"][1] == [[a_bye], [], [], [a_bye]]
    assert got["m_goodbye"][1] == [[m_bye], [], [], [m_bye]]
    fired, events = got["completes"]
    assert fired == 2
    completed = {s: {"type": "session_completed", "chat_session_id": s, "ended_by": "timer"} for s in (a_id, b_id)}
    [a_events, b_events, c_events, m_events] = events
    assert (a_events, b_events, c_events) == ([completed[a_id]], [completed[b_id]], [])
    assert sorted(m_events, key=lambda e: e["chat_session_id"]) == sorted(completed.values(), key=lambda e: e["chat_session_id"])
    for session_id in (a_id, b_id):
        session = ChatSession.objects.get(id=session_id)
        assert (session.status, session.ended_by, session.ended_by_user_id) == ("completed", "timer", None)
    assert [msg["client_message_id"] for msg in a.get(f"/api/chat/{a_id}/messages").json()["results"]] == ["a-1", "m-1", "a-bye", "m-bye"]

    # availability: no while offline even with both slots free; yes / no at once on each toggle
    assert got["availability_after"] == ({"available": False}, nothing)
    assert got["online_again"] == (({"status": "online"}, {"available": True}), nothing)
    assert got["offline_again"] == (({"status": "offline"}, {"available": False}), nothing)

    # anonymity: nothing the mitra received names any customer but by call name
    mitra_events = [events[3] for _, events in got.values()]
    mitra_pushes = list(PushOutbox.objects.filter(user=mitra).values("title", "body", "data"))
    assert PushOutbox.objects.filter(id__gt=last_push, user=mitra).count() == 2  # "Sesi akan berakhir" for each session
    text = as_text([mitra_events, mitra_rest, mitra_pushes])
    for key, (_, phone, email) in CUSTOMERS.items():
        for secret in (phone, "+62" + phone[1:], "62" + phone[1:], email, str(customers[key].id)):
            assert secret not in text, f"{secret!r} reached the mitra"
