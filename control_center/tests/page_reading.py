"""Reading the control center's server-rendered HTML in tests (Django's test client):
the pages' addresses, text of a fragment, a table's cells, the page messages, admin
changelist rows; and the Settings form as a browser posts it."""

from __future__ import annotations

import re
from html import unescape

LOGIN = "/admin/login/"
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


def fragment_text(fragment: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


def page_html(response) -> str:
    return response.content.decode()


def table_cells(response, table_id: str) -> tuple[list[str], list[list[str]]]:
    """(header texts, body rows of cell texts) of the table with this id."""
    table = re.search(rf'<table[^>]*id="{table_id}"[^>]*>(.*?)</table>', page_html(response), re.S)
    assert table is not None, f"no table #{table_id}"
    head = re.search(r"<thead>(.*?)</thead>", table.group(1), re.S).group(1)
    body = re.search(r"<tbody>(.*?)</tbody>", table.group(1), re.S).group(1)
    header = [fragment_text(cell) for cell in re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)]
    rows = [
        [fragment_text(cell) for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]
    return header, rows


def page_messages(response) -> list[tuple[str, str]]:
    listed = re.search(r'<ul class="messagelist">(.*?)</ul>', page_html(response), re.S)
    if listed is None:
        return []
    return [(tags, fragment_text(text)) for tags, text in re.findall(r'<li class="([^"]*)">(.*?)</li>', listed.group(1), re.S)]


def changelist_rows(response) -> dict[str, dict]:
    """Admin changelist rows by object id → {column class: text}."""
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", re.search(r'<table id="result_list">(.*?)</table>', page_html(response), re.S).group(1), re.S):
        selected = re.search(r'name="_selected_action" value="([^"]+)"', row)
        cells = dict(re.findall(r'<t[dh] class="field-([a-z_]+)[^"]*"[^>]*>(.*?)</t[dh]>', row, re.S))
        if cells:
            rows[selected.group(1) if selected else str(len(rows))] = {name: fragment_text(value) for name, value in cells.items()}
    return rows


def settings_form_data(**overrides) -> dict:
    """The Settings form as a browser posts it: every current value, with ``overrides``
    (a False boolean is an unchecked box: absent from the post; a list is one input per
    phrase, or per resource field and row)."""
    from live_settings.registry import RESOURCE_FIELDS
    from live_settings.selectors import config_all_fresh

    values = {**config_all_fresh(), **overrides}
    data = {}
    for key, value in values.items():
        if isinstance(value, bool):
            if value:
                data[key] = "on"
        elif key == "crisis_resources":
            for field in RESOURCE_FIELDS:
                data[f"{key}-{field}"] = [resource[field] for resource in value]
        elif isinstance(value, list):
            data[key] = list(value)
        else:
            data[key] = str(value)
    return data
