"""Login identifiers: phones in one canonical form, emails lower-cased.

Indonesian numbers arrive as ``0812…``, ``62812…`` or ``+62 812-…``; all become
``+62812…`` so the same person cannot register twice under two spellings.
"""

from __future__ import annotations

import re

_PHONE_CHARS = re.compile(r"[\s\-().]")
_PHONE_SHAPE = re.compile(r"^\+[1-9]\d{7,14}$")


def normalize_phone(raw: str) -> str:
    """Return the canonical ``+<country><number>`` form; raise ValueError if it is no phone."""
    phone = _PHONE_CHARS.sub("", raw or "")
    if phone.startswith("00"):
        phone = "+" + phone[2:]
    elif phone.startswith("0"):
        phone = "+62" + phone[1:]
    elif phone.startswith("62"):
        phone = "+" + phone
    if not _PHONE_SHAPE.match(phone):
        raise ValueError("Enter a valid phone number, e.g. 081234567890 or +6281234567890.")
    return phone


def normalize_email(raw: str) -> str:
    return (raw or "").strip().lower()


def looks_like_email(login: str) -> bool:
    return "@" in login


def login_identifier(login: str) -> str:
    """One key per person for a typed login: an email lower-cased, a phone in its
    canonical form (``0812…``, ``62812…`` and ``+62 812-…`` are one), anything else as
    typed (lower-cased). Failed-login limits count per this key."""
    login = (login or "").strip()
    if looks_like_email(login):
        return normalize_email(login)
    try:
        return normalize_phone(login)
    except ValueError:
        return login.lower()
