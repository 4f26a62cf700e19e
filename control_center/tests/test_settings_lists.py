"""The Settings page's safety settings (SPEC §12), with Django's test client: the crisis
phrases and resources as list editors (one input per phrase; one row of inputs per
resource; spare empty rows so the page works without JavaScript), the protocol text as
a textarea, errors at the field, submitted values kept on a refused save, and the
history showing lists readably."""

from __future__ import annotations

import re

import pytest

from control_center.tests.page_reading import fragment_text, page_html, page_messages, table_cells
from control_center.tests.page_reading import settings_form_data as _form
from live_settings.models import ConfigChange
from live_settings.registry import DEFAULT_CRISIS_PHRASES, DEFAULT_CRISIS_RESOURCES, DEFAULT_SAFETY_PROTOCOL_TEXT
from live_settings.selectors import config_all_fresh

pytestmark = pytest.mark.django_db

SETTINGS_PAGE = "/admin/settings/"
RESOURCE_FIELDS = ("name", "contact", "url", "hours")


def _block(response, key: str) -> str:
    found = re.search(rf'<div class="cc-field[^"]*" id="setting-{key}">(.*?)(?=<div class="cc-field|<input type="submit")', page_html(response), re.S)
    assert found is not None, key
    return found.group(1)


def _errors(response, key: str) -> list[str]:
    return [fragment_text(e) for e in re.findall(r'<div class="cc-errors" role="alert">(.*?)</div>', _block(response, key), re.S)]


def _phrase_inputs(response) -> list[str]:
    return re.findall(r'<input type="text" name="crisis_phrases" value="([^"]*)"', _block(response, "crisis_phrases").split("<template")[0])


def _resource_rows(response) -> list[dict]:
    block = _block(response, "crisis_resources").split("<template")[0]
    columns = {f: re.findall(rf'<input type="text" name="crisis_resources-{f}" value="([^"]*)"', block) for f in RESOURCE_FIELDS}
    return [dict(zip(RESOURCE_FIELDS, values)) for values in zip(*columns.values())]


def test_the_lists_render_one_input_per_item_plus_spare_rows(cc):
    response = cc.get(SETTINGS_PAGE)

    assert response.status_code == 200
    phrases = _block(response, "crisis_phrases")
    assert re.search(r'<legend class="cc-label">Frasa Krisis</legend>', phrases)
    assert _phrase_inputs(response) == DEFAULT_CRISIS_PHRASES + ["", "", ""]
    assert re.search(r'aria-label="Phrase 1"', phrases)
    assert re.search(r'<button type="button" class="cc-add" hidden>Add phrase</button>', phrases)
    assert _resource_rows(response) == DEFAULT_CRISIS_RESOURCES + [dict.fromkeys(RESOURCE_FIELDS, "")] * 2
    assert re.search(r'aria-label="Resource 2 url"', _block(response, "crisis_resources"))
    text = _block(response, "safety_protocol_text")
    assert re.search(r'<label class="cc-label" for="id_safety_protocol_text">Panduan Bestie Saat Krisis</label>', text)
    assert fragment_text(re.search(r"<textarea[^>]*>(.*?)</textarea>", text, re.S).group(1)) == DEFAULT_SAFETY_PROTOCOL_TEXT
    assert re.search(r'<input type="number" id="id_rating_window_days" name="rating_window_days" value="7" min="1" max="90"', page_html(response))


def test_an_added_and_a_removed_phrase_are_saved_and_the_history_says_which(cc, operator):
    # given: the operator adds one phrase, clears one, and leaves the spare rows empty
    phrases = [p for p in DEFAULT_CRISIS_PHRASES if p != "suicide"] + ["  capek hidup  ", "", ""]
    data = _form()
    data["crisis_phrases"] = phrases

    # when
    response = cc.post(SETTINGS_PAGE, data, follow=True)

    # then
    assert page_messages(response) == [("success", "Saved 1 setting(s); every process uses the new values now.")]
    expected = [p for p in DEFAULT_CRISIS_PHRASES if p != "suicide"] + ["capek hidup"]
    assert config_all_fresh()["crisis_phrases"] == expected
    assert list(ConfigChange.objects.values_list("key", "new_value", "changed_by_id")) == [("crisis_phrases", expected, operator.id)]
    assert _phrase_inputs(response) == expected + ["", "", ""]
    _, history = table_cells(response, "settings-history")
    [row] = history
    assert row[1] == "crisis_phrases Added: capek hidup. Removed: suicide."
    assert row[3] == ", ".join(expected)


def test_resources_are_saved_row_by_row_and_empty_rows_are_dropped(cc):
    data = _form()
    data.update({
        "crisis_resources-name": ["Darurat", "", "Into The Light", ""],
        "crisis_resources-contact": ["112", "", "", ""],
        "crisis_resources-url": ["", "", "https://www.intothelightid.org", ""],
        "crisis_resources-hours": ["24 jam", "", "", ""],
    })

    response = cc.post(SETTINGS_PAGE, data, follow=True)

    assert page_messages(response)[0][0] == "success"
    assert config_all_fresh()["crisis_resources"] == [
        {"name": "Darurat", "contact": "112", "url": "", "hours": "24 jam"},
        {"name": "Into The Light", "contact": "", "url": "https://www.intothelightid.org", "hours": ""},
    ]
    _, history = table_cells(response, "settings-history")
    assert history[0][3] == "Darurat · 112 · 24 jam; Into The Light · https://www.intothelightid.org"


def test_the_protocol_text_is_saved_with_its_line_breaks(cc):
    data = _form(safety_protocol_text="Tetap tenang.\r\nTanyakan apakah ia aman.")

    cc.post(SETTINGS_PAGE, data)

    assert config_all_fresh()["safety_protocol_text"] == "Tetap tenang.\nTanyakan apakah ia aman."


@pytest.mark.parametrize(
    ("key", "post", "error"),
    [
        ("crisis_phrases", {"crisis_phrases": ["bunuh diri", "Bunuh  Diri", "ingin mati"]}, 'Phrase 2: "Bunuh Diri" matches the same messages as "bunuh diri".'),
        ("crisis_phrases", {"crisis_phrases": ["", " "]}, "Must be a list of at least one phrase."),
        ("crisis_phrases", {"crisis_phrases": ["oke", "x" * 101]}, "Phrase 2: At most 100 characters."),
        (
            "crisis_resources",
            {"crisis_resources-name": ["Darurat", "Healing119"], "crisis_resources-contact": ["112", ""],
             "crisis_resources-url": ["", "healing119.id"], "crisis_resources-hours": ["", ""]},
            "Resource 2 url: Must be an http(s) address, e.g. https://healing119.id.",
        ),
        (
            "crisis_resources",
            {"crisis_resources-name": ["", "Darurat"], "crisis_resources-contact": ["112", ""],
             "crisis_resources-url": ["", ""], "crisis_resources-hours": ["", ""]},
            "Resource 1 name: Must not be empty.",
        ),
        ("safety_protocol_text", {"safety_protocol_text": "   "}, "Must not be empty."),
        ("rating_window_days", {"rating_window_days": "0"}, "Must be between 1 and 90 hari."),
    ],
    ids=["duplicate_phrase", "no_phrase", "long_phrase", "bad_url", "resource_without_name", "empty_text", "window_out_of_range"],
)
def test_an_invalid_list_or_text_is_refused_at_its_field_and_nothing_is_saved(key, post, error, cc):
    # given: a post with one bad setting and a valid change elsewhere
    before = config_all_fresh()
    data = _form(pairing_blast_timeout_seconds=45)
    data.update(post)

    # when
    response = cc.post(SETTINGS_PAGE, data)

    # then
    assert response.status_code == 400
    assert page_messages(response) == [("error", "Nothing was saved: fix the highlighted settings.")]
    assert _errors(response, key) == [error]
    assert config_all_fresh() == before
    assert ConfigChange.objects.count() == 0
    # what the operator typed is still there to fix (the valid change too)
    assert re.search(r'name="pairing_blast_timeout_seconds" value="45"', page_html(response))


def test_a_refused_save_keeps_the_submitted_list_rows(cc):
    data = _form()
    data["crisis_phrases"] = ["bunuh diri", "capek hidup", "BUNUH DIRI"]
    data.update({
        "crisis_resources-name": ["Darurat", "Baru"], "crisis_resources-contact": ["112", ""],
        "crisis_resources-url": ["", ""], "crisis_resources-hours": ["24 jam", "malam"],
    })

    response = cc.post(SETTINGS_PAGE, data)

    assert response.status_code == 400
    assert _phrase_inputs(response) == ["bunuh diri", "capek hidup", "BUNUH DIRI", "", "", ""]
    assert _resource_rows(response)[:2] == [
        {"name": "Darurat", "contact": "112", "url": "", "hours": "24 jam"},
        {"name": "Baru", "contact": "", "url": "", "hours": "malam"},
    ]
    assert _errors(response, "crisis_resources") == ["Resource 2: Give a contact (phone number) or a url."]
    assert config_all_fresh()["crisis_phrases"] == DEFAULT_CRISIS_PHRASES
    assert config_all_fresh()["crisis_resources"] == DEFAULT_CRISIS_RESOURCES


def test_unchanged_lists_save_nothing(cc):
    response = cc.post(SETTINGS_PAGE, _form(), follow=True)

    assert page_messages(response) == [("info", "Nothing changed.")]
    assert ConfigChange.objects.count() == 0
