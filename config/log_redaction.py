"""No personal data in a log line (SPEC §13), whatever wrote it.

The code logs ids, counts and codes, never a message text, a phone number, an email or
a token (``privacy/tests/test_log_scan.py`` runs a whole scenario and scans every line).
This filter, on every handler of ``LOGGING``, is the net under that rule for what the
code does not choose to log: a database error that quotes the row it refused
(``Failing row contains (…)``, ``Key (email)=(…)``) in a traceback, an email or phone
number inside a library's message, a bearer or JWT token, a ``?token=`` in a URL.
It rewrites the record (message, arguments, traceback) before any formatter sees it.
"""

from __future__ import annotations

import logging
import re

REDACTIONS: tuple[tuple[re.Pattern, str], ...] = (
    # PostgreSQL's DETAIL lines quote the values of the row or key they refused
    (re.compile(r"Failing row contains \(.*?\)\.?(?=\n|$)", re.S), "Failing row contains (…)."),
    (re.compile(r"Key \(([^)]*)\)=\(.*?\)(?= already exists| is not present| conflicts)", re.S), r"Key (\1)=(…)"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}"), "[token]"),
    (re.compile(r"(\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]+", re.I), r"\1[token]"),
    (re.compile(r"([?&;](?:token|access|refresh|password|login|q|email|phone)=)[^&;\s\"']*", re.I), r"\1…"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"), "[email]"),
    # Indonesian mobile numbers as people type them (0812…, 62812…, +62812…); never
    # a piece of a UUID or of a longer number
    (re.compile(r"(?<![\w-])(?:\+?62|0)8\d{7,12}(?![\w-])"), "[phone]"),
)


def redact(text: str) -> str:
    for pattern, replacement in REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactPersonalData(logging.Filter):
    """A handler filter: the record's message, arguments and traceback, redacted."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logger's problem, not ours
            message = str(record.msg)
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
