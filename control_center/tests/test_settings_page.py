"""The control center's Settings page (SPEC §8, SPEC §2): every runtime setting with its
label and input, saving through the config service with the change history, and
invalid values refused next to their field with nothing saved (the list settings —
crisis phrases and resources: test_settings_lists.py)."""

from __future__ import annotations

import re

import pytest

from control_center.tests.page_reading import settings_form_data as _form
from control_center.tests.page_reading import fragment_text as _text
from control_center.tests.page_reading import page_html as _html
from control_center.tests.page_reading import page_messages as _messages
from control_center.tests.page_reading import table_cells as _table
from control_center.tests.page_reading import SETTINGS_PAGE
from live_settings.models import ConfigChange, ConfigEntry
from live_settings.registry import SETTINGS
from live_settings.selectors import config_all_fresh, config_get

pytestmark = pytest.mark.django_db


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
