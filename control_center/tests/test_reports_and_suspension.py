"""The Reports page and account suspension in the control center (SPEC §12), with
Django's test client: decisions through ``safety.services.report_action`` (final, with
an audit trail), suspension and reactivation through ``account_suspend`` /
``account_reactivate`` (reason required, audited; active sessions go on unless "end
active sessions now" is ticked), and where operators find them (Users, Mitra)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest

from accounts.models import AccountSuspension, User
from control_center.tests.page_reading import changelist_rows, fragment_text, page_html, page_messages, table_cells
from pairing.models import ChatSession
from safety.models import Report, ReportAction
from safety.services import account_reactivate, account_suspend, report_action, report_create

pytestmark = pytest.mark.django_db

UTC = dt_timezone.utc
REPORTS = "/admin/reports/"
USERS = "/admin/accounts/customerprofile/"
MITRAS = "/admin/mitras/"
BASE = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _suspension_url(user) -> str:
    return f"/admin/users/{user.id}/suspension"


def _action_url(report) -> str:
    return f"/admin/reports/{report.id}/action"


def _report(session, *, by, reason="harassment", text="", created_at=None) -> Report:
    report, created = report_create(user=by, chat_session_id=session.id, reason=reason, text=text)
    assert created
    if created_at is not None:
        Report.objects.filter(pk=report.pk).update(created_at=created_at)
    return report


def _row_ids(response) -> list[str]:
    return re.findall(r'<tr data-report="([0-9a-f-]+)">', page_html(response))


def _cell(response, report, field: str) -> str:
    row = re.search(rf'<tr data-report="{report.id}">(.*?)</tr>', page_html(response), re.S).group(1)
    return re.search(rf'<td data-field="{field}">(.*?)</td>', row, re.S).group(1)


def _report_state(report) -> tuple:
    return (
        Report.objects.filter(pk=report.pk).values_list("status", "updated_at").get(),
        list(ReportAction.objects.filter(report=report).values_list("id", "action", "note")),
    )


def _account_state(user) -> tuple:
    return (
        User.objects.filter(pk=user.pk).values_list("suspended_at", flat=True).get(),
        list(AccountSuspension.objects.filter(user=user).values_list("id", "action", "reason")),
        list(ChatSession.objects.filter(mitra=user).values_list("id", "status")),
    )


# =========================================================================================
# Reports
# =========================================================================================
def test_the_page_lists_who_reported_whom_why_and_offers_a_decision(cc, chat, make_customer, make_mitra):
    # given: Ayu reports her mitra; a mitra reports his customer
    session = chat(customer=make_customer(call_name="Ayu", email="ayu@example.test"), mitra=make_mitra(display_name="Bestie Sekar", email="sekar@example.test"))
    by_customer = _report(session, by=session.customer, reason="harassment", text="Dia kasar dan\nmengejek aku", created_at=BASE)
    other = chat(customer=make_customer(call_name="Budi", email="budi@example.test"), mitra=make_mitra(display_name="Bestie Wulan", email="wulan@example.test"))
    by_mitra = _report(other, by=other.mitra, reason="spam", created_at=BASE - timedelta(hours=1))

    # when
    response = cc.get(REPORTS)

    # then
    assert response.status_code == 200
    header, rows = table_cells(response, "reports")
    assert header == ["When", "Reporter", "Reported", "Reason", "Text", "Status", "Audit trail", "Action"]
    assert [row[:7] for row in rows] == [
        [
            f"2026-11-20 19:00 session {str(session.id)[:8]}", "customer Ayu ayu@example.test",
            "Bestie Sekar sekar@example.test Suspension…", "Pelecehan harassment", "Dia kasar dan mengejek aku", "Open", "—",
        ],
        [
            f"2026-11-20 18:00 session {str(other.id)[:8]}", "mitra Bestie Wulan wulan@example.test",
            "Budi budi@example.test Suspension…", "Spam spam", "—", "Open", "—",
        ],
    ]
    assert f'href="{_suspension_url(session.mitra)}"' in _cell(response, by_customer, "reported")
    assert f'href="{_suspension_url(other.customer)}"' in _cell(response, by_mitra, "reported")
    form = _cell(response, by_customer, "actions")
    assert f'action="{_action_url(by_customer)}"' in form
    assert re.findall(r'<option value="([a-z]*)">(.*?)</option>', form) == [
        ("", "Decision…"), ("dismissed", "Dismiss"), ("warned", "Warn"), ("suspended", "Suspend account"),
    ]
    assert '<input type="checkbox" name="end_active_sessions">' in form
    # no session messages on this page: they are for the Safety page only
    assert "data-field=\"context\"" not in page_html(response)


def test_open_reports_come_first_and_the_filter_keeps_one_status(cc, chat, make_customer, make_mitra, operator):
    reports = []
    for hours in range(3):
        session = chat(customer=make_customer(), mitra=make_mitra())
        reports.append(_report(session, by=session.customer, created_at=BASE + timedelta(hours=hours)))
    report_action(report_id=reports[2].id, action="dismissed", actor=operator)

    assert _row_ids(cc.get(REPORTS)) == [str(reports[1].id), str(reports[0].id), str(reports[2].id)]
    assert _row_ids(cc.get(REPORTS, {"status": "open"})) == [str(reports[1].id), str(reports[0].id)]
    assert _row_ids(cc.get(REPORTS, {"status": "dismissed"})) == [str(reports[2].id)]
    assert cc.get(REPORTS, {"status": "closed"}).status_code == 400


@pytest.mark.parametrize("rows", [5, 60])
def test_the_page_costs_the_same_number_of_queries_for_5_or_60_reports(
    rows, cc, chat, make_customer, make_mitra, operator, django_assert_num_queries
):
    for index in range((rows + 1) // 2):
        session = chat(customer=make_customer(), mitra=make_mitra())
        first = _report(session, by=session.customer, created_at=BASE + timedelta(minutes=index))
        if 2 * index + 1 < rows:
            _report(session, by=session.mitra, created_at=BASE + timedelta(minutes=index))
        if index % 3 == 0:
            report_action(report_id=first.id, action="warned", actor=operator, note="talked to them")

    # session, user, count, the page (both people and their profiles joined in), the
    # decisions (their actors joined in), the open count, the admin template's two reads
    with django_assert_num_queries(8):
        response = cc.get(REPORTS)
    assert len(_row_ids(response)) == min(rows, 50)


def test_a_decision_with_a_note_is_saved_once_with_its_audit_trail(cc, operator, chat):
    # given
    session = chat()
    report = _report(session, by=session.customer)

    # when
    response = cc.post(_action_url(report), {"action": "warned", "note": "Warned by phone", "return_to": f"{REPORTS}?status=open"}, follow=True)

    # then
    assert response.redirect_chain == [(f"{REPORTS}?status=open", 302)]
    assert page_messages(response) == [("success", "Report marked as warned. The decision is in its audit trail.")]
    assert Report.objects.get(pk=report.pk).status == "warned"
    assert list(ReportAction.objects.values_list("report_id", "action", "note", "actor_id")) == [(report.id, "warned", "Warned by phone", operator.id)]
    page = cc.get(REPORTS)
    assert fragment_text(_cell(page, report, "status")) == "Warned"
    assert fragment_text(_cell(page, report, "trail")).startswith(f"Warned: Warned by phone — {operator.email}, ")
    assert fragment_text(_cell(page, report, "actions")) == "—"
    assert User.objects.get(pk=session.mitra.pk).suspended_at is None  # a warning suspends nothing


def test_a_second_decision_is_refused_and_changes_nothing(cc, operator, chat):
    session = chat()
    report = _report(session, by=session.customer)
    report_action(report_id=report.id, action="dismissed", actor=operator, note="nothing wrong")
    before, account = _report_state(report), _account_state(session.mitra)

    response = cc.post(_action_url(report), {"action": "suspended", "note": "changed my mind"}, follow=True)

    assert response.redirect_chain == [(REPORTS, 302)]
    assert page_messages(response) == [("error", "Not saved: This report is already dismissed.")]
    assert _report_state(report) == before
    assert _account_state(session.mitra) == account


def test_a_decision_without_a_choice_is_refused(cc, chat):
    session = chat()
    report = _report(session, by=session.customer)
    before = _report_state(report)

    response = cc.post(_action_url(report), {"action": "", "note": "hmm"}, follow=True)

    assert page_messages(response) == [("error", "Not saved: action: Must be one of dismissed, warned, suspended.")]
    assert _report_state(report) == before


def test_suspending_from_a_report_keeps_the_reported_accounts_session_running(cc, operator, chat):
    # given: the reported mitra is in an active session
    session = chat()
    report = _report(session, by=session.customer)

    # when
    response = cc.post(_action_url(report), {"action": "suspended", "note": "Harassed the customer"}, follow=True)

    # then: suspended, audited with the note as reason; the session goes on
    assert page_messages(response) == [("success", "Report decided: the reported account is suspended. The decision is in its audit trail.")]
    mitra = User.objects.get(pk=session.mitra.pk)
    assert mitra.is_suspended
    assert list(AccountSuspension.objects.values_list("user_id", "action", "reason", "end_active_sessions", "actor_id")) == [
        (mitra.id, "suspended", "Harassed the customer", False, operator.id)
    ]
    assert ChatSession.objects.get(pk=session.pk).status == "active"
    assert "suspended" in fragment_text(_cell(cc.get(REPORTS), report, "reported"))


def test_suspending_from_a_report_with_end_active_sessions_ends_them(cc, operator, chat):
    session = chat()
    report = _report(session, by=session.customer)

    cc.post(_action_url(report), {"action": "suspended", "note": "Unsafe", "end_active_sessions": "on"})

    ended = ChatSession.objects.get(pk=session.pk)
    assert (ended.status, ended.ended_by, ended.ended_by_user_id) == ("completed", "operator", operator.id)
    assert AccountSuspension.objects.get().end_active_sessions is True


def test_end_active_sessions_only_matters_for_a_suspension(cc, chat):
    session = chat()
    report = _report(session, by=session.customer)

    cc.post(_action_url(report), {"action": "warned", "end_active_sessions": "on"})

    assert ChatSession.objects.get(pk=session.pk).status == "active"
    assert AccountSuspension.objects.count() == 0


# =========================================================================================
# Suspension page
# =========================================================================================
def test_the_page_shows_the_account_and_a_suspend_form(cc, operator, make_customer):
    customer = make_customer(call_name="Ayu", email="ayu@example.test")

    response = cc.get(_suspension_url(customer))

    assert response.status_code == 200
    html = page_html(response)
    # the header still greets the operator, not the account shown
    assert re.search(r'<div id="user-tools">.*?<strong>(.*?)</strong>', html, re.S).group(1) == operator.email
    account = {field: fragment_text(value) for field, value in re.findall(r'<dd data-field="([a-z-]+)">(.*?)</dd>', html, re.S)}
    assert account == {"role": "customer", "name": "Ayu", "login": "ayu@example.test", "state": "active", "active-sessions": "0"}
    form = re.search(r'<form method="post" id="suspension-form".*?</form>', html, re.S).group(0)
    assert '<input type="hidden" name="action" value="suspend"' in form
    assert re.search(r'<textarea name="reason"[^>]*required', form)
    assert re.search(r'<input type="checkbox" name="end_active_sessions"', form)
    assert re.search(r'<input type="submit" value="Suspend…"', form)
    assert table_cells(response, "suspension-trail")[1] == [["Never suspended."]]


def test_suspending_asks_for_confirmation_first_and_changes_nothing_until_then(cc, chat):
    session = chat()
    mitra = session.mitra
    before = _account_state(mitra)

    response = cc.post(_suspension_url(mitra), {"action": "suspend", "reason": "Repeated harassment", "end_active_sessions": "on"})

    assert response.status_code == 200
    confirm = re.search(r'<form method="post" class="cc-confirm" id="suspension-confirm".*?</form>', page_html(response), re.S).group(0)
    assert "Suspend Bestie Sekar?" in fragment_text(confirm)
    assert "Active sessions ended now: 1" in fragment_text(confirm)
    assert "They go offline and leave every open offer." in fragment_text(confirm)
    assert re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', confirm)[1:] == [
        ("action", "suspend"), ("reason", "Repeated harassment"), ("end_active_sessions", "on"), ("confirm", "yes"),
    ]
    assert _account_state(mitra) == before


def test_a_confirmed_suspension_is_audited_and_active_sessions_go_on(cc, operator, chat):
    # given
    session = chat()
    mitra = session.mitra

    # when
    response = cc.post(_suspension_url(mitra), {"action": "suspend", "reason": "Repeated harassment", "confirm": "yes"}, follow=True)

    # then
    assert response.redirect_chain == [(_suspension_url(mitra), 302)]
    assert page_messages(response) == [("success", "Bestie Sekar is suspended. Their active sessions go on.")]
    assert User.objects.get(pk=mitra.pk).is_suspended
    assert list(AccountSuspension.objects.values_list("user_id", "action", "reason", "end_active_sessions", "actor_id")) == [
        (mitra.id, "suspended", "Repeated harassment", False, operator.id)
    ]
    assert ChatSession.objects.get(pk=session.pk).status == "active"
    _, trail = table_cells(response, "suspension-trail")
    assert [row[1:] for row in trail] == [["Suspended", "Repeated harassment", "no", operator.email]]
    assert "suspended" in fragment_text(re.search(r'<dd data-field="state">(.*?)</dd>', page_html(response), re.S).group(1))
    # now the page offers reactivation
    assert '<input type="hidden" name="action" value="reactivate"' in page_html(response)


def test_a_confirmed_suspension_with_end_active_sessions_ends_them_as_the_operator(cc, operator, chat):
    session = chat()

    response = cc.post(
        _suspension_url(session.customer),
        {"action": "suspend", "reason": "Threats", "end_active_sessions": "on", "confirm": "yes"}, follow=True,
    )

    assert page_messages(response) == [("success", "Ayu is suspended. Their active sessions were ended.")]
    ended = ChatSession.objects.get(pk=session.pk)
    assert (ended.status, ended.ended_by, ended.ended_by_user_id) == ("completed", "operator", operator.id)


@pytest.mark.parametrize("confirm", ["", "yes"], ids=["first_step", "confirmed"])
@pytest.mark.parametrize("reason", ["", "   "], ids=["empty", "spaces"])
def test_a_suspension_without_a_reason_is_refused_and_changes_nothing(confirm, reason, cc, chat):
    session = chat()
    before = _account_state(session.mitra)

    response = cc.post(_suspension_url(session.mitra), {"action": "suspend", "reason": reason, "confirm": confirm})

    assert response.status_code == 400
    field = re.search(r'<div class="cc-field" id="field-reason">(.*?)</div>\s*<div class="cc-field">', page_html(response), re.S).group(1)
    assert [fragment_text(e) for e in re.findall(r'<div class="cc-errors" role="alert">(.*?)</div>', field, re.S)] == ["A reason is required."]
    assert "suspension-confirm" not in page_html(response)
    assert _account_state(session.mitra) == before


def test_reactivation_needs_a_reason_and_is_audited(cc, operator, make_customer):
    customer = make_customer(call_name="Ayu")
    account_suspend(user_id=customer.id, actor=operator, reason="Spam")

    refused = cc.post(_suspension_url(customer), {"action": "reactivate", "reason": ""})
    assert refused.status_code == 400
    assert User.objects.get(pk=customer.pk).is_suspended
    assert AccountSuspension.objects.count() == 1

    response = cc.post(_suspension_url(customer), {"action": "reactivate", "reason": "Apologised; first time"}, follow=True)

    assert page_messages(response) == [("success", "Ayu is active again.")]
    assert not User.objects.get(pk=customer.pk).is_suspended
    assert list(AccountSuspension.objects.order_by("id").values_list("action", "reason", "actor_id")) == [
        ("suspended", "Spam", operator.id), ("reactivated", "Apologised; first time", operator.id),
    ]
    _, trail = table_cells(response, "suspension-trail")
    assert [row[1:] for row in trail] == [
        ["Reactivated", "Apologised; first time", "—", operator.email], ["Suspended", "Spam", "no", operator.email],
    ]


def test_an_operator_cannot_be_suspended(cc, make_operator):
    other = make_operator()

    page = cc.get(_suspension_url(other))
    response = cc.post(_suspension_url(other), {"action": "suspend", "reason": "test", "confirm": "yes"})

    assert "Only customers and mitras can be suspended." in page_html(page)
    assert "suspension-form" not in page_html(page)
    assert response.status_code == 400
    assert page_messages(response) == [("error", "Not saved: Only customers and mitras can be suspended.")]
    assert AccountSuspension.objects.count() == 0
    assert User.objects.get(pk=other.pk).suspended_at is None


def test_an_unknown_account_is_404(cc):
    assert cc.get("/admin/users/00000000-0000-0000-0000-000000000000/suspension").status_code == 404


def test_customers_and_mitras_cannot_open_the_suspension_page(client, make_customer, make_mitra):
    customer = make_customer()
    client.force_login(make_mitra())

    response = client.post(_suspension_url(customer), {"action": "suspend", "reason": "x", "confirm": "yes"})

    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert not User.objects.get(pk=customer.pk).is_suspended


# =========================================================================================
# Where operators find it: Users and Mitra
# =========================================================================================
def test_the_users_list_shows_who_is_suspended_and_links_to_each_suspension_page(cc, operator, make_customer):
    ayu = make_customer(call_name="Ayu")
    budi = make_customer(call_name="Budi")
    account_suspend(user_id=budi.id, actor=operator, reason="Spam")

    response = cc.get(USERS)

    rows = {row["call_name"]: row for row in changelist_rows(response).values()}
    assert rows["Ayu"]["suspended"] == "—"
    assert re.fullmatch(r"since \d{4}-\d\d-\d\d \d\d:\d\d", rows["Budi"]["suspended"])
    assert (rows["Ayu"]["suspension"], rows["Budi"]["suspension"]) == ("Suspend…", "Reactivate…")
    html = page_html(response)
    assert f'<a href="{_suspension_url(ayu)}">Suspend…</a>' in html
    assert f'<a href="{_suspension_url(budi)}">Reactivate…</a>' in html


def test_each_mitra_row_links_to_its_suspension_page_and_shows_a_suspension(cc, operator, make_mitra):
    sari = make_mitra(display_name="Bestie Sari")
    make_mitra(display_name="Bestie Tika")
    account_suspend(user_id=sari.id, actor=operator, reason="Unsafe")

    response = cc.get(MITRAS)

    rows = {row[0]: row for row in table_cells(response, "mitra-table")[1]}
    assert rows["Bestie Sari"][-1] == "suspended Suspension… · Erase…"
    assert rows["Bestie Tika"][-1] == "Suspension… · Erase…"
    assert f'<a href="{_suspension_url(sari)}">Suspension…</a>' in page_html(response)
    live = {m["display_name"]: m for m in cc.get("/admin/mitras/live.json").json()["mitras"]}
    assert (live["Bestie Sari"]["suspended"], live["Bestie Tika"]["suspended"]) == (True, False)
    account_reactivate(user_id=sari.id, actor=operator, reason="Cleared")
    assert cc.get("/admin/mitras/live.json").json()["mitras"][0]["suspended"] is False
