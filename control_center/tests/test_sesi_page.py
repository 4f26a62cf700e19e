"""The control center's Sesi page (SPEC §8): the sessions list (a session stays active when
its mitra goes offline), the operator's end-sessions action, and no editing or deleting."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.models import CHANGE, LogEntry

from control_center.tests.page_reading import changelist_rows as _result_rows
from control_center.tests.page_reading import page_html as _html
from control_center.tests.page_reading import page_messages as _messages
from control_center.tests.page_reading import SESI
from pairing import attempts
from pairing.models import ChatSession

pytestmark = pytest.mark.django_db


# ``active_session`` (Ayu and Bestie Sekar, matched): control_center/tests/conftest.py


@pytest.fixture
def waiting_session(make_customer, online_mitra, confirmed_payment):
    customer = make_customer(call_name="Budi")
    online_mitra(display_name="Bestie Wulan")
    payment = confirmed_payment(customer)
    attempt = attempts.chat_start(customer=customer, payment_id=payment.id, sensitive=False)
    assert attempt.status == "waiting"
    return attempt


def test_an_active_session_stays_listed_as_active_when_its_mitra_goes_offline(cc, active_session, waiting_session, api_client_for):
    # given: the mitra goes offline through the app
    mitra = active_session.mitra
    response = api_client_for(mitra).post("/api/mitra/status/offline")
    assert (response.status_code, response.json()) == (200, {"status": "offline"})

    # when
    page = cc.get(SESI, {"status__exact": "active"})

    # then
    assert page.status_code == 200
    rows = _result_rows(page)
    assert list(rows) == [str(active_session.id)]
    row = rows[str(active_session.id)]
    assert (row["status"], row["customer_call_name"], row["mitra_name"], row["mitra_status"]) == ("Active", "Ayu", "Bestie Sekar", "offline")
    assert ChatSession.objects.get(pk=active_session.pk).status == "active"
    assert set(_result_rows(cc.get(SESI))) == {str(active_session.id), str(waiting_session.id)}


def test_the_end_sessions_action_ends_an_active_session_as_the_operator(cc, operator, active_session):
    # when
    response = cc.post(SESI, {"action": "end_sessions", "_selected_action": [str(active_session.id)]}, follow=True)

    # then
    assert response.redirect_chain == [(SESI, 302)]
    assert _messages(response) == [("success", "Ended 1 session(s).")]
    session = ChatSession.objects.get(pk=active_session.pk)
    assert (session.status, session.ended_by, session.ended_by_user_id) == ("completed", "operator", operator.id)
    assert session.ended_at is not None
    assert list(LogEntry.objects.values_list("user_id", "object_id", "action_flag", "change_message")) == [
        (operator.id, str(session.id), CHANGE, "Ended by operator")
    ]
    assert LogEntry.objects.get().content_type.model_class() is ChatSession


def test_the_end_sessions_action_leaves_a_waiting_session_alone(cc, waiting_session):
    before = ChatSession.objects.filter(pk=waiting_session.pk).values().get()

    response = cc.post(SESI, {"action": "end_sessions", "_selected_action": [str(waiting_session.id)]}, follow=True)

    assert _messages(response) == [("warning", "Ended 0 session(s).")]
    assert ChatSession.objects.filter(pk=waiting_session.pk).values().get() == before
    assert LogEntry.objects.count() == 0


def test_a_session_cannot_be_edited_or_deleted(cc, active_session):
    actions = re.search(r'<select name="action".*?</select>', _html(cc.get(SESI)), re.S).group(0)
    assert re.findall(r'<option value="([^"]*)"', actions) == ["", "end_sessions"]
    before = ChatSession.objects.filter(pk=active_session.pk).values().get()

    change = cc.post(f"{SESI}{active_session.id}/change/", {"status": "completed"})
    delete = cc.post(SESI, {"action": "delete_selected", "_selected_action": [str(active_session.id)]}, follow=True)

    assert change.status_code == 403
    assert _messages(delete) == [("warning", "No action selected.")]
    assert ChatSession.objects.filter(pk=active_session.pk).values().get() == before
    assert LogEntry.objects.count() == 0
