"""The net under "no personal data in a log line" (SPEC §13; ``config/log_redaction.py``,
``config/web_server.py``): what a database error, a library or a URL would put in a
line is rewritten by the filter every ``LOGGING`` handler carries, in the web processes
and, through Celery's ``setup_logging``, in the worker and beat. The whole-scenario
scan is ``privacy/tests/test_log_scan.py``."""

from __future__ import annotations

import logging
import uuid

import pytest
from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.models import User
from config.log_redaction import RedactPersonalData, redact
from config.web_server import path_without_query_values

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VyX2lkIjoiYWJjIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.mark.parametrize(
    "line, expected",
    [
        ('DETAIL:  Failing row contains (5b1e, aku ingin mati saja, 2026-12-03).', "DETAIL:  Failing row contains (…)."),
        ("Key (email)=(ayu@example.test) already exists.", "Key (email)=(…) already exists."),
        ("Key (phone)=(+6281234567890) already exists.", "Key (phone)=(…) already exists."),
        (f"token {JWT} refused", "token [token] refused"),
        ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer [token]"),
        ("Authorization: Basic c2VydmVyLWtleTo=", "Authorization: Basic [token]"),
        ("GET /ws/client/?token=abc123&x=1", "GET /ws/client/?token=…&x=1"),
        ("login failed for Ayu.Rahasia@Example.test", "login failed for [email]"),
        ("call 081234567890 or +6281234567890 or 6281234567890", "call [phone] or [phone] or [phone]"),
    ],
)
def test_personal_data_is_rewritten(line, expected):
    assert redact(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "payment 08123456-0812-4567-8901-081234567890 confirmed",  # a UUID made of phone-like digits
        "celery@vm ready.",
        "sweeper expired 50000 payment sessions",
        "Task pairing.tasks.fire_due_timers[c9e82613-8e4a-48ac-81d0-e87ddc7a0ad1] succeeded in 0.04s: 0",
        '127.0.0.1:43808 - - "POST /api/chat/dd88ad3c-4966-476d-97db-1a18ba37c894/messages" 201 279',
    ],
)
def test_ids_counts_and_routes_stay_readable(line):
    assert redact(line) == line


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/admin/accounts/customerprofile/?q=081234567890", "/admin/accounts/customerprofile/?q=…"),
        ("/admin/failed-pairings/?cause_tags=a&cause_tags=b&page=2", "/admin/failed-pairings/?cause_tags=…&cause_tags=…&page=…"),
        ("/api/chat/1/messages", "/api/chat/1/messages"),
        ("/api/chat/1/messages?", "/api/chat/1/messages"),
    ],
)
def test_the_access_log_keeps_query_names_not_values(path, expected):
    assert path_without_query_values(path) == expected


def test_every_handler_of_logging_carries_the_filter():
    redact_filters = {name for name, spec in settings.LOGGING["filters"].items() if spec.get("()") == "config.log_redaction.RedactPersonalData"}
    assert redact_filters
    for name, handler in settings.LOGGING["handlers"].items():
        assert redact_filters & set(handler.get("filters", [])), name
    # and the configured root handlers in this process have it
    assert all(any(isinstance(f, RedactPersonalData) for f in h.filters) for h in logging.getLogger().handlers if h.name == "console")


@pytest.fixture(params=["plain", "json"])
def configured_handler(request):
    """A handler built as ``LOGGING`` builds the console one (its formatter and filters),
    writing into a buffer, on a logger of the test."""
    import io
    from logging.config import dictConfig

    buffer = io.StringIO()
    config = {
        **settings.LOGGING, "disable_existing_loggers": False, "root": {"handlers": []}, "loggers": {"curhat.redaction-test": {"handlers": ["buffer"], "level": "INFO", "propagate": False}},
        "handlers": {"buffer": {**settings.LOGGING["handlers"]["console"], "formatter": request.param, "stream": buffer}},
    }
    previous = logging.getLogger().handlers[:]
    dictConfig(config)
    yield buffer
    dictConfig(settings.LOGGING)
    logging.getLogger().handlers[:] = previous
    logging.getLogger("curhat.redaction-test").handlers.clear()


@pytest.mark.django_db
def test_a_database_error_logged_with_its_traceback_names_no_one(configured_handler):
    """A real unique violation: psycopg's message quotes the phone number it refused."""
    User.objects.create_user(phone="081234567890", password="x-password-123")
    try:
        with transaction.atomic():
            User.objects.create(id=uuid.uuid4(), phone="+6281234567890", email="ayu.rahasia@example.test")
    except IntegrityError:
        logging.getLogger("curhat.redaction-test").exception("could not save the account")
    else:
        pytest.fail("no IntegrityError")

    text = configured_handler.getvalue()
    if text.startswith("{"):  # JSON lines: their fields as written
        import json

        text = "\n".join(f"{line['message']}\n{line.get('exc_info', '')}" for line in map(json.loads, text.splitlines()))
    assert "could not save the account" in text and "IntegrityError" in text and "Key (phone)=(…) already exists" in text
    assert "6281234567890" not in text and "ayu.rahasia" not in text


def test_arguments_and_tracebacks_are_redacted_before_any_formatter():
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "login %s failed: %s", ("ayu@example.test", "Bearer abc"), None)
    try:
        raise ValueError("Failing row contains (1, rahasia Ayu).")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()

    assert RedactPersonalData().filter(record) is True
    text = logging.Formatter().format(record)
    assert "login [email] failed: Bearer [token]" in text
    assert "Failing row contains (…)." in text and "rahasia" not in text


def test_an_fcm_answer_is_logged_as_counts_without_device_tokens():
    from fcm_django.types import FirebaseResponseDict
    from firebase_admin import messaging

    from realtime.push import fcm_outcome

    answer = FirebaseResponseDict(
        response=messaging.BatchResponse(
            [messaging.SendResponse({"name": "projects/p/messages/1"}, None), messaging.SendResponse(None, ValueError("gone"))]
        ),
        registration_ids_sent=["fcm-token-of-ayu", "fcm-token-of-budi"],
        deactivated_registration_ids=["fcm-token-of-budi"],
    )

    assert fcm_outcome(answer) == "1 delivered, 1 failed, 1 device(s) deactivated"
