"""The control center's Failed Pairings page (SPEC §8): the list with its columns, pager,
cause and date filters, the action menu offered only where the server accepts the
action, the gateway refund states, and its query count — rendered with Django's test
client, logged in as an operator (actions posted from the page: test_failed_pairing_actions.py)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone as dt_timezone
from html import unescape
from zoneinfo import ZoneInfo

import pytest

from accounts.models import Role, User
from config.errors import ConflictError
from conftest import PASSWORD
from control_center.tests.page_reading import fragment_text as _text
from control_center.tests.page_reading import page_html as _html
from control_center.tests.page_reading import table_cells as _table
from control_center.tests.page_reading import FAILED_PAIRINGS
from failed_pairings.models import PairingFailure, PairingFailureAction
from failed_pairings.services import failed_pairing_action
from payments.models import PaymentSession, PaymentStatus

UTC = dt_timezone.utc

pytestmark = pytest.mark.django_db


@pytest.fixture
def failure_rows(make_customer, confirmed_payment):
    """``failure_rows(moments, ...)`` → failure rows created at ``moments``, each on its
    own payment with ``payment_status``, oldest given first; returned in that order."""

    def make(moments, *, cause="no_mitra_available", payment_status=PaymentStatus.FAILED_PAIRING, targeted_mitra=None, customer=None, amount=50_000):
        customer = customer or make_customer(call_name="Ayu")
        rows = []
        for moment in moments:
            payment = confirmed_payment(customer, amount=amount)
            PaymentSession.objects.filter(pk=payment.pk).update(status=payment_status)
            rows.append(
                PairingFailure(customer=customer, targeted_mitra=targeted_mitra, cause_tag=cause, amount=amount, payment_session=payment)
            )
        created = PairingFailure.objects.bulk_create(rows)
        for row, moment in zip(created, moments):
            PairingFailure.objects.filter(pk=row.pk).update(created_at=moment)
            row.created_at = moment
        return created

    return make


def _row_ids(response) -> list[str]:
    return re.findall(r'<tr data-failure="([0-9a-f-]+)">', _html(response))


def _row_html(response, failure_id) -> str:
    return re.search(rf'<tr data-failure="{failure_id}">(.*?)</tr>', _html(response), re.S).group(1)


def _offered_actions(response, failure_id) -> list[str] | None:
    """The action values the row's menu offers; None when the row shows "—" instead."""
    row = _row_html(response, failure_id)
    cell = re.search(r'<td data-field="actions">(.*?)</td>', row, re.S).group(1)
    if "<form" not in cell:
        assert _text(cell) == "—"
        return None
    return [value for value in re.findall(r'<option value="([^"]*)"', cell) if value]


def _pager(response) -> dict:
    nav = re.search(r'<nav class="cc-pager"[^>]*>(.*?)</nav>', _html(response), re.S).group(1)
    links = {rel: unescape(href) for href, rel in re.findall(r'<a href="([^"]+)" rel="(prev|next)">', nav)}
    return {"links": links, "text": _text(nav)}


def test_the_page_lists_the_spec_columns_with_a_dash_for_no_targeted_mitra(cc, failure_rows, make_mitra, make_customer):
    # given: a blast failure (no targeted mitra) and a targeted one, already actioned
    mitra = make_mitra(display_name="Bestie Sekar")
    [blast] = failure_rows([datetime(2026, 11, 20, 9, 30, tzinfo=UTC)], amount=90_000)
    [targeted] = failure_rows(
        [datetime(2026, 11, 20, 10, 15, tzinfo=UTC)], cause="targeted_mitra_timeout", targeted_mitra=mitra,
        customer=make_customer(call_name="Budi"),
    )
    PairingFailure.objects.filter(pk=targeted.pk).update(
        operator_action="refunded", actioned_by=_other_operator(), actioned_at=datetime(2026, 11, 21, 8, 5, tzinfo=UTC)
    )

    # when
    response = cc.get(FAILED_PAIRINGS)

    # then
    assert response.status_code == 200
    header, rows = _table(response, "failed-pairings")
    assert header == [
        "Created", "Customer", "Targeted Mitra", "Cause", "Amount", "Payment status", "Operator Action", "Actioned By", "Actioned At", "Action",
    ]
    # shown in the operators' zone, Asia/Jakarta (UTC+7)
    assert [row[:9] for row in rows] == [
        ["2026-11-20 17:15", "Budi", "Bestie Sekar", "Bestie pilihan tidak menjawab", "Rp 50.000", "failed_pairing", "Refunded", "ops@example.test", "2026-11-21 15:05"],
        ["2026-11-20 16:30", "Ayu", "—", "Tidak ada bestie tersedia", "Rp 90.000", "failed_pairing", "", "", ""],
    ]
    # the cause's code on hover
    assert '<span class="cc-cause" title="targeted_mitra_timeout">Bestie pilihan tidak menjawab</span>' in _row_html(response, targeted.id)
    assert _offered_actions(response, targeted.id) is None  # actioned: "—"
    assert _offered_actions(response, blast.id) == ["refunded", "credited", "no_action"]
    menu = re.search(r'<select id="action-[^"]+" name="action" required>(.*?)</select>', _row_html(response, blast.id), re.S).group(1)
    assert [_text(o) for o in re.findall(r"<option[^>]*>(.*?)</option>", menu, re.S)] == [
        "Action…", "Mark as refunded", "Mark as credited", "Mark as no-action",
    ]
    assert _text(re.search(r'<p id="result-count">(.*?)</p>', _html(response)).group(1)) == "2 rows"


def _other_operator() -> User:
    return User.objects.create_user(email="ops@example.test", password=PASSWORD, role=Role.OPERATOR)


def test_sixty_rows_are_fifty_a_page_with_prev_and_next(cc, failure_rows):
    # given: sixty failures a minute apart
    base = datetime(2026, 11, 20, 12, tzinfo=UTC)
    rows = failure_rows([base + timedelta(minutes=i) for i in range(60)])
    newest_first = [str(row.id) for row in reversed(rows)]

    # when
    first = cc.get(FAILED_PAIRINGS)
    second = cc.get(FAILED_PAIRINGS, {"page": 2})

    # then
    assert _row_ids(first) == newest_first[:50]
    assert _pager(first) == {"links": {"next": "?page=2"}, "text": "Prev Page 1 of 2 Next"}
    assert _row_ids(second) == newest_first[50:]
    assert _pager(second) == {"links": {"prev": "?page=1"}, "text": "Prev Page 2 of 2 Next"}
    assert _text(re.search(r'<p id="result-count">(.*?)</p>', _html(first)).group(1)) == "60 rows"


def test_the_pager_keeps_the_filters(cc, failure_rows):
    base = datetime(2026, 11, 20, 12, tzinfo=UTC)
    failure_rows([base + timedelta(minutes=i) for i in range(55)], cause="customer_cancelled")
    failure_rows([base], cause="all_mitras_rejected")

    response = cc.get(FAILED_PAIRINGS, {"cause_tags": ["customer_cancelled", "all_mitras_rejected"], "created_from": "2026-11-20"})

    assert len(_row_ids(response)) == 50
    assert _pager(response)["links"] == {
        "next": "?cause_tags=customer_cancelled&cause_tags=all_mitras_rejected&created_from=2026-11-20&page=2"
    }
    second = cc.get(FAILED_PAIRINGS + _pager(response)["links"]["next"])
    assert len(_row_ids(second)) == 6


@pytest.mark.parametrize(
    "query",
    [
        {"cause_tags": ["customer_cancelled", "all_mitras_rejected"]},
        {"cause_tags": "customer_cancelled,all_mitras_rejected"},
        {"cause_tags": ["customer_cancelled,all_mitras_rejected"]},
    ],
    ids=["repeated", "comma", "comma_in_one_of_repeated"],
)
def test_the_cause_multi_select_keeps_any_of_the_chosen_causes(query, cc, failure_rows):
    # given
    moment = datetime(2026, 11, 20, tzinfo=UTC)
    cancelled = failure_rows([moment, moment + timedelta(hours=1)], cause="customer_cancelled")
    rejected = failure_rows([moment + timedelta(hours=2)], cause="all_mitras_rejected")
    failure_rows([moment + timedelta(hours=3)], cause="no_mitra_available")
    failure_rows([moment + timedelta(hours=4)], cause="targeted_mitra_offline", payment_status=PaymentStatus.CONFIRMED)

    # when
    response = cc.get(FAILED_PAIRINGS, query)

    # then: newest first, and the select shows what was chosen
    assert response.status_code == 200
    assert _row_ids(response) == [str(rejected[0].id), str(cancelled[1].id), str(cancelled[0].id)]
    selected = re.findall(r'<option value="([a-z_]+)" selected title="', _html(response))
    assert selected == ["all_mitras_rejected", "customer_cancelled"]  # in the select's own order


def test_the_cause_select_offers_every_cause_tag(cc):
    response = cc.get(FAILED_PAIRINGS)

    select = re.search(r'<select id="id_cause_tags" name="cause_tags" multiple[^>]*>(.*?)</select>', _html(response), re.S).group(1)
    assert re.findall(r'<option value="([a-z_]+)"', select) == [
        "no_mitra_available", "all_mitras_rejected", "customer_cancelled", "targeted_mitra_offline",
        "targeted_mitra_at_capacity", "targeted_mitra_rejected", "targeted_mitra_timeout", "payment_expired_unused",
        "payment_settled_after_expiry", "extension_unused", "account_suspended", "customer_blocked_mitra",
    ]
    # each shown by its Indonesian label, the code on hover
    options = dict((value, (title, _text(label))) for value, title, label in re.findall(r'<option value="([a-z_]+)" title="([a-z_]+)">(.*?)</option>', select, re.S))
    assert options["no_mitra_available"] == ("no_mitra_available", "Tidak ada bestie tersedia")
    assert options["customer_blocked_mitra"] == ("customer_blocked_mitra", "Customer memblokir bestie pilihan")
    assert len(options) == 12


WIB = ZoneInfo("Asia/Jakarta")


def test_the_date_range_keeps_whole_days_inclusive(cc, failure_rows):
    # given: rows around the edges of 20–21 November in the operators' zone (Asia/Jakarta)
    rows = failure_rows(
        [
            datetime(2026, 11, 19, 23, 59, 59, tzinfo=WIB),
            datetime(2026, 11, 20, 0, 0, tzinfo=WIB),
            datetime(2026, 11, 21, 23, 59, 59, tzinfo=WIB),
            datetime(2026, 11, 22, 0, 0, tzinfo=WIB),
        ]
    )

    # when / then
    both = cc.get(FAILED_PAIRINGS, {"created_from": "2026-11-20", "created_to": "2026-11-21"})
    assert _row_ids(both) == [str(rows[2].id), str(rows[1].id)]
    assert re.search(r'<input type="date" id="id_created_from" name="created_from" value="2026-11-20">', _html(both))
    assert re.search(r'<input type="date" id="id_created_to" name="created_to" value="2026-11-21">', _html(both))
    assert _row_ids(cc.get(FAILED_PAIRINGS, {"created_from": "2026-11-21"})) == [str(rows[3].id), str(rows[2].id)]
    assert _row_ids(cc.get(FAILED_PAIRINGS, {"created_to": "2026-11-20"})) == [str(rows[1].id), str(rows[0].id)]
    assert _row_ids(cc.get(FAILED_PAIRINGS, {"created_from": "2026-11-20", "created_to": "2026-11-20"})) == [str(rows[1].id)]


def test_causes_and_dates_combine(cc, failure_rows):
    inside = failure_rows([datetime(2026, 11, 20, 8, tzinfo=UTC)], cause="customer_cancelled")
    failure_rows([datetime(2026, 11, 20, 9, tzinfo=UTC)], cause="no_mitra_available")
    failure_rows([datetime(2026, 11, 23, 8, tzinfo=UTC)], cause="customer_cancelled")

    response = cc.get(FAILED_PAIRINGS, {"cause_tags": "customer_cancelled", "created_from": "2026-11-20", "created_to": "2026-11-21"})

    assert _row_ids(response) == [str(inside[0].id)]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"cause_tags": "customer_cancelled,bogus"}, "cause_tags", "Select a valid choice. bogus is not one of the available choices."),
        ({"created_from": "yesterday"}, "created_from", "Use a date (2026-11-24) or an ISO datetime."),
        ({"created_to": "2026-13-01"}, "created_to", "Use a date (2026-11-24) or an ISO datetime."),
    ],
)
def test_a_bad_filter_is_400_with_the_error_next_to_the_filter(query, field, message, cc, failure_rows):
    failure_rows([datetime(2026, 11, 20, tzinfo=UTC)])

    response = cc.get(FAILED_PAIRINGS, query)

    assert response.status_code == 400
    label = re.search(rf'<label for="id_{field}">.*?</div>', _html(response), re.S).group(0)
    assert re.findall(r'<div class="cc-errors" role="alert">(.*?)</div>', label) == [message]
    assert _row_ids(response) == []
    assert "No failed pairings match." in _html(response)


def test_money_options_are_offered_only_where_the_server_accepts_them(cc, failure_rows, make_customer, confirmed_payment, operator):
    # given: rows of every kind of payment an operator meets
    moment = datetime(2026, 11, 20, tzinfo=UTC)
    [failed] = failure_rows([moment], payment_status=PaymentStatus.FAILED_PAIRING)
    [expired] = failure_rows([moment + timedelta(minutes=1)], cause="payment_expired_unused", payment_status=PaymentStatus.EXPIRED)
    [consumed] = failure_rows([moment + timedelta(minutes=2)], cause="targeted_mitra_rejected", payment_status=PaymentStatus.CONSUMED)
    [usable] = failure_rows([moment + timedelta(minutes=3)], cause="targeted_mitra_offline", payment_status=PaymentStatus.CONFIRMED)
    # two rows of one payment, the first refunded already
    customer = make_customer(call_name="Citra")
    shared = confirmed_payment(customer)
    PaymentSession.objects.filter(pk=shared.pk).update(status=PaymentStatus.FAILED_PAIRING)
    refunded, sibling = PairingFailure.objects.bulk_create(
        [
            PairingFailure(customer=customer, cause_tag=cause, amount=shared.amount, payment_session=shared)
            for cause in ("no_mitra_available", "targeted_mitra_rejected")
        ]
    )
    PairingFailure.objects.filter(pk=refunded.pk).update(operator_action="refunded", actioned_by=operator, actioned_at=moment)

    # when
    response = cc.get(FAILED_PAIRINGS)

    # then: the page shows each payment's status and offers money only where allowed
    offered = {
        name: _offered_actions(response, row.id)
        for name, row in [("failed", failed), ("expired", expired), ("consumed", consumed), ("usable", usable), ("refunded", refunded), ("sibling", sibling)]
    }
    assert offered == {
        "failed": ["refunded", "credited", "no_action"],
        "expired": ["refunded", "credited", "no_action"],
        "consumed": ["no_action"],
        "usable": ["no_action"],
        "refunded": None,
        "sibling": ["no_action"],
    }
    statuses = {
        row.id: _text(re.search(r'<td data-field="payment-status">(.*?)</td>', _row_html(response, row.id)).group(1))
        for row in (failed, expired, consumed, usable, sibling)
    }
    assert statuses == {failed.id: "failed_pairing", expired.id: "expired", consumed.id: "consumed", usable.id: "confirmed", sibling.id: "failed_pairing"}

    # and the server agrees, row by row
    for name, row in [("consumed", consumed), ("usable", usable), ("sibling", sibling)]:
        with pytest.raises(ConflictError) as refused:
            failed_pairing_action(failure_id=row.id, action="refunded", actor=operator)
        assert refused.value.code == "money_action_not_allowed", name
    for row in (failed, expired):
        failed_pairing_action(failure_id=row.id, action="credited", actor=operator)
    assert sorted(PairingFailureAction.objects.values_list("failure_id", flat=True)) == sorted([failed.id, expired.id])


@pytest.mark.parametrize("rows", [5, 60])
def test_the_page_costs_the_same_number_of_queries_for_5_or_60_rows(rows, cc, failure_rows, make_mitra, make_customer, operator, django_assert_num_queries):
    # given: rows of two customers, some targeted, some actioned
    base = datetime(2026, 11, 20, 12, tzinfo=UTC)
    failure_rows([base + timedelta(minutes=i) for i in range(rows // 2)])
    targeted = failure_rows(
        [base - timedelta(minutes=i) for i in range(rows - rows // 2)], cause="targeted_mitra_rejected",
        targeted_mitra=make_mitra(), customer=make_customer(),
    )
    PairingFailure.objects.filter(pk=targeted[0].pk).update(operator_action="no_action", actioned_by=operator, actioned_at=base)

    # when / then: session, user, count, page (customers, mitras, payments, actioned_by and
    # the money-action check joined in), and the admin base template's two permission reads
    with django_assert_num_queries(6):
        response = cc.get(FAILED_PAIRINGS)
    assert len(_row_ids(response)) == min(rows, 50)


def test_a_gateway_refund_shows_pending_then_the_gateways_refusal(cc, failure_rows):
    """SPEC §11: a refund asked of the payment gateway reads "Refund pending" and offers
    nothing more; a refusal opens the row again with the gateway's message."""
    from django.utils import timezone

    [pending] = failure_rows([timezone.now()])
    PairingFailure.objects.filter(pk=pending.pk).update(operator_action="refund_pending")
    [refused] = failure_rows([timezone.now()])
    PairingFailure.objects.filter(pk=refused.pk).update(refund_error="412: Transaction cannot be refunded")

    html = _html(cc.get(FAILED_PAIRINGS))

    pending_row = re.search(rf'<tr data-failure="{pending.id}">(.*?)</tr>', html, re.S).group(1)
    refused_row = re.search(rf'<tr data-failure="{refused.id}">(.*?)</tr>', html, re.S).group(1)
    assert "Refund pending" in pending_row and "<select" not in pending_row
    assert "Refund refused by the payment gateway: 412: Transaction cannot be refunded" in _text(refused_row)
    assert '<option value="credited">' in refused_row
