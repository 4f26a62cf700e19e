"""The JSON log line: python-json-logger (https://nhairs.github.io/python-json-logger/)
with a fixed set of fields.

Libraries attach objects to their records as extras, and python-json-logger writes every
extra by default: Django's ``django.request`` attaches the request (whose text holds the
full path with its query string), Celery attaches a task's arguments on failure. Only
the fields below reach a line, in this order.
"""

from __future__ import annotations

from pythonjsonlogger.json import JsonFormatter as LibraryJsonFormatter

from config.log_redaction import redact

FIELDS = ("time", "level", "logger", "message", "request_id", "exc_info", "stack_info")


class JsonFormatter(LibraryJsonFormatter):
    def formatException(self, ei) -> str:
        # python-json-logger formats the traceback itself (not the redaction filter's
        # ``exc_text``): redacted here too (config/log_redaction.py)
        return redact(super().formatException(ei))

    def formatStack(self, stack_info) -> str:
        return redact(super().formatStack(stack_info))

    def process_log_record(self, log_data):
        return {field: log_data[field] for field in FIELDS if field in log_data}
