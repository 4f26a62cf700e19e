"""The safety settings (API.md: ``crisis_phrases``, ``crisis_resources``,
``safety_protocol_text``, ``rating_window_days``): validated on save like every key,
a bad value refused with a clear message and nothing saved."""

from __future__ import annotations

import pytest
from django.http import QueryDict

from live_settings.models import ConfigEntry
from live_settings.registry import SETTINGS

pytestmark = pytest.mark.django_db

RESOURCE = {"name": "Layanan kesehatan jiwa", "contact": "119 ext 8", "url": "", "hours": "24 jam"}


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("crisis_phrases", [], "Must be a list of at least one phrase."),
        ("crisis_phrases", "bunuh diri", "Must be a list of at least one phrase."),
        ("crisis_phrases", ["bunuh diri", 5], "Phrase 2: Must be text."),
        ("crisis_phrases", ["bunuh diri", ""], "Phrase 2: Must not be empty."),
        ("crisis_phrases", [" bunuh diri"], "Phrase 1: Must not start or end with spaces."),
        ("crisis_phrases", ["..."], "Phrase 1: Must contain at least 3 letters or digits."),
        ("crisis_phrases", ["!!"], "Phrase 1: Must contain at least 3 letters or digits."),
        ("crisis_phrases", ["x" * 101], "Phrase 1: At most 100 characters."),
        ("crisis_phrases", ["bunuh diri", "BUNUH  D1RI"], 'Phrase 2: "BUNUH  D1RI" matches the same messages as "bunuh diri".'),
        ("crisis_phrases", [f"frasa {i}" for i in range(501)], "At most 500 phrases."),
        ("crisis_resources", [], "Must be a list of at least one resource."),
        ("crisis_resources", [{"name": "x"}], "Resource 1: Must have exactly the fields name, contact, url, hours."),
        ("crisis_resources", [{**RESOURCE, "extra": 1}], "Resource 1: Must have exactly the fields name, contact, url, hours."),
        ("crisis_resources", [{**RESOURCE, "name": ""}], "Resource 1 name: Must not be empty."),
        ("crisis_resources", [{**RESOURCE, "contact": "", "url": ""}], "Resource 1: Give a contact (phone number) or a url."),
        ("crisis_resources", [{**RESOURCE, "url": "javascript:alert(1)"}], "Resource 1 url: Must be an http(s) address, e.g. https://healing119.id."),
        ("crisis_resources", [RESOURCE, {**RESOURCE, "hours": 24}], "Resource 2 hours: Must be text."),
        ("safety_protocol_text", "", "Must not be empty."),
        ("safety_protocol_text", "x" * 2001, "At most 2000 characters."),
        ("safety_protocol_text", ["teks"], "Must be text."),
        ("rating_window_days", 0, "Must be between 1 and 90 hari."),
        ("rating_window_days", 91, "Must be between 1 and 90 hari."),
    ],
)
def test_a_bad_safety_setting_is_refused_with_its_message_and_nothing_is_saved(operator_client, key, value, message):
    response = operator_client.patch("/internal/config", {"rating_window_days": 5, key: value}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {key: [message]}
    assert not ConfigEntry.objects.exists()


def test_the_safety_settings_are_saved_and_read_back(operator_client):
    values = {
        "crisis_phrases": ["capek hidup", "ingin menghilang"],
        "crisis_resources": [RESOURCE, {"name": "Into The Light", "contact": "", "url": "https://www.intothelightid.org", "hours": ""}],
        "safety_protocol_text": "Dengarkan. Tanyakan apakah ia aman.",
        "rating_window_days": 14,
    }

    response = operator_client.patch("/internal/config", values, format="json")

    assert response.status_code == 200
    assert {k: response.json()[k] for k in values} == values
    assert {k: operator_client.get("/internal/config").json()[k] for k in values} == values


def test_a_form_submits_lists_as_repeated_inputs_and_drops_empty_rows():
    form = QueryDict(mutable=True)
    form.setlist("crisis_phrases", [" bunuh diri ", "", "self harm"])
    for field, values in {"name": ["Darurat", "", " Healing119"], "contact": ["112", "", ""], "url": ["", "", "https://healing119.id"], "hours": ["24 jam", "", ""]}.items():
        form.setlist(f"crisis_resources-{field}", values)
    form["safety_protocol_text"] = "  Tetap tenang.\r\nDengarkan.  "

    assert SETTINGS["crisis_phrases"].parse_form(form) == ["bunuh diri", "self harm"]
    assert SETTINGS["crisis_resources"].parse_form(form) == [
        {"name": "Darurat", "contact": "112", "url": "", "hours": "24 jam"},
        {"name": "Healing119", "contact": "", "url": "https://healing119.id", "hours": ""},
    ]
    assert SETTINGS["safety_protocol_text"].parse_form(form) == "Tetap tenang.\nDengarkan."
