"""Reading the control center's server-rendered HTML in tests (Django's test client):
text of a fragment, a table's cells, the page messages, admin changelist rows."""

from __future__ import annotations

import re
from html import unescape


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
