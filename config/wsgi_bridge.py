"""Django's request handling on a fixed pool of threads, inside daphne.

Under ``get_asgi_application()`` every request gets a new thread of its own (asgiref's
``ThreadSensitiveContext`` builds an executor per request) and hops between that thread
and the event loop several times (a sync-only middleware turns the chain sync; each
``MiddlewareMixin`` hop and the view are separate ``sync_to_async`` calls). Under load
that meant hundreds of threads per process, half the CPU in the kernel (thread
creation, GIL hand-offs) and 30 messages/s served (``make bench`` P4).

Here the HTTP request is read on the event loop, then Django's WSGI handler runs the
whole request — middleware, view, response iteration and ``request_finished`` (which
returns the database connection) — in one go on one of ``WEB_THREADS`` long-lived
threads; the loop then sends the response. The WSGI handler
is Django's own (https://docs.djangoproject.com/en/5.2/howto/deployment/wsgi/); the
environ is built by asgiref's ``WsgiToAsgiInstance.build_environ``. Websockets stay
on Channels, on the same port.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from tempfile import SpooledTemporaryFile

from asgiref.wsgi import WsgiToAsgiInstance
from django.conf import settings

from config.errors import ErrorCode
from config.request_id import with_request_id
from metrics.http import ROUTE_LABEL


def _error(status: int, code: str, detail: str) -> tuple[dict, dict]:
    """API.md's error shape, for the requests Django never sees (sent as copies: a
    server may consume the messages it is given)."""
    body = json.dumps({"code": code, "detail": detail}).encode()
    return (
        {"type": "http.response.start", "status": status,
         "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]},
        {"type": "http.response.body", "body": body},
    )


_BAD_REQUEST = _error(400, ErrorCode.INVALID_INPUT, "Too many duplicate headers.")
_TOO_LARGE = _error(413, ErrorCode.PAYLOAD_TOO_LARGE, "The request body is too large.")


COUNTED_RATE_LIMITS = "curhat.counted_rate_limits"


def _declared_length(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class ThreadPoolWsgi:
    """An ASGI app (``http`` scopes) running a WSGI app on a bounded thread pool."""

    def __init__(self, wsgi_application, *, threads: int):
        self.wsgi_application = wsgi_application
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="django-request")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"ThreadPoolWsgi serves http scopes, not {scope['type']}")
        loop = asyncio.get_running_loop()
        # a body over Django's own limit is refused before it is read (API.md: 413)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            return await self._send_all(send, _TOO_LARGE)
        with SpooledTemporaryFile(max_size=65536) as body:
            size = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # the client left before sending its body: nobody to answer
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:  # a chunked body without Content-Length
                    return await self._send_all(send, _TOO_LARGE)
                body.write(chunk)
                if not message.get("more_body"):
                    break
            body.seek(0)
            # with the request's id for its log lines (config/request_id.py)
            messages = await loop.run_in_executor(self.executor, with_request_id(self._handle), scope, body)
        await self._send_all(send, messages)

    @staticmethod
    async def _send_all(send, messages) -> None:
        for message in messages:
            await send(dict(message))

    def _handle(self, scope, body) -> list[dict]:
        """On a pool thread: the whole Django request. Returns the response as ASGI
        messages; collecting it here keeps a request to one hop each way (API answers
        are small; nothing here streams)."""
        instance = WsgiToAsgiInstance(self.wsgi_application)
        instance.scope = scope
        try:
            environ = instance.build_environ(scope, body)
        except ValueError:  # too many duplicate headers
            return list(_BAD_REQUEST)
        # the body is read whole already: its length is what Django may read (a chunked
        # request carries no Content-Length, and WSGI reads nothing without one)
        environ["CONTENT_LENGTH"] = str(body.seek(0, 2))
        body.seek(0)
        # rate limits an ASGI fast path already counted for this request (a client
        # cannot set a key like this: headers become HTTP_* keys)
        environ[COUNTED_RATE_LIMITS] = scope.get(COUNTED_RATE_LIMITS, ())
        # where Django names the route it resolved, for the request metrics (metrics/http.py)
        environ[ROUTE_LABEL] = scope.get(ROUTE_LABEL)
        result = self.wsgi_application(environ, instance.start_response)
        try:
            chunks = [bytes(chunk) for chunk in result]
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()  # Django: request_finished, which closes the request's DB connection
        return [instance.response_start, {"type": "http.response.body", "body": b"".join(chunks)}]
