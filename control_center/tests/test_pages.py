"""The control center's server-rendered pages (SPEC §8): Failed Pairings, Settings, Sesi,
Users, Mitra, the login and the sidebar — rendered and posted with Django's test client,
logged in as an operator (the browser tests drive the same pages in Chromium)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone as dt_timezone
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.test import Client

from accounts.models import MitraProfile, Role, User
from config.errors import ConflictError
from control_center.tests.page_reading import changelist_rows as _result_rows
from control_center.tests.page_reading import settings_form_data as _form
from control_center.tests.page_reading import fragment_text as _text
from control_center.tests.page_reading import page_html as _html
from control_center.tests.page_reading import page_messages as _messages
from control_center.tests.page_reading import table_cells as _table
from failed_pairings.models import PairingFailure, PairingFailureAction
from failed_pairings.services import failed_pairing_action
from live_settings.models import ConfigChange, ConfigEntry
from live_settings.registry import SETTINGS
from live_settings.selectors import config_all_fresh, config_get
from pairing import services as pairing_services
from pairing.models import ChatSession
from payments.models import PaymentSession, PaymentStatus
from realtime.presence import presence_beat

pytestmark = pytest.mark.django_db

UTC = dt_timezone.utc
PASSWORD = "s3cret-pass-123"  # the root conftest's password of every made user
FAILED_PAIRINGS = "/admin/failed-pairings/"
SETTINGS_PAGE = "/admin/settings/"
SESI = "/admin/pairing/chatsession/"
USERS = "/admin/accounts/customerprofile/"
MITRAS = "/admin/mitras/"
MITRAS_JSON = "/admin/mitras/live.json"
SAFETY = "/admin/safety/"
SAFETY_JSON = "/admin/safety/live.json"
SAFETY_COUNTS = "/admin/safety/counts.json"
REPORTS = "/admin/reports/"
LOGIN = "/admin/login/"


# the ``operator`` and ``cc`` (logged-in client) fixtures: control_center/tests/conftest.py


# =========================================================================================
# Failed Pairings
# =========================================================================================
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


# =========================================================================================
# Settings
# =========================================================================================
LABELS = {
    "max_customers_per_mitra": "Maksimal Customer per Bestie",
    "pairing_blast_timeout_seconds": "Batas Waktu Blast Pairing",
    "payment_session_timeout_minutes": "Batas Waktu Sesi Pembayaran",
    "returning_chat_confirmation_timeout_seconds": "Batas Waktu Konfirmasi Chat Lanjutan",
    "extension_timeout_seconds": "Batas Waktu Jawaban Extension",
    "extension_default_action_on_timeout": "Aksi Default Jika Bestie Tidak Menjawab Extension",
    "free_trial_enabled": "Free Trial Aktif",
    "free_trial_duration_minutes": "Durasi Free Trial",
    "early_end_customer_enabled": "Customer Boleh Mengakhiri Sesi Lebih Awal",
    "early_end_mitra_enabled": "Bestie Boleh Mengakhiri Sesi Lebih Awal",
    "closing_goodbye_seconds": "Durasi Salam Penutup",
    "crisis_phrases": "Frasa Krisis",
    "crisis_resources": "Layanan Bantuan Krisis",
    "safety_protocol_text": "Panduan Bestie Saat Krisis",
    "rating_window_days": "Batas Waktu Memberi Rating",
    "message_retention_days": "Masa Simpan Pesan",
}
LEGENDS = ("extension_default_action_on_timeout", "crisis_phrases", "crisis_resources")  # a group of inputs: a legend, no label
# SPEC §2: (default, min, max)
NUMBERS = {
    "max_customers_per_mitra": (1, 1, 20),
    "pairing_blast_timeout_seconds": (60, 1, 600),
    "payment_session_timeout_minutes": (20, 1, 1440),
    "returning_chat_confirmation_timeout_seconds": (20, 1, 600),
    "extension_timeout_seconds": (10, 1, 600),
    "free_trial_duration_minutes": (15, 1, 120),
    "closing_goodbye_seconds": (60, 0, 600),
    "rating_window_days": (7, 1, 90),
}
BOOLEANS = {"free_trial_enabled": True, "early_end_customer_enabled": True, "early_end_mitra_enabled": False}


def _field(response, key: str) -> str:
    """The HTML of one setting's block (up to the next one)."""
    found = re.search(rf'<div class="cc-field[^"]*" id="setting-{key}">(.*?)(?=<div class="cc-field|<input type="submit")', _html(response), re.S)
    assert found is not None, key
    return found.group(1)


def _field_errors(response, key: str) -> list[str]:
    return [_text(e) for e in re.findall(r'<div class="cc-errors" role="alert">(.*?)</div>', _field(response, key), re.S)]


def _changes() -> list[tuple]:
    return list(ConfigChange.objects.order_by("key").values_list("key", "old_value", "new_value", "changed_by_id", "source"))


def _stored() -> dict:
    return dict(ConfigEntry.objects.values_list("key", "value"))


def test_the_settings_page_lists_every_key_with_its_label_and_input(cc):
    response = cc.get(SETTINGS_PAGE)

    assert response.status_code == 200
    html = _html(response)
    assert re.findall(r'id="setting-([a-z_]+)"', html) == list(SETTINGS)
    assert set(LABELS) == set(SETTINGS)
    for key, label in LABELS.items():
        block = _field(response, key)
        if key in LEGENDS:
            assert re.search(r'<legend class="cc-label">(.*?)</legend>', block).group(1) == label
        else:
            assert re.search(rf'<label class="cc-label" for="id_{key}">(.*?)</label>', block).group(1) == label, key
    for key, (default, low, high) in NUMBERS.items():
        assert re.search(
            rf'<input type="number" id="id_{key}" name="{key}" value="{default}" min="{low}" max="{high}" step="1"', _field(response, key)
        ), key
    radios = re.findall(r'<label><input type="radio" name="extension_default_action_on_timeout" value="([a-z_]+)"( checked)?> (.*?)</label>', html)
    assert radios == [("auto_approve", " checked", "Auto-approve"), ("auto_reject", "", "Auto-reject")]
    for key, default in BOOLEANS.items():
        box = re.search(rf'<input type="checkbox" role="switch" id="id_{key}" name="{key}"( checked)?>', _field(response, key))
        assert box is not None and bool(box.group(1)) is default, key
    assert _table(response, "settings-history")[1] == [["No changes yet."]]


def test_the_page_shows_stored_values(cc, set_config):
    set_config(pairing_blast_timeout_seconds=45, extension_default_action_on_timeout="auto_reject", early_end_mitra_enabled=True)

    response = cc.get(SETTINGS_PAGE)

    assert re.search(r'name="pairing_blast_timeout_seconds" value="45"', _field(response, "pairing_blast_timeout_seconds"))
    assert re.search(r'value="auto_reject" checked> Auto-reject', _html(response))
    assert re.search(r'name="early_end_mitra_enabled" checked>', _html(response))


def test_a_valid_save_goes_through_the_config_service_and_shows_in_the_history(cc, operator, monkeypatch, django_capture_on_commit_callbacks):
    # given: the cached value is warm in this process; the page's save is watched
    from control_center import views
    from live_settings import services

    calls = []
    monkeypatch.setattr(views, "config_update", lambda **kwargs: calls.append(kwargs) or services.config_update(**kwargs))
    assert config_get("pairing_blast_timeout_seconds") == 60

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = cc.post(SETTINGS_PAGE, _form(pairing_blast_timeout_seconds=90, extension_default_action_on_timeout="auto_reject"))

    # then: saved by the service behind PATCH /internal/config, only what changed
    assert response.status_code == 302
    assert response["Location"] == SETTINGS_PAGE
    assert [(c["changes"], c["actor"], c["source"]) for c in calls] == [
        ({"pairing_blast_timeout_seconds": 90, "extension_default_action_on_timeout": "auto_reject"}, operator, "control_center")
    ]
    assert _changes() == [
        ("extension_default_action_on_timeout", "auto_approve", "auto_reject", operator.id, "control_center"),
        ("pairing_blast_timeout_seconds", 60, 90, operator.id, "control_center"),
    ]
    assert config_all_fresh()["pairing_blast_timeout_seconds"] == 90
    assert config_get("pairing_blast_timeout_seconds") == 90  # the invalidation reached this process's cache

    # and the page shows it, the history included
    page = cc.get(SETTINGS_PAGE)
    assert _messages(page) == [("success", "Saved 2 setting(s); every process uses the new values now.")]
    assert re.search(r'name="pairing_blast_timeout_seconds" value="90"', _html(page))
    _, history = _table(page, "settings-history")
    assert sorted(row[1:] for row in history) == [
        ["extension_default_action_on_timeout", "auto_approve", "auto_reject", operator.email, "Control center"],
        ["pairing_blast_timeout_seconds", "60", "90", operator.email, "Control center"],
    ]


def test_the_same_values_again_save_nothing(cc):
    response = cc.post(SETTINGS_PAGE, _form(), follow=True)

    assert _messages(response) == [("info", "Nothing changed.")]
    assert _changes() == []
    assert _stored() == {}


def test_an_unchecked_box_saves_false(cc, operator):
    response = cc.post(SETTINGS_PAGE, _form(free_trial_enabled=False))

    assert response.status_code == 302
    assert _changes() == [("free_trial_enabled", True, False, operator.id, "control_center")]
    assert config_all_fresh()["free_trial_enabled"] is False
    page = cc.get(SETTINGS_PAGE)
    assert re.search(r'<input type="checkbox" role="switch" id="id_free_trial_enabled" name="free_trial_enabled">', _html(page))


def test_a_checked_box_saves_true(cc, operator):
    response = cc.post(SETTINGS_PAGE, _form(early_end_mitra_enabled=True))

    assert response.status_code == 302
    assert _changes() == [("early_end_mitra_enabled", False, True, operator.id, "control_center")]


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        ("pairing_blast_timeout_seconds", "601", "Must be between 1 and 600 detik."),
        ("pairing_blast_timeout_seconds", "0", "Must be between 1 and 600 detik."),
        ("closing_goodbye_seconds", "-1", "Must be between 0 and 600 detik."),
        ("payment_session_timeout_minutes", "1441", "Must be between 1 and 1440 menit."),
        ("max_customers_per_mitra", "21", "Must be between 1 and 20 customer."),
        ("free_trial_duration_minutes", "121", "Must be between 1 and 120 menit."),
        ("returning_chat_confirmation_timeout_seconds", "abc", "Must be a whole number."),
        ("extension_timeout_seconds", "2.5", "Must be a whole number."),
        ("extension_timeout_seconds", "", "Must be a whole number."),
        ("extension_default_action_on_timeout", "auto_maybe", "Must be one of: auto_approve, auto_reject."),
    ],
)
def test_an_invalid_value_is_400_with_the_error_next_to_it_and_nothing_saved(key, raw, message, cc):
    # given: a post with one bad value and valid changes to other keys
    data = _form(payment_session_timeout_minutes=30, early_end_mitra_enabled=True, free_trial_enabled=False)
    data[key] = raw

    # when
    response = cc.post(SETTINGS_PAGE, data)

    # then
    assert response.status_code == 400
    assert _field_errors(response, key) == [message]
    assert {k: _field_errors(response, k) for k in SETTINGS if k != key} == {k: [] for k in SETTINGS if k != key}
    assert _messages(response) == [("error", "Nothing was saved: fix the highlighted settings.")]
    assert _changes() == []
    assert _stored() == {}
    assert config_all_fresh() == {k: spec.default for k, spec in SETTINGS.items()}
    if SETTINGS[key].kind == "int":  # the operator sees what they typed, to fix it
        assert re.search(rf'name="{key}" value="{re.escape(raw)}"', _field(response, key))


def test_two_invalid_values_both_show_their_errors(cc):
    data = _form()
    data.update(pairing_blast_timeout_seconds="9999", free_trial_duration_minutes="x")

    response = cc.post(SETTINGS_PAGE, data)

    assert response.status_code == 400
    assert _field_errors(response, "pairing_blast_timeout_seconds") == ["Must be between 1 and 600 detik."]
    assert _field_errors(response, "free_trial_duration_minutes") == ["Must be a whole number."]
    assert _changes() == []


# =========================================================================================
# Sesi
# =========================================================================================
@pytest.fixture
def active_session(make_customer, online_mitra, confirmed_payment):
    """An active session of "Ayu" with an online mitra, matched through the services."""
    customer = make_customer(call_name="Ayu")
    mitra = online_mitra(display_name="Bestie Sekar")
    payment = confirmed_payment(customer)
    attempt = pairing_services.chat_start(customer=customer, payment_id=payment.id, sensitive=False)
    return pairing_services.chat_request_accept(mitra=mitra, chat_session_id=attempt.id)


@pytest.fixture
def waiting_session(make_customer, online_mitra, confirmed_payment):
    customer = make_customer(call_name="Budi")
    online_mitra(display_name="Bestie Wulan")
    payment = confirmed_payment(customer)
    attempt = pairing_services.chat_start(customer=customer, payment_id=payment.id, sensitive=False)
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


# =========================================================================================
# Users
# =========================================================================================
def test_operators_see_customers_call_name_email_and_phone(cc, make_customer):
    make_customer(call_name="Ayu", email="ayu.rahasia@example.test", phone="081234567890")
    make_customer(call_name="Budi", email="budi@example.test")

    response = cc.get(USERS)

    assert response.status_code == 200
    rows = {row["call_name"]: row for row in _result_rows(response).values()}
    assert {name: (row["email"], row["phone"]) for name, row in rows.items()} == {
        "Ayu": ("ayu.rahasia@example.test", "+6281234567890"),
        "Budi": ("budi@example.test", "—"),
    }


# =========================================================================================
# Access, login, sidebar
# =========================================================================================
@pytest.mark.parametrize(
    "path", ["/admin/", FAILED_PAIRINGS, SETTINGS_PAGE, SESI, USERS, MITRAS, MITRAS_JSON, SAFETY, SAFETY_JSON, SAFETY_COUNTS, REPORTS]
)
def test_anonymous_is_sent_to_the_login(path, client):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next={path}"


@pytest.mark.parametrize("role", ["customer", "mitra"])
def test_customers_and_mitras_cannot_log_in(role, client, make_customer, make_mitra):
    user = make_customer() if role == "customer" else make_mitra()

    response = client.post(LOGIN, {"username": user.email, "password": PASSWORD, "next": "/admin/"})

    assert response.status_code == 200  # the form again, with the error
    assert 'id="login-form"' in _html(response)
    assert '<p class="errornote">' in _html(response)
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/")["Location"] == f"{LOGIN}?next=/admin/"


@pytest.mark.parametrize("role", ["customer", "mitra"])
def test_a_logged_in_customer_or_mitra_session_is_not_enough(role, make_customer, make_mitra):
    client = Client()
    client.force_login(make_customer() if role == "customer" else make_mitra())

    assert client.get(FAILED_PAIRINGS)["Location"] == f"{LOGIN}?next={FAILED_PAIRINGS}"
    assert client.get(MITRAS_JSON).status_code == 302


def test_the_operator_logs_in_with_email(client, operator):
    response = client.post(LOGIN, {"username": operator.email.upper(), "password": PASSWORD, "next": "/admin/"})

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_the_operator_logs_in_with_phone(client):
    User.objects.create_user(phone="081299990000", password=PASSWORD, role=Role.OPERATOR)

    response = client.post(LOGIN, {"username": "0812-9999-0000", "password": PASSWORD, "next": "/admin/"})

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_wrong_password_shows_the_form_again(client, operator):
    response = client.post(LOGIN, {"username": operator.email, "password": "wrong-password", "next": "/admin/"})

    assert response.status_code == 200
    assert '<p class="errornote">' in _html(response)
    assert "_auth_user_id" not in client.session


def test_the_login_inputs_have_associated_labels(client):
    html = _html(client.get(LOGIN))

    assert re.search(r'<label for="id_username"[^>]*>Email or phone:</label>', html)
    assert re.search(r'<label for="id_password"[^>]*>Password:</label>', html)
    assert re.search(r'<input type="text" name="username"[^>]* id="id_username"', html)
    assert re.search(r'<input type="password" name="password"[^>]* id="id_password"', html)


def _sidebar(response) -> list[tuple[str, str, bool]]:
    nav = re.search(r'<ul class="cc-nav">(.*?)</ul>', _html(response), re.S).group(1)
    return [(label, href, bool(current)) for href, current, label in re.findall(r'<a href="([^"]+)"( class="current")?[^>]*>(.*?)</a>', nav)]


def test_the_sidebar_lists_the_pages_in_order(cc):
    assert _sidebar(cc.get("/admin/")) == [
        ("Dashboard", "/admin/", True),
        ("Mitra", MITRAS, False),
        ("Sesi", SESI, False),
        ("Failed Pairings", FAILED_PAIRINGS, False),
        ("Safety", SAFETY, False),
        ("Reports", REPORTS, False),
        ("Users", USERS, False),
        ("Settings", SETTINGS_PAGE, False),
    ]
    assert [(label, current) for label, _, current in _sidebar(cc.get(FAILED_PAIRINGS))] == [
        ("Dashboard", False), ("Mitra", False), ("Sesi", False), ("Failed Pairings", True), ("Safety", False),
        ("Reports", False), ("Users", False), ("Settings", False),
    ]
    assert [label for label, _, current in _sidebar(cc.get(SAFETY)) if current] == ["Safety"]
    assert [label for label, _, current in _sidebar(cc.get(REPORTS)) if current] == ["Reports"]


def test_every_sidebar_page_opens(cc):
    for _, href, _ in _sidebar(cc.get("/admin/")):
        assert cc.get(href).status_code == 200, href


# =========================================================================================
# Mitra
# =========================================================================================
def test_the_mitra_page_and_its_json_show_status_connection_and_load(cc, active_session, make_mitra):
    # given: Bestie Sekar online with one session and a live socket; Bestie Ana offline
    busy = active_session.mitra
    presence_beat(busy.id, "specific.test!channel")
    idle = make_mitra(display_name="Bestie Ana")

    # when
    page = cc.get(MITRAS)
    data = cc.get(MITRAS_JSON)

    # then
    assert page.status_code == 200
    header, rows = _table(page, "mitra-table")
    assert header == ["Mitra", "Login", "Status", "Connected", "Active sessions / capacity", "Rating", "Ratings", "Account"]
    assert rows == [
        ["Bestie Ana", idle.email, "offline", "not connected", "0 / 1", "—", "0", "Suspension… · Erase…"],
        ["Bestie Sekar", busy.email, "online", "connected", "1 / 1", "—", "0", "Suspension… · Erase…"],
    ]
    assert data.status_code == 200
    profiles = {p.user_id: p for p in MitraProfile.objects.all()}
    assert data.json() == {
        "mitras": [
            {
                "id": str(user.id), "display_name": name, "login": user.email, "status": status, "connected": connected,
                "active_sessions": active, "capacity": 1, "status_changed_at": profiles[user.id].status_changed_at.isoformat(),
                "rating_average": None, "rating_count": 0, "rating_label": "—", "suspended": False,
                "suspension_url": f"/admin/users/{user.id}/suspension",
                "erased": False, "erasure_url": f"/admin/mitras/{user.id}/erasure",
            }
            for user, name, status, connected, active in [
                (idle, "Bestie Ana", "offline", False, 0), (busy, "Bestie Sekar", "online", True, 1)
            ]
        ]
    }


def test_the_mitra_page_creates_a_mitra(cc, client):
    response = cc.post(MITRAS, {"display_name": "Bestie Baru", "email": "Baru@Example.test", "phone": "", "password": "curhat-demo-123"}, follow=True)

    assert response.redirect_chain == [(MITRAS, 302)]
    assert _messages(response) == [("success", "Mitra Bestie Baru created (offline until they go online).")]
    user = User.objects.get(email="baru@example.test")
    assert (user.role, user.is_staff, user.mitra_profile.display_name, user.mitra_profile.status) == ("mitra", False, "Bestie Baru", "offline")
    assert ["Bestie Baru", "baru@example.test", "offline", "not connected", "0 / 1", "—", "0", "Suspension… · Erase…"] in _table(response, "mitra-table")[1]
    token = client.post("/api/auth/token", {"login": "baru@example.test", "password": "curhat-demo-123"}, content_type="application/json")
    assert (token.status_code, token.json()["role"]) == (200, "mitra")


def test_a_duplicate_email_shows_an_error_and_creates_nothing(cc, make_mitra):
    make_mitra(email="sekar@example.test")
    users = list(User.objects.order_by("id").values_list("id", flat=True))

    response = cc.post(MITRAS, {"display_name": "Bestie Kembar", "email": "SEKAR@example.test", "password": "curhat-demo-123"})

    assert response.status_code == 400
    errors = re.search(r'<form method="post" action="/admin/mitras/".*?</form>', _html(response), re.S).group(0)
    assert [_text(e) for e in re.findall(r'<div class="cc-errors" role="alert">(.*?)</div>', errors, re.S)] == [
        "An account with this phone number or email already exists."
    ]
    assert list(User.objects.order_by("id").values_list("id", flat=True)) == users
    assert not MitraProfile.objects.filter(display_name="Bestie Kembar").exists()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"display_name": "Bestie", "password": "curhat-demo-123"}, "Give an email or a phone number."),
        ({"display_name": "Bestie", "email": "b@example.test", "password": "short"}, "Ensure this value has at least 8 characters (it has 5)."),
        ({"display_name": "Bestie", "email": "b@example.test", "password": "password123"}, "This password is too common."),
    ],
)
def test_an_invalid_mitra_form_creates_nothing(data, error, cc):
    users = User.objects.count()

    response = cc.post(MITRAS, data)

    assert response.status_code == 400
    assert error in [_text(e) for e in re.findall(r'<div class="cc-errors" role="alert">(.*?)</div>', _html(response), re.S)]
    assert User.objects.count() == users


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


# --- ratings (SPEC §12) ---------------------------------------------------------------------
def _rated(chat, mitra, stars: list[int], make_customer) -> None:
    """``stars`` ratings of ``mitra``: one completed session each, rated by its customer."""
    from safety.services import rating_create

    for value in stars:
        customer = make_customer()
        session = chat(customer=customer, mitra=mitra, status="completed")
        rating_create(customer=customer, chat_session_id=session.id, stars=value, comment="makasih")


def test_the_mitra_page_shows_each_mitras_rating_average_and_count(cc, chat, make_mitra, make_customer, settings_now):
    # given: Sekar rated 5, 4, 4 and busy in a session (capacity 2); Ana rated 3, 4; Citra unrated
    settings_now(max_customers_per_mitra=2)
    sekar = make_mitra(display_name="Bestie Sekar")
    _rated(chat, sekar, [5, 4, 4], make_customer)
    chat(customer=make_customer(), mitra=sekar)  # active
    ana = make_mitra(display_name="Bestie Ana")
    _rated(chat, ana, [3, 4], make_customer)
    make_mitra(display_name="Bestie Citra")

    # when
    page = cc.get(MITRAS)
    data = {m["display_name"]: m for m in cc.get(MITRAS_JSON).json()["mitras"]}

    # then: ratings are counted on their own, not multiplied by the sessions
    rows = {row[0]: row for row in _table(page, "mitra-table")[1]}
    assert {name: (row[4], row[5], row[6]) for name, row in rows.items()} == {
        "Bestie Ana": ("0 / 2", "3.5 ★", "2"),
        "Bestie Citra": ("0 / 2", "—", "0"),
        "Bestie Sekar": ("1 / 2", "4.3 ★", "3"),
    }
    assert {name: (m["active_sessions"], m["rating_average"], m["rating_count"], m["rating_label"]) for name, m in data.items()} == {
        "Bestie Ana": (0, 3.5, 2, "3.5 ★"),
        "Bestie Citra": (0, None, 0, "—"),
        "Bestie Sekar": (1, 4.33, 3, "4.3 ★"),
    }


def test_a_half_star_average_rounds_up_on_the_page(cc, chat, make_mitra, make_customer):
    mitra = make_mitra(display_name="Bestie Dewi")
    _rated(chat, mitra, [4, 5, 4, 4], make_customer)  # 4.25

    assert _table(cc.get(MITRAS), "mitra-table")[1][0][5] == "4.3 ★"


@pytest.mark.parametrize("mitras", [5, 60])
def test_the_mitra_page_costs_the_same_number_of_queries_for_5_or_60_mitras(
    mitras, cc, chat, make_mitra, make_customer, django_assert_num_queries
):
    # given: every third mitra rated twice, every fourth in a session
    for index in range(mitras):
        mitra = make_mitra()
        if index % 3 == 0:
            _rated(chat, mitra, [5, 3], make_customer)
        if index % 4 == 0:
            chat(customer=make_customer(), mitra=mitra)

    # when / then: session, user, the setting, the mitras (sessions counted, ratings in
    # subqueries), and the admin base template's two permission reads
    with django_assert_num_queries(6):
        response = cc.get(MITRAS)
    assert len(_table(response, "mitra-table")[1]) == mitras
    with django_assert_num_queries(3):
        assert len(cc.get(MITRAS_JSON).json()["mitras"]) == mitras
