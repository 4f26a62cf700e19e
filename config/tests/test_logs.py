"""Log lines (``LOGGING`` in settings, ``config/request_id.py``): JSON lines with the
request id, the id taken from or given to the client, carried into the Celery tasks a
request enqueues, and daphne's access log without query strings."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import logging.config

import pytest
from channels.testing import HttpCommunicator
from django.conf import settings as django_settings

from config.asgi import application
from config.request_id import RequestIdAsgi, current_request_id
from config.web_server import AccessLog
from conftest import eventually
from safety.tests.conftest import session_between  # noqa: F401 (a fixture)

JSON_FIELDS = {"time", "level", "logger", "message", "request_id"}


@pytest.fixture
def log_lines():
    """What the root logger writes in a given format (``LOGGING``'s own formatter and
    filter): ``lines("json")`` → a StringIO collecting it from now on."""
    handlers = []

    def capture(fmt: str = "json") -> io.StringIO:
        stream = io.StringIO()
        config = {
            "version": 1, "disable_existing_loggers": False,
            "filters": django_settings.LOGGING["filters"],
            "formatters": {fmt: django_settings.LOGGING["formatters"][fmt]},
            "handlers": {"capture": {"class": "logging.StreamHandler", "stream": stream, "formatter": fmt, "filters": ["request_id"]}},
        }
        # a copy made by dictConfig on a throwaway logger, then moved to the root
        logging.config.dictConfig({**config, "loggers": {"curhat-test-capture": {"handlers": ["capture"], "propagate": False}}})
        handler = logging.getLogger("curhat-test-capture").handlers[0]
        logging.getLogger().addHandler(handler)
        handlers.append(handler)
        return stream

    yield capture
    for handler in handlers:
        logging.getLogger().removeHandler(handler)


def _json_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def _call(path: str, headers: list[tuple[bytes, bytes]], *, app=application, method: str = "GET", body: bytes = b"") -> dict:
    async def call():
        return await HttpCommunicator(app, method, path, body=body, headers=[(b"host", b"localhost"), *headers]).get_response(timeout=30)

    return asyncio.run(call())


def _header(response: dict, name: bytes) -> list[str]:
    return [value.decode() for key, value in response["headers"] if key.lower() == name]


# --- the format ---------------------------------------------------------------------------------
def test_a_json_line_is_one_object_with_time_level_logger_message_and_request_id(log_lines):
    stream = log_lines("json")
    logger = logging.getLogger("curhat.test")
    token = current_request_id.set("req-123")
    try:
        logger.warning("payment %s: the gateway said %s", "p1", "no")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("it failed")
    finally:
        current_request_id.reset(token)
    logger.info("outside a request")

    lines = stream.getvalue().splitlines()
    assert len(lines) == 3  # the traceback stays inside its line
    first, second, third = map(json.loads, lines)
    assert set(first) == JSON_FIELDS
    assert (first["level"], first["logger"], first["message"], first["request_id"]) == (
        "WARNING", "curhat.test", "payment p1: the gateway said no", "req-123",
    )
    assert first["time"].endswith("+00:00") and "T" in first["time"]
    assert (second["level"], second["request_id"]) == ("ERROR", "req-123")
    assert "ValueError: boom" in second["exc_info"]
    assert (third["message"], third["request_id"]) == ("outside a request", None)


def test_plain_lines_show_the_request_id_or_a_dash(log_lines):
    stream = log_lines("plain")
    logger = logging.getLogger("curhat.test")
    token = current_request_id.set("req-9")
    logger.warning("inside")
    current_request_id.reset(token)
    logger.warning("outside")

    inside, outside = stream.getvalue().splitlines()
    assert inside.endswith("WARNING curhat.test [req-9] inside")
    assert outside.endswith("WARNING curhat.test [-] outside")


# --- the request id -----------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_the_clients_request_id_comes_back_and_is_in_the_requests_log_lines(log_lines):
    stream = log_lines("json")

    response = _call("/api/no-such-thing?q=ayu%40example.test", [(b"x-request-id", b"client-id_1.2")])

    assert response["status"] == 404
    assert _header(response, b"x-request-id") == ["client-id_1.2"]
    lines = [line for line in _json_lines(stream) if line["logger"] == "django.request"]
    assert [(line["message"], line["request_id"]) for line in lines] == [("Not Found: /api/no-such-thing", "client-id_1.2")]
    # Django attaches the request (its text has the query string): only the fixed fields are written
    assert set(lines[0]) == JSON_FIELDS
    assert "ayu" not in stream.getvalue()


@pytest.mark.parametrize(
    "given",
    [b"x" * 65, b"has space", b"mail@example.test", b"+6281234567890", b"semi;colon", b"new\\nline", b""],
)
@pytest.mark.django_db(transaction=True)
def test_an_unfit_request_id_is_replaced_by_a_new_one(given):
    response = _call("/health", [(b"x-request-id", given)])

    (rid,) = _header(response, b"x-request-id")
    assert rid != given.decode() and len(rid) == 32 and int(rid, 16) >= 0


@pytest.mark.django_db(transaction=True)
def test_two_request_id_headers_get_one_new_id_and_none_gets_one():
    twice = _call("/health", [(b"x-request-id", b"aaa"), (b"x-request-id", b"bbb")])
    none = _call("/health", [])

    assert [len(v) for v in _header(twice, b"x-request-id")] == [32]
    assert [len(v) for v in _header(none, b"x-request-id")] == [32]
    assert _header(twice, b"x-request-id") != _header(none, b"x-request-id")


def test_a_fast_path_answer_carries_the_id_and_its_log_lines_too(log_lines):
    """The ASGI layer covers what never reaches Django (here: an app answering itself)."""
    stream = log_lines("json")

    async def fast_path(scope, receive, send):
        logging.getLogger("curhat.fast").warning("answered on the loop")
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    response = _call("/anything", [(b"x-request-id", b"fast-1")], app=RequestIdAsgi(fast_path))

    assert _header(response, b"x-request-id") == ["fast-1"]
    assert [(line["message"], line["request_id"]) for line in _json_lines(stream)] == [("answered on the loop", "fast-1")]
    assert current_request_id.get() is None


@pytest.mark.django_db
def test_django_alone_takes_a_sane_id_and_replaces_an_unfit_one(client):
    """Without the ASGI layer (Django's test client, another server) the middleware does it."""
    kept = client.get("/health", HTTP_X_REQUEST_ID="abc-DEF_1.0")
    replaced = client.get("/health", HTTP_X_REQUEST_ID="ayu@example.test")

    assert kept["X-Request-ID"] == "abc-DEF_1.0"
    assert replaced["X-Request-ID"] != "ayu@example.test" and len(replaced["X-Request-ID"]) == 32


# --- into Celery --------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_task_enqueued_by_a_request_logs_with_its_request_id_in_a_real_worker(celery_process, session_between, make_customer):
    """A customer's crisis message enqueues the alert task after its commit (from the
    screening thread); the worker's log line of that task carries the request's id, in
    JSON as production writes it. Once through the message fast path (the ASGI app as
    daphne drives it), once through Django (the test client)."""
    from pairing.tests.live import run_like_a_web_process
    from safety.models import SafetyAlert

    worker = celery_process("worker", env={"LOG_FORMAT": "json"})
    fast_session, fast_customer, _ = session_between(customer=make_customer())
    django_session, django_customer, _ = session_between(customer=make_customer())
    body = json.dumps({"client_message_id": "m1", "text": "aku ingin mati"}).encode()
    token = fast_customer.tokens["access"]

    async def through_the_fast_path():
        return await HttpCommunicator(
            application, "POST", f"/api/chat/{fast_session}/messages", body=body,
            headers=[(b"host", b"localhost"), (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                     (b"authorization", f"Bearer {token}".encode()), (b"x-request-id", b"fast-path-req")],
        ).get_response(timeout=30)

    fast = run_like_a_web_process(through_the_fast_path)
    slow = django_customer.post(
        f"/api/chat/{django_session}/messages", {"client_message_id": "m2", "text": "aku ingin mati"}, format="json",
        HTTP_X_REQUEST_ID="django-req",
    )
    assert (fast["status"], _header(fast, b"x-request-id")) == (201, ["fast-path-req"])
    assert (slow.status_code, slow["X-Request-ID"]) == (201, "django-req")

    def alert_lines() -> dict[str, str]:
        found = {}
        for raw in worker.log_path.read_text().splitlines():
            if raw.startswith("{"):
                line = json.loads(raw)
                assert set(line) >= JSON_FIELDS
                if line["logger"] == "safety.crisis" and line["message"].startswith("safety alert raised"):
                    found[line["message"].split("session ")[1].split(",")[0]] = line["request_id"]
        return found

    eventually(lambda: len(alert_lines()) >= 2, "both alert lines in the worker's log")
    assert alert_lines() == {fast_session: "fast-path-req", django_session: "django-req"}
    assert SafetyAlert.objects.filter(chat_session_id__in=[fast_session, django_session]).count() == 2
    # a task of no request (the worker's own backstop at its start) logs without one
    assert all(json.loads(raw)["request_id"] in (None, "fast-path-req", "django-req")
               for raw in worker.log_path.read_text().splitlines() if raw.startswith("{"))


# --- daphne's access log ------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_the_access_log_goes_through_logging_without_query_values(fmt, log_lines):
    """``config/web_server.py``: to stdout, daphne's access log is a ``curhat.access``
    line in the configured format; a query keeps its names, never its values."""
    import sys

    lines = log_lines(fmt)
    details = {"method": "GET", "path": "/admin/accounts/user/?q=ayu%40example.test", "status": 200, "size": 512, "client": "127.0.0.1:5000"}

    AccessLog(sys.stdout)("http", "complete", details)
    AccessLog(sys.stdout)("websocket", "connected", {"path": "/ws/client/", "client": "127.0.0.1:5001"})

    text = lines.getvalue()
    assert "ayu" not in text
    if fmt == "json":
        http_line, ws_line = _json_lines(lines)
        assert (http_line["level"], http_line["logger"]) == ("INFO", "curhat.access")
        assert http_line["message"] == '127.0.0.1:5000 "GET /admin/accounts/user/?q=…" 200 512'
        assert ws_line["message"] == '127.0.0.1:5001 "WSCONNECT /ws/client/" - -'
    else:
        assert 'curhat.access [-] 127.0.0.1:5000 "GET /admin/accounts/user/?q=…" 200 512' in text
