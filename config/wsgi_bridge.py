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

from config.errors import ErrorCode

# API.md's error shape, for the one request Django never sees (too many duplicate headers)
_BAD_REQUEST = (
    {"type": "http.response.start", "status": 400, "headers": [(b"content-type", b"application/json")]},
    {"type": "http.response.body", "body": json.dumps(
        {"code": ErrorCode.INVALID_INPUT, "detail": "Too many duplicate headers."}).encode()},
)


class ThreadPoolWsgi:
    """An ASGI app (``http`` scopes) running a WSGI app on a bounded thread pool."""

    def __init__(self, wsgi_application, *, threads: int):
        self.wsgi_application = wsgi_application
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="django-request")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"ThreadPoolWsgi serves http scopes, not {scope['type']}")
        loop = asyncio.get_running_loop()
        with SpooledTemporaryFile(max_size=65536) as body:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # the client left before sending its body: nobody to answer
                body.write(message.get("body", b""))
                if not message.get("more_body"):
                    break
            body.seek(0)
            messages = await loop.run_in_executor(self.executor, self._handle, scope, body)
        for message in messages:
            await send(message)

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
        result = self.wsgi_application(environ, instance.start_response)
        try:
            chunks = [bytes(chunk) for chunk in result]
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()  # Django: request_finished, which closes the request's DB connection
        return [instance.response_start, {"type": "http.response.body", "body": b"".join(chunks)}]
