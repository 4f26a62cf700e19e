"""The Safety page and the Dashboard's safety counts (SPEC §12), with Django's test
client: open alerts first, the session's recent messages for context, operator steps
through ``safety.crisis.safety_alert_action`` with their audit trail, refusals as page
messages, the live JSON the page follows, and a query count that does not grow with
the rows. (Chromium drives the same page, live updates included: test_browser.py.)"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest

from control_center.tests.page_reading import fragment_text, page_html, page_messages, table_cells
from safety.crisis import safety_alert_action
from safety.models import SafetyAlert, SafetyAlertAction

pytestmark = pytest.mark.django_db

UTC = dt_timezone.utc
SAFETY = "/admin/safety/"
SAFETY_JSON = "/admin/safety/live.json"
SAFETY_COUNTS = "/admin/safety/counts.json"
BASE = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _action_url(alert) -> str:
    return f"/admin/safety/{alert.id}/action"


def _row_ids(response) -> list[str]:
    return re.findall(r'<tr data-alert="([0-9a-f-]+)"', page_html(response))


def _row(response, alert) -> str:
    found = re.search(rf'<tr data-alert="{alert.id}"[^>]*>(.*?)</tr>', page_html(response), re.S)
    assert found is not None, f"no row for {alert.id}"
    return found.group(1)


def _cell(response, alert, field: str) -> str:
    return re.search(rf'<td data-field="{field}">(.*?)</td>', _row(response, alert), re.S).group(1)


def _trail(response, alert) -> list[str]:
    return [fragment_text(item) for item in re.findall(r"<li>(.*?)</li>", _cell(response, alert, "trail"), re.S)]


def _context(response, alert) -> list[str]:
    return [fragment_text(item) for item in re.findall(r"<li[^>]*>(.*?)</li>", _cell(response, alert, "context"), re.S)]


def _state(alert) -> tuple:
    """What an action could change: the alert's row and its audit trail."""
    return (
        SafetyAlert.objects.filter(pk=alert.pk).values_list("status", "updated_at").get(),
        list(SafetyAlertAction.objects.filter(alert=alert).values_list("id", "action", "note")),
    )


@pytest.fixture
def crisis_chat(chat):
    """Ayu's session with Bestie Sekar, where Ayu's second message names a crisis."""
    return chat(
        lines=[
            ("customer", "Halo kak, aku lagi capek banget"),
            ("mitra", "Halo Ayu, aku di sini. Cerita aja pelan-pelan ya"),
            ("customer", "Kadang aku ingin mati aja rasanya"),
        ]
    )


# =========================================================================================
# The page
# =========================================================================================
def test_the_page_lists_an_alert_with_its_session_context_and_a_step_form(cc, crisis_chat, raise_alert):
    # given
    [alert] = raise_alert(crisis_chat, ["ingin mati"], created_at=BASE)

    # when
    response = cc.get(SAFETY)

    # then
    assert response.status_code == 200
    header, rows = table_cells(response, "safety-alerts")
    assert header == ["When", "Phrase", "Status", "Session", "Recent messages", "Audit trail", "Action"]
    assert len(rows) == 1
    when, phrase, status, session = rows[0][:4]
    assert (when, phrase, status) == ("2026-11-20 19:00", "ingin mati", "Open")  # Asia/Jakarta
    assert session == f"{str(crisis_chat.id)[:8]} (active) Customer Ayu Mitra Bestie Sekar"
    assert f'href="/admin/pairing/chatsession/{crisis_chat.id}/change/"' in _cell(response, alert, "session")
    assert cc.get(f"/admin/pairing/chatsession/{crisis_chat.id}/change/").status_code == 200  # the session, read-only
    # the session's messages, oldest first, the matching one marked
    assert _context(response, alert) == [
        "16:00 Customer: Halo kak, aku lagi capek banget",
        "16:01 Mitra: Halo Ayu, aku di sini. Cerita aja pelan-pelan ya",
        "16:02 Customer: Kadang aku ingin mati aja rasanya",
    ]
    assert re.search(r'<li class="cc-matched"[^>]*>.*?Kadang aku ingin mati', _cell(response, alert, "context"), re.S)
    assert "<details>" in _cell(response, alert, "context")
    assert _trail(response, alert) == []
    form = _cell(response, alert, "actions")
    assert f'action="{_action_url(alert)}"' in form
    assert re.findall(r'<option value="([a-z]*)"', form) == ["", "acknowledged", "contacted", "escalated", "resolved"]
    assert re.search(r'<input type="text" id="alert-note-[^"]+" name="note"', form)
    assert fragment_text(re.search(r'<strong id="open-alert-count">(.*?)</strong>', page_html(response)).group(1)) == "1"


def test_the_context_is_the_last_twenty_messages_oldest_first(cc, chat, raise_alert):
    session = chat(lines=[("customer" if i % 2 == 0 else "mitra", f"pesan {i}") for i in range(24)])
    [alert] = raise_alert(session, ["bunuh diri"])

    context = _context(cc.get(SAFETY), alert)

    assert [line.split(": ", 1)[1] for line in context] == [f"pesan {i}" for i in range(4, 24)]


def test_open_alerts_come_first_then_newest_first(cc, chat, make_customer, make_mitra, raise_alert, operator):
    # given: four alerts at different times, two of them actioned
    sessions = [chat(customer=make_customer(), mitra=make_mitra(), lines=[("customer", "tolong")]) for _ in range(4)]
    oldest_open = raise_alert(sessions[0], ["bunuh diri"], created_at=BASE)[0]
    newest_acknowledged = raise_alert(sessions[1], ["bunuh diri"], created_at=BASE + timedelta(hours=3))[0]
    newest_open = raise_alert(sessions[2], ["bunuh diri"], created_at=BASE + timedelta(hours=2))[0]
    resolved = raise_alert(sessions[3], ["bunuh diri"], created_at=BASE + timedelta(hours=1))[0]
    safety_alert_action(alert_id=newest_acknowledged.id, action="acknowledged", actor=operator)
    safety_alert_action(alert_id=resolved.id, action="resolved", actor=operator)

    # when / then
    assert _row_ids(cc.get(SAFETY)) == [str(a.id) for a in (newest_open, oldest_open, newest_acknowledged, resolved)]
    assert _row_ids(cc.get(SAFETY, {"status": "open"})) == [str(newest_open.id), str(oldest_open.id)]
    assert _row_ids(cc.get(SAFETY, {"status": "resolved"})) == [str(resolved.id)]
    page = cc.get(SAFETY, {"status": "acknowledged"})
    assert _row_ids(page) == [str(newest_acknowledged.id)]
    assert re.search(r'<option value="acknowledged" selected>', page_html(page))


def test_an_unknown_status_filter_is_400_with_the_error_at_the_filter(cc, crisis_chat, raise_alert):
    raise_alert(crisis_chat, ["ingin mati"])

    response = cc.get(SAFETY, {"status": "panicking"})

    assert response.status_code == 400
    assert re.search(r"<div class=\"cc-errors\" role=\"alert\">Unknown status &#x27;panicking&#x27;.</div>", page_html(response))
    assert _row_ids(response) == []
    assert "No alerts." in page_html(response)


def test_sixty_alerts_are_fifty_a_page(cc, chat, raise_alert):
    session = chat(lines=[("customer", "aku capek")])
    alerts = [raise_alert(session, [f"frasa {i}"], created_at=BASE + timedelta(minutes=i))[0] for i in range(60)]
    newest_first = [str(a.id) for a in reversed(alerts)]

    first, second = cc.get(SAFETY), cc.get(SAFETY, {"page": 2})

    assert _row_ids(first) == newest_first[:50]
    assert _row_ids(second) == newest_first[50:]
    assert 'href="?page=2" rel="next"' in page_html(first)
    assert fragment_text(re.search(r'<span id="result-count">(.*?)</span>', page_html(first)).group(1)) == "60 alerts"


def _alerts_on_many_sessions(chat, make_customer, make_mitra, raise_alert, operator, count: int) -> None:
    """``count`` alerts over ``count // 2 + 1`` sessions with messages; some with steps."""
    made = 0
    while made < count:
        session = chat(customer=make_customer(), mitra=make_mitra(), lines=[("customer", "aku capek"), ("mitra", "aku dengar")])
        for phrase in ("bunuh diri", "ingin mati")[: count - made]:
            [alert] = raise_alert(session, [phrase], created_at=BASE + timedelta(minutes=made))
            if made % 3 == 0:
                safety_alert_action(alert_id=alert.id, action="acknowledged", actor=operator, note="on it")
                safety_alert_action(alert_id=alert.id, action="contacted", actor=operator, note="called the mitra")
            made += 1


@pytest.mark.parametrize("rows", [5, 60])
def test_the_page_costs_the_same_number_of_queries_for_5_or_60_alerts(
    rows, cc, chat, make_customer, make_mitra, raise_alert, operator, django_assert_num_queries
):
    _alerts_on_many_sessions(chat, make_customer, make_mitra, raise_alert, operator, rows)

    # session, user, count, the page (sessions and both people joined in), the steps
    # (their actors joined in), every session's recent messages, the open count, and the
    # admin base template's two permission reads
    with django_assert_num_queries(9):
        response = cc.get(SAFETY)
    assert len(_row_ids(response)) == min(rows, 50)


@pytest.mark.parametrize("rows", [5, 60])
def test_the_live_json_costs_the_same_number_of_queries_for_5_or_60_alerts(
    rows, cc, chat, make_customer, make_mitra, raise_alert, operator, django_assert_num_queries
):
    _alerts_on_many_sessions(chat, make_customer, make_mitra, raise_alert, operator, rows)

    with django_assert_num_queries(7):
        response = cc.get(SAFETY_JSON)
    assert len(response.json()["rows"]) == min(rows, 50)


# =========================================================================================
# Steps on an alert
# =========================================================================================
def test_a_step_with_a_note_is_saved_and_shown_in_the_audit_trail(cc, operator, crisis_chat, raise_alert):
    # given
    [alert] = raise_alert(crisis_chat, ["ingin mati"])

    # when
    response = cc.post(
        _action_url(alert), {"action": "contacted", "note": "  Called the mitra; customer is safe  ", "return_to": f"{SAFETY}?status=open"},
        follow=True,
    )

    # then: back on the page it came from, the step kept with who and what
    assert response.redirect_chain == [(f"{SAFETY}?status=open", 302)]
    assert page_messages(response) == [("success", "Alert “ingin mati”: contacted, kept in its audit trail.")]
    assert SafetyAlert.objects.get(pk=alert.pk).status == "contacted"
    assert list(SafetyAlertAction.objects.filter(alert=alert).values_list("action", "note", "actor_id")) == [
        ("contacted", "Called the mitra; customer is safe", operator.id)
    ]
    page = cc.get(SAFETY)
    [trail] = _trail(page, alert)
    assert re.fullmatch(rf"Contacted: Called the mitra; customer is safe — {re.escape(operator.email)}, \d{{4}}-\d\d-\d\d \d\d:\d\d", trail)
    assert fragment_text(_cell(page, alert, "status")) == "Contacted"


def test_steps_repeat_until_resolved_then_the_row_offers_nothing(cc, operator, crisis_chat, raise_alert):
    [alert] = raise_alert(crisis_chat, ["ingin mati"])

    for action, note in [("acknowledged", ""), ("contacted", "first call"), ("contacted", "second call"), ("resolved", "safe")]:
        cc.post(_action_url(alert), {"action": action, "note": note})

    page = cc.get(SAFETY)
    assert [line.split(" — ")[0] for line in _trail(page, alert)] == [
        "Acknowledged", "Contacted: first call", "Contacted: second call", "Resolved: safe",
    ]
    assert fragment_text(_cell(page, alert, "actions")) == "—"


def test_a_step_on_a_resolved_alert_is_refused_and_changes_nothing(cc, operator, crisis_chat, raise_alert):
    # given
    [alert] = raise_alert(crisis_chat, ["ingin mati"])
    safety_alert_action(alert_id=alert.id, action="resolved", actor=operator, note="done")
    before = _state(alert)

    # when
    response = cc.post(_action_url(alert), {"action": "escalated", "note": "too late"}, follow=True)

    # then
    assert response.redirect_chain == [(SAFETY, 302)]
    assert page_messages(response) == [("error", "Not saved: This alert is already resolved.")]
    assert _state(alert) == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": ""}, "Not saved: action: Must be one of acknowledged, contacted, escalated, resolved."),
        ({"action": "open"}, "Not saved: action: Must be one of acknowledged, contacted, escalated, resolved."),
        ({"action": "contacted", "note": "x" * 2001}, "Not saved: note: At most 2000 characters."),
    ],
    ids=["no_action", "not_a_step", "note_too_long"],
)
def test_a_bad_step_is_refused_and_changes_nothing(data, message, cc, crisis_chat, raise_alert):
    [alert] = raise_alert(crisis_chat, ["ingin mati"])
    before = _state(alert)

    response = cc.post(_action_url(alert), data, follow=True)

    assert page_messages(response) == [("error", message)]
    assert _state(alert) == before


def test_a_step_on_an_unknown_alert_is_refused(cc):
    response = cc.post("/admin/safety/00000000-0000-0000-0000-000000000000/action", {"action": "acknowledged"}, follow=True)

    assert page_messages(response) == [("error", "Not saved: Safety alert not found.")]
    assert SafetyAlertAction.objects.count() == 0


def test_a_foreign_return_address_goes_back_to_the_safety_page(cc, crisis_chat, raise_alert):
    [alert] = raise_alert(crisis_chat, ["ingin mati"])

    response = cc.post(_action_url(alert), {"action": "acknowledged", "return_to": "https://evil.example/"})

    assert response["Location"] == SAFETY


# =========================================================================================
# Live JSON and the Dashboard
# =========================================================================================
def test_the_live_json_renders_each_row_as_the_page_does_and_versions_it(cc, operator, crisis_chat, raise_alert):
    # given
    [alert] = raise_alert(crisis_chat, ["ingin mati"])
    first = cc.get(SAFETY_JSON).json()

    # when: a step, then a new message in the session
    safety_alert_action(alert_id=alert.id, action="acknowledged", actor=operator, note="on it")
    after_step = cc.get(SAFETY_JSON).json()

    # then
    assert (first["open_alerts"], first["count"], first["result_count"]) == (1, 1, "1 alert")
    [row] = first["rows"]
    assert (row["id"], row["status"]) == (str(alert.id), "open")
    assert row["html"].startswith(f'<tr data-alert="{alert.id}" data-version="{row["version"]}">')
    assert "Kadang aku ingin mati aja rasanya" in row["html"]
    assert f'value="{SAFETY}"' in row["html"]  # its form returns to the page, not to the JSON
    [changed] = after_step["rows"]
    assert (after_step["open_alerts"], changed["status"]) == (0, "acknowledged")
    assert changed["version"] != row["version"]
    assert "on it" in changed["html"]


def test_the_live_json_follows_the_pages_filter(cc, chat, make_customer, make_mitra, raise_alert, operator):
    [open_alert] = raise_alert(chat(lines=[("customer", "a")]), ["bunuh diri"])
    [resolved] = raise_alert(chat(customer=make_customer(), mitra=make_mitra(), lines=[("customer", "b")]), ["bunuh diri"])
    safety_alert_action(alert_id=resolved.id, action="resolved", actor=operator)

    page = cc.get(SAFETY, {"status": "resolved"})
    live_url = re.search(r'data-live-url="([^"]+)"', page_html(page)).group(1)

    assert live_url == f"{SAFETY_JSON}?status=resolved"
    assert [row["id"] for row in cc.get(SAFETY_JSON, {"status": "resolved"}).json()["rows"]] == [str(resolved.id)]
    assert [row["id"] for row in cc.get(SAFETY_JSON, {"status": "open"}).json()["rows"]] == [str(open_alert.id)]
    assert cc.get(SAFETY_JSON, {"status": "nope"}).status_code == 400


def test_the_dashboard_counts_open_alerts_and_reports_and_links_to_them(cc, operator, chat, make_customer, make_mitra, raise_alert):
    from safety.services import report_create

    # given: two open alerts, one acknowledged; one open report
    session = chat(lines=[("customer", "aku ingin mati")])
    raise_alert(session, ["ingin mati", "bunuh diri"])
    [handled] = raise_alert(chat(customer=make_customer(), mitra=make_mitra(), lines=[("customer", "x")]), ["suicide"])
    safety_alert_action(alert_id=handled.id, action="acknowledged", actor=operator)
    report_create(user=session.customer, chat_session_id=session.id, reason="unsafe", text="")

    # when
    response = cc.get("/admin/")

    # then
    html = page_html(response)
    alerts_card = re.search(r'<div class="cc-card cc-attention" id="open-alerts-card">(.*?)</div>', html, re.S).group(1)
    reports_card = re.search(r'<div class="cc-card cc-attention" id="open-reports-card">(.*?)</div>', html, re.S).group(1)
    assert fragment_text(alerts_card) == "2 open safety alerts"
    assert 'href="/admin/safety/?status=open"' in alerts_card
    assert fragment_text(reports_card) == "1 open reports"
    assert 'href="/admin/reports/?status=open"' in reports_card
    assert 'data-counts-url="/admin/safety/counts.json"' in html
    assert cc.get(SAFETY_COUNTS).json() == {"open_alerts": 2, "open_reports": 1}


def test_live_pages_load_their_scripts_from_files(cc):
    """The CSP allows no inline script: every script of a live page is a static file."""
    for path in ("/admin/", SAFETY, "/admin/settings/"):
        html = page_html(cc.get(path))
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
    assert re.findall(r'<script src="/static/control_center/([a-z_]+\.js)"', page_html(cc.get(SAFETY))) == [
        "operator_live.js", "safety_page.js",
    ]


@pytest.mark.parametrize("path", [SAFETY, SAFETY_JSON, SAFETY_COUNTS])
def test_customers_and_mitras_never_see_the_safety_page(path, client, make_customer, make_mitra, crisis_chat, raise_alert):
    raise_alert(crisis_chat, ["ingin mati"])
    for user in (crisis_chat.customer, crisis_chat.mitra):
        client.force_login(user)
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
        assert b"ingin mati" not in response.content
