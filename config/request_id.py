"""One id per HTTP request, in every log line the request causes, here and in the Celery
tasks it enqueues.

The id is the client's ``X-Request-ID`` when that is a sane token (1–64 of
``A-Z a-z 0-9 . _ -``), else a new one (32 hex digits); the response carries it back in
``X-Request-ID``. It lives in a context variable:

- ``RequestIdAsgi`` sets it for every HTTP request daphne serves, the fast paths
  (``pairing/api/fast_paths.py``, ``chat/api/fast_paths.py``) included, which never
  reach Django's middleware; it also puts the id it chose into the request's headers,
  so Django sees the same one, and adds the response header when Django did not;
- ``config.wsgi_bridge`` hands it to the thread that runs the Django request
  (``with_request_id``), as the crisis screening does to its thread;
- ``RequestIdMiddleware`` sets it for requests that reach Django without that layer
  (Django's test client, another server) and sets the response header;
- Celery: ``before_task_publish`` copies it into the message headers of a task
  enqueued meanwhile (after-commit hooks run on the request's thread, inside its
  context), ``task_prerun`` sets it on the worker's thread, ``task_postrun`` clears it;
- ``RequestIdFilter`` adds it to each log record as ``request_id``.

https://docs.python.org/3/library/contextvars.html
https://docs.celeryq.dev/en/stable/userguide/signals.html#before-task-publish
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"
TASK_HEADER = "curhat_request_id"
_ASGI_HEADER = b"x-request-id"
_SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")

current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)


def request_id_accept(raw) -> str | None:
    """``raw`` when it is a sane token, else None."""
    if isinstance(raw, bytes):
        raw = raw.decode("latin-1")
    if isinstance(raw, str) and _SANE.fullmatch(raw):
        return raw
    return None


def request_id_new() -> str:
    return uuid.uuid4().hex


class RequestIdAsgi:
    """ASGI middleware for ``http`` scopes (the outermost layer of ``config.asgi``)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = [value for name, value in scope["headers"] if name == _ASGI_HEADER]
        rid = request_id_accept(given[0]) if len(given) == 1 else None
        if rid is None:
            rid = request_id_new()
            headers = [(name, value) for name, value in scope["headers"] if name != _ASGI_HEADER]
            headers.append((_ASGI_HEADER, rid.encode()))
            scope = {**scope, "headers": headers}
        header = (_ASGI_HEADER, rid.encode())

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if not any(name.lower() == _ASGI_HEADER for name, _ in headers):
                    message = {**message, "headers": [*headers, header]}
            await send(message)

        token = current_request_id.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current_request_id.reset(token)


def RequestIdMiddleware(get_response):
    """Django middleware (first in ``MIDDLEWARE``); behind ``RequestIdAsgi`` the header is
    already sane and kept as it is."""

    def middleware(request):
        rid = request_id_accept(request.META.get(META_KEY)) or request_id_new()
        token = current_request_id.set(rid)
        try:
            response = get_response(request)
        finally:
            current_request_id.reset(token)
        response.headers[HEADER] = rid
        return response

    return middleware


def with_request_id(func):
    """``func`` carrying the current request id to another thread (run it there).

    Not ``contextvars.copy_context().run``: Django keeps per-thread state in context
    variables too (``caches``, through asgiref's ``Local``), and a thread running each
    request in a fresh copy would build new cache clients, and connect again, every time.
    """
    rid = current_request_id.get()

    def run(*args, **kwargs):
        token = current_request_id.set(rid)
        try:
            return func(*args, **kwargs)
        finally:
            current_request_id.reset(token)

    return run


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record a handler formats, within a request or a task
    it enqueued (outside: the formatter's default, ``-`` or JSON ``null``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid = current_request_id.get()
        if rid is not None:
            record.request_id = rid
        return True


# --- Celery -------------------------------------------------------------------------------------
def task_headers_add(headers: dict | None) -> None:
    """``before_task_publish``: the current request's id into the message headers."""
    rid = current_request_id.get()
    if rid is not None and headers is not None:
        headers[TASK_HEADER] = rid


def task_started(task) -> None:
    """``task_prerun``: the id the message carries (or none) on the worker's thread."""
    request = getattr(task, "request", None)
    current_request_id.set(request_id_accept(getattr(request, TASK_HEADER, None)) if request is not None else None)


def task_finished() -> None:
    """``task_postrun``: the thread runs the next task without it."""
    current_request_id.set(None)
