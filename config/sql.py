"""Passing many values to one SQL statement.

Django's cursor binds parameters on the client (psycopg's ``ClientCursor``), and a Python
list becomes an array literal quoted element by element in Python: a blast's 1,000 mitra
ids, or a sweeper pass's 10,000 payment ids, cost milliseconds to tens of milliseconds
before the statement is even sent (``make bench`` P2, P6). One JSON document is encoded
in C and quoted as a single string; the statement unpacks it with
``jsonb_array_elements_text(%s::jsonb)`` (a list of values) or ``jsonb_to_recordset``
(a list of rows). https://www.postgresql.org/docs/current/functions-json.html
"""

from __future__ import annotations

import json


def json_param(values) -> str:
    """``values`` (lists, dicts, strings, numbers; UUIDs and other objects as ``str``) as
    one JSON parameter."""
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False, default=str)


def sql_literals(*values: str) -> str:
    """Constants of the code (status values, tags) as SQL string literals, comma-separated,
    for statements written out in SQL: ``status IN ({sql_literals(*LIVE_STATUSES)})``.
    The enums stay the one place their values are spelled. Never for input."""
    return ", ".join("'" + str(value).replace("'", "''") + "'" for value in values)
