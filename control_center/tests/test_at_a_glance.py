"""The control center reads at a glance (issue 14 item 4): amounts as ``Rp 50.000``,
cause tags as Indonesian labels with the code on hover, one compact action control per
Failed Pairings row, the Dashboard's figures of today and the last 14 days, and a
session's timeline from the Sesi page — rendered with Django's test client (the
browser tests drive the same pages in Chromium)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone as dt_timezone
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from accounts.models import MitraStatus
from chat.services import message_send
from control_center import selectors
from control_center.display import CAUSE_LABELS, cause_html, cause_label, rupiah
from control_center.tests.page_reading import changelist_rows, fragment_text, page_html, page_messages, table_cells
from extensions.services import extension_approve, extension_request
from failed_pairings.models import CauseTag, PairingFailure
from failed_pairings.services import failed_pairing_action
from pairing import answers, attempts
from pairing.lifecycle import chat_end
from pairing.models import ChatSession, ChatStatus, EndedBy
from payments import services as payment_services
from payments.models import PaymentSession, PaymentStatus, TierKind, Transaction, TransactionKind

pytestmark = pytest.mark.django_db

WIB = ZoneInfo("Asia/Jakarta")
UTC = dt_timezone.utc
DASHBOARD = "/admin/"
SESI = "/admin/pairing/chatsession/"
FAILED_PAIRINGS = "/admin/failed-pairings/"


# =========================================================================================
# Amounts and cause labels: one mapping
# =========================================================================================
@pytest.mark.parametrize(
    "amount, shown",
    [(50_000, "Rp 50.000"), (0, "Rp 0"), (999, "Rp 999"), (1_000, "Rp 1.000"), (1_234_567, "Rp 1.234.567"), (None, "—")],
)
def test_amounts_use_the_indonesian_thousands_separator(amount, shown):
    assert rupiah(amount) == shown


def test_every_cause_tag_has_its_own_indonesian_label():
    assert set(CAUSE_LABELS) == set(CauseTag.values)
    labels = [cause_label(tag) for tag in CauseTag.values]
    assert len(set(labels)) == len(labels)
    assert all(label and label != tag and "_" not in label for tag, label in zip(CauseTag.values, labels))
    assert cause_label("no_mitra_available") == "Tidak ada bestie tersedia"


def test_a_cause_shows_its_code_on_hover_and_an_unknown_code_as_it_is():
    assert cause_html("no_mitra_available") == '<span class="cc-cause" title="no_mitra_available">Tidak ada bestie tersedia</span>'
    assert cause_html('<b>"x"') == '<span class="cc-cause" title="&lt;b&gt;&quot;x&quot;">&lt;b&gt;&quot;x&quot;</span>'


# =========================================================================================
# Failed Pairings: one compact control per row
# =========================================================================================
def _failures(make_customer, confirmed_payment, count: int, *, cause=CauseTag.NO_MITRA_AVAILABLE, status=PaymentStatus.FAILED_PAIRING):
    customer = make_customer(call_name="Ayu")
    rows = []
    for _ in range(count):
        payment = confirmed_payment(customer)
        PaymentSession.objects.filter(pk=payment.pk).update(status=status)
        rows.append(PairingFailure(customer=customer, cause_tag=cause, amount=payment.amount, payment_session=payment))
    return PairingFailure.objects.bulk_create(rows)


def test_each_open_row_has_one_closed_menu_with_a_labelled_form(cc, make_customer, confirmed_payment, operator):
    # given: three rows, one already actioned
    rows = _failures(make_customer, confirmed_payment, 3)
    failed_pairing_action(failure_id=rows[0].id, action="no_action", actor=operator)

    # when
    html = page_html(cc.get(FAILED_PAIRINGS))

    # then: one <details> menu per open row (closed: the page works without JavaScript),
    # each holding the row's one form, whose fields have labels
    menus = re.findall(r'<tr data-failure="([0-9a-f-]+)">.*?</tr>', html, re.S)
    assert len(menus) == 3
    for row in rows[1:]:
        cell = re.search(rf'<tr data-failure="{row.id}">.*?<td data-field="actions">(.*?)</td>', html, re.S).group(1)
        assert cell.count("<details") == 1 and cell.count("<form") == 1
        assert '<details class="cc-row-menu">' in cell  # closed
        assert fragment_text(re.search(r"<summary>(.*?)</summary>", cell, re.S).group(1)).startswith("Action… for Ayu,")
        for field in ("action", "note"):
            assert f'<label for="{field}-{row.id}">' in cell and f'id="{field}-{row.id}"' in cell
        assert f'action="/admin/failed-pairings/{row.id}/action"' in cell
    actioned = re.search(rf'<tr data-failure="{rows[0].id}">.*?<td data-field="actions">(.*?)</td>', html, re.S).group(1)
    assert fragment_text(actioned) == "—"


# =========================================================================================
# Dashboard: today and the last 14 days
# =========================================================================================
def _attempt(customer, payment, *, at, matched_by=None, status=ChatStatus.UNMATCHED):
    fields = {"status": status}
    if matched_by is not None:
        fields = {"status": ChatStatus.COMPLETED, "mitra": matched_by, "started_at": at + timedelta(seconds=20), "ends_at": at + timedelta(minutes=30)}
    session = ChatSession.objects.create(customer=customer, payment_session=payment, duration_minutes=30, **fields)
    ChatSession.objects.filter(pk=session.pk).update(created_at=at)
    return session


def _failure(customer, payment, *, at, cause):
    row = PairingFailure.objects.create(customer=customer, cause_tag=cause, amount=payment.amount, payment_session=payment)
    PairingFailure.objects.filter(pk=row.pk).update(created_at=at)


def _money(payment, *, at, kind):
    if kind == TransactionKind.REFUND:
        Transaction.objects.create(payment_session=payment, kind=kind, amount=payment.amount)
    Transaction.objects.filter(payment_session=payment, kind=kind).update(created_at=at)


@pytest.fixture
def fortnight(make_customer, make_mitra, confirmed_payment):
    """A day's worth of rows on 20 November 2026 (WIB) and a few before, each day's edge
    on both sides; ``now`` is that day's noon."""
    customer = make_customer(call_name="Ayu")
    mitra = make_mitra(display_name="Bestie Sekar")
    today = datetime(2026, 11, 20, tzinfo=WIB)

    def paid(amount=50_000, at=today):
        payment = confirmed_payment(customer, amount=amount)  # charged at confirm
        _money(payment, at=at, kind=TransactionKind.CHARGE)
        return payment

    # today: 4 requests (3 matched), 2 failures (two causes), charges 3 × 50.000 + 75.000, refunds 25.000 + 30.000
    for hour in (0, 9, 10):
        _attempt(customer, paid(at=today + timedelta(hours=hour)), at=today + timedelta(hours=hour), matched_by=mitra)
    refunded = confirmed_payment(customer, amount=25_000)
    _money(refunded, at=today - timedelta(days=1), kind=TransactionKind.CHARGE)
    _money(refunded, at=today + timedelta(hours=23, minutes=59), kind=TransactionKind.REFUND)
    _attempt(customer, refunded, at=today + timedelta(hours=11))
    _failure(customer, refunded, at=today + timedelta(hours=11), cause=CauseTag.NO_MITRA_AVAILABLE)
    # ... its failure row marked refunded (the gateway's refund above: counted once)
    PairingFailure.objects.filter(payment_session=refunded, cause_tag=CauseTag.NO_MITRA_AVAILABLE).update(
        operator_action="refunded", actioned_at=today + timedelta(hours=23, minutes=59)
    )
    # and a refund of 30.000 an operator made by hand today, for a failure of long ago
    by_hand = confirmed_payment(customer, amount=30_000)
    _money(by_hand, at=today - timedelta(days=20), kind=TransactionKind.CHARGE)
    _failure(customer, by_hand, at=today - timedelta(days=20), cause=CauseTag.CUSTOMER_CANCELLED)
    PairingFailure.objects.filter(payment_session=by_hand).update(operator_action="refunded", actioned_at=today + timedelta(hours=13))
    _failure(customer, refunded, at=today + timedelta(hours=12), cause=CauseTag.CUSTOMER_CANCELLED)
    # yesterday, up to its last second: 1 request, unmatched; the charge of 25.000 above
    _attempt(customer, paid(amount=75_000, at=today + timedelta(hours=8)), at=today - timedelta(seconds=1))
    # three days ago: a failure; fourteen days ago (outside the window): a request and a failure
    _failure(customer, refunded, at=today - timedelta(days=3), cause=CauseTag.NO_MITRA_AVAILABLE)
    old = paid(at=today - timedelta(days=14))
    _attempt(customer, old, at=today - timedelta(days=14))
    _failure(customer, old, at=today - timedelta(days=14), cause=CauseTag.ALL_MITRAS_REJECTED)
    return {"now": today + timedelta(hours=12), "today": today.date()}


def test_the_days_are_the_operators_days_today_last(fortnight):
    days = selectors.dashboard_days(now=fortnight["now"])

    assert [d["day"] for d in days] == [fortnight["today"] - timedelta(days=13 - i) for i in range(14)]
    today, yesterday, three_days_ago = days[-1], days[-2], days[-4]
    assert {k: today[k] for k in ("requests", "matched", "failed", "revenue", "charges", "refunds", "refund_count")} == {
        "requests": 4, "matched": 3, "failed": 2, "revenue": 50_000 * 3 + 75_000, "charges": 4, "refunds": 25_000 + 30_000, "refund_count": 2,
    }
    assert today["failed_by_cause"] == [("no_mitra_available", 1), ("customer_cancelled", 1)]
    assert {k: yesterday[k] for k in ("requests", "matched", "failed", "revenue", "refunds")} == {
        "requests": 1, "matched": 0, "failed": 0, "revenue": 25_000, "refunds": 0,
    }
    assert (three_days_ago["failed"], three_days_ago["failed_by_cause"]) == (1, [("no_mitra_available", 1)])
    # the fifteenth day back is outside the chart
    assert sum(d["requests"] for d in days) == 5 and sum(d["failed"] for d in days) == 3


def test_the_dashboard_shows_todays_figures_and_the_chart(cc, fortnight, monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: fortnight["now"].astimezone(UTC))

    response = cc.get(DASHBOARD)

    assert response.status_code == 200
    html = page_html(response)
    cards = {name: fragment_text(re.search(rf'<div class="cc-card" id="today-{name}">(.*?)</div>', html, re.S).group(1)) for name in
             ("requests", "matched", "failed", "revenue", "refunds")}
    assert cards == {
        "requests": "4 sessions started pairing requests",
        "matched": "3 matched in the window 75% of requests",
        "failed": "2 failed Tidak ada bestie tersedia 1 Customer membatalkan 1",
        "revenue": "Rp 225.000 revenue 4 charges",
        "refunds": "Rp 55.000 refunds 2 refunds",
    }
    assert '<span class="cc-cause" title="customer_cancelled">Customer membatalkan</span>' in html
    # the chart: one group of bars per day, each with its tooltip
    chart = re.search(r'<svg class="cc-chart" id="days-chart".*?</svg>', html, re.S).group(0)
    assert chart.count('<g class="cc-day">') == 14
    assert "<title>20 Nov: 4 requests, 3 matched</title>" in chart
    assert "<title>17 Nov: 1 failed</title>" in chart
    header, rows = table_cells(response, "days-table")
    assert header == ["Day", "Sessions started", "Matched", "Failed", "Revenue", "Refunds"]
    assert rows[0] == ["2026-11-20", "4", "3", "2", "Rp 225.000", "Rp 55.000"]
    assert rows[1] == ["2026-11-19", "1", "0", "0", "Rp 25.000", "Rp 0"]
    assert len(rows) == 14


def test_an_empty_fortnight_draws_an_empty_chart(cc):
    html = page_html(cc.get(DASHBOARD))

    assert fragment_text(re.search(r'<div class="cc-card" id="today-matched">(.*?)</div>', html, re.S).group(1)) == "0 matched in the window no requests yet"
    assert html.count('<g class="cc-day">') == 14


@pytest.mark.parametrize("rows", [1, 8, 40])
def test_the_dashboard_costs_the_same_number_of_queries_whatever_the_rows(rows, cc, make_customer, make_mitra, confirmed_payment, django_assert_num_queries):
    # given: ``rows`` requests, half matched, each failed too, some refunded, over the last days
    customer, mitra = make_customer(), make_mitra()
    now = timezone.now()
    for index in range(rows):
        payment = confirmed_payment(customer)
        at = now - timedelta(days=index % 14, minutes=index)
        _attempt(customer, payment, at=at, matched_by=mitra if index % 2 else None)
        _failure(customer, payment, at=at, cause=CauseTag.values[index % len(CauseTag.values)])
        _money(payment, at=at, kind=TransactionKind.CHARGE)
        if index % 3 == 0:  # refunded: every other one by the gateway, the rest by hand
            PairingFailure.objects.filter(payment_session=payment).update(operator_action="refunded", actioned_at=at)
            if index % 2 == 0:
                _money(payment, at=at, kind=TransactionKind.REFUND)

    # when / then: session, user, the five live counts (sessions, mitras, failures to
    # action, open alerts, open reports), the capacity setting, the mitras, the four
    # days' GROUP BYs, and the admin base template's two permission reads
    with django_assert_num_queries(QUERIES_OF_THE_DASHBOARD):
        response = cc.get(DASHBOARD)
    assert response.status_code == 200


QUERIES_OF_THE_DASHBOARD = 15


# =========================================================================================
# Sesi: a session's timeline
# =========================================================================================
@pytest.fixture
def story(make_customer, online_mitra, confirmed_payment, make_tier):
    """``story(mitras=3, messages=4)``: a general blast offered to ``mitras`` online
    mitras; the first declines (when there are two or more), the last accepts; ``messages`` lines are sent; the
    customer buys a 15-minute extension the mitra approves, then ends the session."""

    def make(*, mitras: int = 3, messages: int = 4):
        customer = make_customer(call_name="Ayu")
        team = [online_mitra(display_name=f"Bestie {i}") for i in range(mitras)]
        payment = confirmed_payment(customer, amount=50_000)
        attempt = attempts.chat_start(customer=customer, payment_id=payment.id, sensitive=False)
        if mitras > 1:
            answers.chat_request_decline(mitra=team[0], chat_session_id=attempt.id)
        session = answers.chat_request_accept(mitra=team[-1], chat_session_id=attempt.id)
        for index in range(messages):
            sender = customer if index % 2 == 0 else team[-1]
            message_send(user=sender, chat_session_id=session.id, client_message_id=f"line-{index}", text=f"rahasia nomor {index}")
        tier = make_tier(amount=20_000, minutes=15, kind=TierKind.EXTENSION)
        extension_payment = payment_services.payment_session_create(customer=customer, tier_id=tier.id, is_extension=True, chat_session_id=session.id)
        payment_services.payment_session_confirm(customer=customer, payment_id=extension_payment.id)
        extension = extension_request(customer=customer, chat_session_id=session.id, payment_id=extension_payment.id)
        extension_approve(mitra=team[-1], extension_id=extension.id)
        chat_end(user=customer, chat_session_id=session.id, ended_by=EndedBy.CUSTOMER)
        return ChatSession.objects.get(pk=session.pk)

    return make


def _timeline_url(session) -> str:
    return f"{SESI}{session.pk}/timeline/"


def test_the_sesi_page_links_each_session_to_its_timeline(cc, story):
    session = story()

    response = cc.get(SESI)

    row = changelist_rows(response)[str(session.pk)]
    assert row["timeline"] == f"Timeline of {session.pk}"
    assert f'<a href="{_timeline_url(session)}">Timeline' in page_html(response)


def test_the_timeline_tells_the_story_in_time_order_without_message_texts(cc, story):
    session = story(mitras=3, messages=4)

    response = cc.get(_timeline_url(session))

    assert response.status_code == 200
    html = page_html(response)
    header, rows = table_cells(response, "timeline")
    assert header == ["Time", "What", "Event", "Amount"]
    kinds = [row[1] for row in rows]
    # one transaction's now() is every row's time: the order within a moment is the story's
    assert kinds[:1] == ["payment"]
    assert set(kinds) == {"payment", "money", "request", "offer", "accept", "extension", "end"}
    events = [row[2] for row in rows]
    assert "Offered to 3 mitras" in events
    assert "1 declined (the last of them at this time)" in events
    assert "Accepted by Bestie 2" in events
    assert "Extension of 15 min requested" in events
    assert "Extension approved (extension_approved)" in events
    assert "Completed by customer" in events
    assert ["Money charged", "Rp 50.000"] == rows[events.index("Money charged")][2:]
    assert ["Money charged (extension)", "Rp 20.000"] == rows[events.index("Money charged (extension)")][2:]
    times = [row[0] for row in rows]
    assert times == sorted(times)
    # messages: counted, never read
    assert fragment_text(re.search(r'<dd id="message-counts">(.*?)</dd>', html, re.S).group(1)).startswith("2 from the customer, 2 from the mitra")
    assert "rahasia" not in html
    assert page_messages(response) == []  # the counts never reach the page's message list


def test_a_failed_attempt_shows_its_failure_row_with_the_cause_label(cc, make_customer, online_mitra, confirmed_payment, operator):
    customer = make_customer(call_name="Budi")
    online_mitra()
    payment = confirmed_payment(customer, amount=35_000)
    attempt = attempts.chat_start(customer=customer, payment_id=payment.id, sensitive=True)
    attempts.chat_cancel(customer=customer, chat_session_id=attempt.id)
    failure = PairingFailure.objects.get(chat_session=attempt)
    failed_pairing_action(failure_id=failure.id, action="refunded", actor=operator)

    response = cc.get(_timeline_url(attempt))

    html = page_html(response)
    rows = table_cells(response, "timeline")[1]
    failure_row = next(row for row in rows if row[1] == "failure")
    assert failure_row[2:] == ["Failure row: Customer membatalkan", "Rp 35.000"]
    assert '<span class="cc-cause" title="customer_cancelled">Customer membatalkan</span>' in html
    assert any(row[1] == "operator" and row[2].startswith("Operator: refunded") for row in rows)
    assert "Chat requested (general blast, sensitive topic)" in [row[2] for row in rows]
    assert any(row[1] == "payment" and "failed_pairing" in row[2] for row in rows)


@pytest.mark.parametrize("mitras, messages", [(1, 0), (4, 6), (12, 30)])
def test_the_timeline_costs_the_same_number_of_queries_whatever_its_length(mitras, messages, cc, story, django_assert_num_queries):
    session = story(mitras=mitras, messages=messages)

    # session, user, the session with its people and payment, payment events, money,
    # offers, extensions, failure rows, message counts, two permission reads
    with django_assert_num_queries(QUERIES_OF_THE_TIMELINE):
        response = cc.get(_timeline_url(session))
    assert response.status_code == 200


QUERIES_OF_THE_TIMELINE = 11


def test_an_unknown_session_has_no_timeline(cc):
    assert cc.get(f"{SESI}3fa85f64-5717-4562-b3fc-2c963f66afa6/timeline/").status_code == 404
    # not an id at all: Django admin's own answer for a bad object id (back to the index)
    response = cc.get(f"{SESI}not-a-uuid/timeline/", follow=True)
    assert response.status_code == 200 and response.redirect_chain[-1] == ("/admin/", 302)


def test_the_timeline_is_for_operators_only(story, api_client_for, client):
    session = story(mitras=1, messages=0)
    client.force_login(session.customer)

    response = client.get(_timeline_url(session))

    assert response.status_code == 302 and "/admin/login/" in response["Location"]
