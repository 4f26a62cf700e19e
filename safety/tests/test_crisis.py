"""Crisis signals (SPEC §12): matching, one alert per session and phrase, what each side
and the operators get, the message itself untouched, and operators' steps on alerts."""

from __future__ import annotations

import asyncio

import pytest

from chat.models import Message
from chat.services import screening_done
from chat.tests.conftest import post_message
from conftest import customer_secrets, eventually
from config.asgi import application
from live_settings.registry import DEFAULT_CRISIS_PHRASES, DEFAULT_CRISIS_RESOURCES, DEFAULT_SAFETY_PROTOCOL_TEXT
from pairing.tests.live import (
    CLIENT_WS,
    MITRA_WS,
    as_text,
    close_sockets,
    off_loop,
    open_socket,
    race,
    received_by_all,
    run_like_a_web_process,
)
from realtime.models import PushOutbox
from safety import crisis
from safety.crisis import SAFETY_RESOURCES_TEXT
from safety.models import SafetyAlert, SafetyAlertAction
from safety.phrases import PhraseMatcher, normalise
from safety.selectors import crisis_phrases_in
from safety.tests.conftest import CC_ORIGIN, operator_headers, operator_socket

RESOURCES_EVENT_KEYS = {"type", "chat_session_id", "message", "resources"}


# --- matching -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, found",
    [
        ("aku mau bunuh diri", ["bunuh diri"]),
        ("Aku mau BUNUH DIRI.", ["bunuh diri"]),
        ("aku mau bunuh    diri", ["bunuh diri"]),
        ("aku mau bunuhhh diriii", ["bunuh diri"]),
        ("aku mau bunuh d1ri", ["bunuh diri"]),
        ("aku mau bvnuh diri", []),  # not a swap people make: no guessing beyond the list
        ("pengen m4ti aja", ["pengen mati"]),
        ("rasanya ingin mati!!!", ["ingin mati"]),
        ("aku ingin mengakhiri hidup", ["ingin mengakhiri hidup"]),
        ("I want to k1ll myself", ["kill myself"]),
        ("thinking about self-harm", ["self harm"]),
        ("SUICIDE", ["suicide"]),
        ("bunuh diri... atau mungkin self harm", ["bunuh diri", "self harm"]),
        # whole words only: everyday sentences are not alerts
        ("ingin matikan lampu kamar", []),
        ("film suicidesquad bagus", []),
        ("aku mau makan", []),
        ("", []),
    ],
)
def test_a_text_is_matched_after_normalising_case_spaces_repeats_and_swaps(text, found):
    assert PhraseMatcher(tuple(DEFAULT_CRISIS_PHRASES)).find(text) == found


def test_the_normal_form_folds_case_accents_swaps_separators_and_repeats():
    assert normalise("  Bünuh__D1RI!!  ") == "bunuh diri"
    assert normalise("s3lf--h4rm") == "self harm"
    assert normalise("kiiillll   myseeelf") == "kil myself"


def test_the_starter_settings_are_spec_12s():
    for phrase in ("bunuh diri", "ingin mati", "mengakhiri hidup", "menyakiti diri", "self harm", "kill myself", "suicide"):
        assert phrase in DEFAULT_CRISIS_PHRASES
    contacts = as_text(DEFAULT_CRISIS_RESOURCES)
    for needed in ("119 ext 8", "healing119.id", "112"):
        assert needed in contacts
    assert all(set(r) == {"name", "contact", "url", "hours"} for r in DEFAULT_CRISIS_RESOURCES)
    assert DEFAULT_SAFETY_PROTOCOL_TEXT


@pytest.mark.django_db
def test_the_phrase_list_is_live(settings_now):
    settings_now(crisis_phrases=["capek banget"])

    assert crisis_phrases_in("aku capek bangeeet") == ["capek banget"]
    assert crisis_phrases_in("bunuh diri") == []


# --- raising an alert -------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_crisis_message_reaches_the_mitra_as_always_and_raises_one_alert_with_resources_protocol_and_operator_event(
    ayu, online_mitra, session_between, make_operator, celery_process
):
    """End to end: the customer's message through the API, a real worker raising the alert."""
    celery_process("worker")
    mitra = online_mitra(display_name="Bestie Sekar")
    session_id, customer, mitra_client = session_between(mitra=mitra, customer=ayu)
    headers = operator_headers(make_operator())

    async def scenario():
        customer_socket = await open_socket(CLIENT_WS, customer)
        mitra_socket = await open_socket(MITRA_WS, mitra_client)
        ops = operator_socket(headers)
        assert (await ops.connect()) == (True, None)
        sent = await off_loop(
            lambda: customer.post(f"/api/chat/{session_id}/messages", {"client_message_id": "c1", "text": "aku pengen bunuh d1ri"}, format="json")
        )
        # the worker raises the alert after the commit: wait for the operators' event
        alert_event = await ops.receive_json_from(timeout=30)
        events = await received_by_all([customer_socket, mitra_socket])
        await close_sockets([customer_socket, mitra_socket])
        await ops.disconnect()
        return sent, alert_event, events

    sent, alert_event, (customer_events, mitra_events) = asyncio.run(scenario())

    # the message itself: as any other (201, delivered to the mitra unchanged)
    assert sent.status_code == 201
    assert [e for e in mitra_events if e["type"] == "message"] == [{"type": "message", "message": sent.json()}]

    # one alert for the session and phrase, with the first matching message
    alert = SafetyAlert.objects.get()
    assert (str(alert.chat_session_id), alert.phrase, alert.status) == (session_id, "bunuh diri", "open")
    assert alert.message_id == Message.objects.get(client_message_id="c1").id
    assert alert_event == {
        "type": "safety_alert",
        "alert": {
            "id": str(alert.id), "chat_session_id": session_id, "phrase": "bunuh diri", "status": "open",
            "created_at": alert_event["alert"]["created_at"], "updated_at": alert_event["alert"]["updated_at"], "actions": [],
        },
    }

    # resources to the customer (websocket and push), the protocol to the mitra
    resources = [e for e in customer_events if e["type"] == "safety_resources"]
    assert resources == [
        {"type": "safety_resources", "chat_session_id": session_id, "message": SAFETY_RESOURCES_TEXT, "resources": DEFAULT_CRISIS_RESOURCES}
    ]
    protocol = [e for e in mitra_events if e["type"] == "safety_protocol"]
    assert protocol == [{"type": "safety_protocol", "chat_session_id": session_id, "guidance": DEFAULT_SAFETY_PROTOCOL_TEXT}]
    # the worker records the push just after it sent the events (both after its commit)
    eventually(lambda: PushOutbox.objects.filter(title="Kamu tidak sendirian").exists(), "the push")
    assert PushOutbox.objects.filter(user=ayu, title="Kamu tidak sendirian").count() == 1
    assert not PushOutbox.objects.filter(user=mitra, title="Kamu tidak sendirian").exists()

    # anonymity: nothing the mitra got names the customer
    for secret in customer_secrets(ayu):
        assert secret not in as_text(mitra_events)


@pytest.mark.django_db(transaction=True)
def test_the_send_fast_path_screens_too_and_the_answer_is_the_fast_paths(ayu, session_between, celery_process):
    celery_process("worker")
    session_id, customer, _ = session_between(customer=ayu)
    token = customer.tokens["access"]

    async def scenario():
        return await post_message(application, token, session_id, {"client_message_id": "f1", "text": "I want to kill myself"})

    status, body, _ = run_like_a_web_process(scenario)

    assert status == 201 and body["text"] == "I want to kill myself"
    alert = _wait_for_alert(session_id)
    assert alert.phrase == "kill myself"


def _wait_for_alert(session_id, timeout: float = 30) -> SafetyAlert:
    return eventually(lambda: SafetyAlert.objects.filter(chat_session_id=session_id).first(), "the alert", timeout)


@pytest.mark.django_db
def test_a_mitras_message_is_not_screened(session_between, django_capture_on_commit_callbacks, monkeypatch):
    session_id, _, mitra_client = session_between()
    screened = []
    monkeypatch.setattr("chat.services.customer_message_screen", lambda **kw: screened.append(kw))

    with django_capture_on_commit_callbacks(execute=True):
        response = mitra_client.post(f"/api/chat/{session_id}/messages", {"client_message_id": "m1", "text": "bunuh diri?"}, format="json")
    screening_done()

    assert response.status_code == 201
    assert screened == []


@pytest.mark.django_db
def test_a_customer_message_is_screened_only_after_its_commit(session_between, django_capture_on_commit_callbacks, monkeypatch):
    session_id, customer, _ = session_between()
    screened = []
    monkeypatch.setattr("chat.services.customer_message_screen", lambda **kw: screened.append(kw))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = customer.post(f"/api/chat/{session_id}/messages", {"client_message_id": "c1", "text": "halo"}, format="json")
    assert response.status_code == 201 and screened == []  # nothing before the commit

    for callback in callbacks:
        callback()
    screening_done()
    message = Message.objects.get()
    assert screened == [{"chat_session_id": message.chat_session_id, "message_id": message.id, "text": "halo"}]


@pytest.mark.django_db(transaction=True)
def test_racing_raises_of_one_phrase_give_one_alert_and_one_round_of_events(session_between):
    session_id, _, _ = session_between()
    message_ids = [None] * 8

    results = race(
        [lambda m=m: crisis.crisis_alerts_raise(chat_session_id=session_id, message_id=m, phrases=["bunuh diri", "ingin mati"])
         for m in message_ids]
    )

    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sorted(len(r) for r in results) == [0] * 7 + [2]
    assert sorted(SafetyAlert.objects.filter(chat_session_id=session_id).values_list("phrase", flat=True)) == ["bunuh diri", "ingin mati"]


@pytest.mark.django_db
def test_a_raise_for_a_phrase_already_alerted_adds_only_the_new_phrase(session_between, django_capture_on_commit_callbacks):
    session_id, _, _ = session_between()
    crisis.crisis_alerts_raise(chat_session_id=session_id, message_id=None, phrases=["bunuh diri"])

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        again = crisis.crisis_alerts_raise(chat_session_id=session_id, message_id=None, phrases=["bunuh diri"])
    assert again == [] and callbacks == []  # nothing new: no events at all

    new = crisis.crisis_alerts_raise(chat_session_id=session_id, message_id=None, phrases=["bunuh diri", "self harm"])
    assert [a.phrase for a in new] == ["self harm"]
    assert SafetyAlert.objects.count() == 2


# --- operators' steps -------------------------------------------------------------------------------
@pytest.fixture
def alert(session_between):
    session_id, _, _ = session_between()
    return crisis.crisis_alerts_raise(chat_session_id=session_id, message_id=None, phrases=["bunuh diri"])[0]


@pytest.mark.django_db
def test_operators_list_alerts_open_first_paginated(operator_client, session_between, alert):
    resolved_session, _, _ = session_between()
    older = crisis.crisis_alerts_raise(chat_session_id=resolved_session, message_id=None, phrases=["suicide"])[0]
    crisis.safety_alert_action(alert_id=older.id, action="resolved", actor=operator_client.user, note="safe now")
    newest = crisis.crisis_alerts_raise(chat_session_id=resolved_session, message_id=None, phrases=["self harm"])[0]

    everything = operator_client.get("/internal/safety-alerts").json()
    only_open = operator_client.get("/internal/safety-alerts?status=open").json()

    assert [a["id"] for a in everything["results"]] == [str(newest.id), str(alert.id), str(older.id)]
    assert everything["count"] == 3 and everything["next"] is None
    assert [a["id"] for a in only_open["results"]] == [str(newest.id), str(alert.id)]
    assert everything["results"][2]["actions"] == [
        {"action": "resolved", "note": "safe now", "actor": str(operator_client.user), "created_at": everything["results"][2]["actions"][0]["created_at"]}
    ]
    assert operator_client.get("/internal/safety-alerts?status=nope").status_code == 400


@pytest.mark.django_db
def test_the_alert_list_costs_the_same_queries_for_2_or_60_alerts(operator_client, session_between, django_assert_num_queries):
    session_id, _, _ = session_between()
    phrases = [f"frasa {i}" for i in range(60)]
    crisis.crisis_alerts_raise(chat_session_id=session_id, message_id=None, phrases=phrases[:2])
    with django_assert_num_queries(4):  # operator, count, page, the page's actions
        assert len(operator_client.get("/internal/safety-alerts").json()["results"]) == 2
    crisis.crisis_alerts_raise(chat_session_id=session_id, message_id=None, phrases=phrases)
    with django_assert_num_queries(4):
        assert len(operator_client.get("/internal/safety-alerts").json()["results"]) == 50


@pytest.mark.django_db
def test_each_step_is_kept_with_its_note_and_a_resolved_alert_is_final(operator_client, alert):
    url = f"/internal/safety-alerts/{alert.id}/action"

    steps = [
        operator_client.post(url, {"action": "acknowledged"}, format="json"),
        operator_client.post(url, {"action": "contacted", "note": "called the mitra"}, format="json"),
        operator_client.post(url, {"action": "escalated", "note": "handed to the on-call psychologist"}, format="json"),
        operator_client.post(url, {"action": "resolved", "note": "customer is safe"}, format="json"),
    ]
    after = operator_client.post(url, {"action": "contacted"}, format="json")

    assert [r.status_code for r in steps] == [200] * 4
    assert [r.json()["status"] for r in steps] == ["acknowledged", "contacted", "escalated", "resolved"]
    assert [(a["action"], a["note"]) for a in steps[-1].json()["actions"]] == [
        ("acknowledged", ""), ("contacted", "called the mitra"), ("escalated", "handed to the on-call psychologist"),
        ("resolved", "customer is safe"),
    ]
    assert (after.status_code, after.json()["code"]) == (409, "alert_resolved")
    assert SafetyAlertAction.objects.filter(alert=alert).count() == 4


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body", [{}, {"action": "open"}, {"action": "dismissed"}, {"action": "resolved", "note": "x" * 2001}, {"action": ["resolved"]}]
)
def test_a_bad_step_is_400_and_changes_nothing(operator_client, alert, body):
    response = operator_client.post(f"/internal/safety-alerts/{alert.id}/action", body, format="json")

    assert (response.status_code, response.json()["code"]) == (400, "invalid_input")
    alert.refresh_from_db()
    assert alert.status == "open" and not SafetyAlertAction.objects.exists()


@pytest.mark.django_db
def test_only_operators_see_or_act_on_alerts(customer_client, mitra_client, anon_client, alert):
    for client, status in ((customer_client, 403), (mitra_client, 403), (anon_client, 401)):
        assert client.get("/internal/safety-alerts").status_code == status
        assert client.post(f"/internal/safety-alerts/{alert.id}/action", {"action": "resolved"}, format="json").status_code == status


@pytest.mark.django_db
def test_an_unknown_alert_is_404(operator_client):
    response = operator_client.post("/internal/safety-alerts/00000000-0000-0000-0000-000000000000/action", {"action": "resolved"}, format="json")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


@pytest.mark.django_db(transaction=True)
def test_a_step_reaches_every_open_control_center_page(make_operator, alert):
    operator, other = make_operator(), make_operator()
    headers = [operator_headers(operator), operator_headers(other)]

    async def scenario():
        pages = [operator_socket(h) for h in headers]
        for page in pages:
            assert (await page.connect()) == (True, None)
        await off_loop(lambda: crisis.safety_alert_action(alert_id=alert.id, action="acknowledged", actor=operator))
        got = [await page.receive_json_from(timeout=30) for page in pages]
        for page in pages:
            await page.disconnect()
        return got

    got = asyncio.run(scenario())

    assert [g["alert"]["status"] for g in got] == ["acknowledged", "acknowledged"]
    assert got[0]["alert"]["actions"][0]["action"] == "acknowledged"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("who", ["anonymous", "customer", "foreign_origin"])
def test_the_operator_socket_is_for_operators_on_the_control_centers_origin(who, make_customer, make_operator):
    origin = [(b"origin", CC_ORIGIN)]
    headers = {
        "anonymous": origin,
        "customer": operator_headers(make_customer()),  # signed in, but not an operator
        "foreign_origin": [(b"origin", b"https://evil.example")] + operator_headers(make_operator())[1:],
    }[who]

    async def scenario():
        socket = operator_socket(headers)
        connected = await socket.connect()
        output = await socket.receive_output(timeout=10) if connected[0] else None
        return connected, output

    connected, output = asyncio.run(scenario())

    if who == "foreign_origin":
        assert connected[0] is False  # refused at the handshake
    else:
        assert connected == (True, None)
        assert output == {"type": "websocket.close", "code": 4401 if who == "anonymous" else 4403}
