"""``GET``/``PATCH /internal/config``: every key, validation, all-or-nothing, audit."""

from __future__ import annotations

import pytest

from live_settings.models import ConfigChange, ConfigEntry
from live_settings.registry import DEFAULT_CRISIS_PHRASES, DEFAULT_CRISIS_RESOURCES, DEFAULT_SAFETY_PROTOCOL_TEXT, SETTINGS

pytestmark = pytest.mark.django_db

DEFAULTS = {
    "max_customers_per_mitra": 1,
    "pairing_blast_timeout_seconds": 60,
    "payment_session_timeout_minutes": 20,
    "returning_chat_confirmation_timeout_seconds": 20,
    "extension_timeout_seconds": 10,
    "extension_default_action_on_timeout": "auto_approve",
    "free_trial_enabled": True,
    "free_trial_duration_minutes": 15,
    "early_end_customer_enabled": True,
    "early_end_mitra_enabled": False,
    "closing_goodbye_seconds": 60,
    # SPEC §12 (its starter values are checked in safety/tests/test_crisis.py)
    "crisis_phrases": DEFAULT_CRISIS_PHRASES,
    "crisis_resources": DEFAULT_CRISIS_RESOURCES,
    "safety_protocol_text": DEFAULT_SAFETY_PROTOCOL_TEXT,
    "rating_window_days": 7,
    # SPEC §13
    "message_retention_days": 90,
}


def test_get_lists_every_key_of_the_spec_with_its_default(operator_client):
    response = operator_client.get("/internal/config")

    assert response.status_code == 200
    assert response.json() == DEFAULTS
    assert set(SETTINGS) == set(DEFAULTS)


def test_patch_saves_returns_all_values_and_audits_who_changed_what(operator_client):
    response = operator_client.patch(
        "/internal/config",
        {"pairing_blast_timeout_seconds": 45, "extension_default_action_on_timeout": "auto_reject"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json() == {**DEFAULTS, "pairing_blast_timeout_seconds": 45, "extension_default_action_on_timeout": "auto_reject"}
    assert operator_client.get("/internal/config").json()["pairing_blast_timeout_seconds"] == 45
    changes = {c.key: (c.old_value, c.new_value, c.changed_by_id, c.source) for c in ConfigChange.objects.all()}
    assert changes == {
        "pairing_blast_timeout_seconds": (60, 45, operator_client.user.id, "api"),
        "extension_default_action_on_timeout": ("auto_approve", "auto_reject", operator_client.user.id, "api"),
    }


def test_patch_with_an_unchanged_value_writes_no_audit_row(operator_client):
    response = operator_client.patch("/internal/config", {"max_customers_per_mitra": 1}, format="json")

    assert response.status_code == 200
    assert ConfigChange.objects.count() == 0


def test_second_patch_audits_the_previous_value_as_old(operator_client):
    operator_client.patch("/internal/config", {"max_customers_per_mitra": 2}, format="json")
    operator_client.patch("/internal/config", {"max_customers_per_mitra": 3}, format="json")

    assert list(ConfigChange.objects.order_by("id").values_list("old_value", "new_value")) == [(1, 2), (2, 3)]


INVALID = [
    ("pairing_blast_timeout_seconds", 0),
    ("pairing_blast_timeout_seconds", 601),
    ("pairing_blast_timeout_seconds", "30"),
    ("pairing_blast_timeout_seconds", 30.5),
    ("pairing_blast_timeout_seconds", True),
    ("pairing_blast_timeout_seconds", None),
    ("returning_chat_confirmation_timeout_seconds", 0),
    ("extension_timeout_seconds", 601),
    ("closing_goodbye_seconds", -1),
    ("closing_goodbye_seconds", 601),
    ("payment_session_timeout_minutes", 0),
    ("payment_session_timeout_minutes", 1441),
    ("max_customers_per_mitra", 0),
    ("max_customers_per_mitra", 21),
    ("free_trial_duration_minutes", 0),
    ("free_trial_duration_minutes", 121),
    ("free_trial_enabled", 1),
    ("free_trial_enabled", "true"),
    ("early_end_customer_enabled", None),
    ("early_end_mitra_enabled", "yes"),
    ("extension_default_action_on_timeout", "maybe"),
    ("extension_default_action_on_timeout", True),
    ("no_such_key", 5),
]


@pytest.mark.parametrize("key, value", INVALID)
def test_patch_with_a_bad_value_is_400_and_saves_nothing_at_all(operator_client, key, value):
    response = operator_client.patch(
        "/internal/config", {"max_customers_per_mitra": 5, key: value}, format="json"
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_config"
    assert list(body["errors"]) == [key]
    assert body["detail"].startswith(f"{key}: ")
    assert ConfigEntry.objects.count() == 0 and ConfigChange.objects.count() == 0
    assert operator_client.get("/internal/config").json() == DEFAULTS


@pytest.mark.parametrize(
    "key, value",
    [
        ("pairing_blast_timeout_seconds", 1), ("pairing_blast_timeout_seconds", 600), ("closing_goodbye_seconds", 0),
        ("payment_session_timeout_minutes", 1440), ("max_customers_per_mitra", 20), ("free_trial_duration_minutes", 120),
        ("free_trial_enabled", False), ("early_end_mitra_enabled", True),
    ],
)
def test_patch_accepts_the_range_boundaries(operator_client, key, value):
    response = operator_client.patch("/internal/config", {key: value}, format="json")

    assert response.status_code == 200
    assert response.json()[key] == value


@pytest.mark.parametrize("body", [{}, [], "text", [{"max_customers_per_mitra": 2}]])
def test_patch_with_no_object_of_settings_is_400(operator_client, body):
    response = operator_client.patch("/internal/config", body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_config"
    assert ConfigEntry.objects.count() == 0


def test_patch_by_a_mitra_is_403_and_changes_nothing(mitra_client):
    response = mitra_client.patch("/internal/config", {"max_customers_per_mitra": 5}, format="json")

    assert response.status_code == 403
    assert ConfigEntry.objects.count() == 0


def test_the_safety_settings_start_with_the_specs_defaults():
    """SPEC §12: a starter list in Indonesian and English, and the default resources."""
    phrases = SETTINGS["crisis_phrases"].default
    for phrase in ("bunuh diri", "ingin mati", "mengakhiri hidup", "menyakiti diri", "self harm", "kill myself", "suicide"):
        assert phrase in phrases
    assert SETTINGS["crisis_resources"].default == [
        {"name": "Layanan kesehatan jiwa (Kemenkes)", "contact": "119 ext 8", "url": "", "hours": "24 jam"},
        {"name": "Healing119", "contact": "", "url": "https://healing119.id", "hours": "24 jam"},
        {"name": "Darurat", "contact": "112", "url": "", "hours": "24 jam"},
    ]
    for key, spec in SETTINGS.items():
        assert spec.validate(spec.default) == spec.default, key


@pytest.mark.parametrize(
    "key, value, error",
    [
        ("crisis_phrases", [], "Must be a list of at least one phrase."),
        ("crisis_phrases", ["bunuh diri", "BUNUH  DIRI"], 'Phrase 2: "BUNUH  DIRI" matches the same messages as "bunuh diri".'),
        ("crisis_phrases", ["oke", " padded"], "Phrase 2: Must not start or end with spaces."),
        ("crisis_resources", [{"name": "Darurat", "contact": "", "url": "", "hours": ""}], "Resource 1: Give a contact (phone number) or a url."),
        ("crisis_resources", [{"name": "X", "contact": "", "url": "ftp://x", "hours": ""}], "Resource 1 url: Must be an http(s) address, e.g. https://healing119.id."),
        ("safety_protocol_text", "", "Must not be empty."),
        ("rating_window_days", 91, "Must be between 1 and 90 hari."),
    ],
)
def test_patch_refuses_bad_safety_settings_with_a_readable_error(operator_client, key, value, error):
    response = operator_client.patch("/internal/config", {key: value}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {key: [error]}
    assert ConfigEntry.objects.count() == 0 and ConfigChange.objects.count() == 0
