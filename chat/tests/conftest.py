"""Chat test helpers: a message posted through an ASGI app as daphne drives it. (The
running session between a paid customer and an online mitra, ``active_chat``, is the
root conftest's.)"""

from __future__ import annotations

import json

from channels.testing import HttpCommunicator


async def post_message(app, token, session_id, body, *, content_type: bytes = b"application/json", host: bytes = b"localhost"):
    """``POST /api/chat/{id}/messages`` through an ASGI app as daphne drives it:
    ``(status, JSON body or raw bytes, headers)``."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = [(b"host", host), (b"content-type", content_type), (b"content-length", str(len(raw)).encode())]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    communicator = HttpCommunicator(app, "POST", f"/api/chat/{session_id}/messages", body=raw, headers=headers)
    response = await communicator.get_response(timeout=30)
    got_headers = {k.decode().lower(): v.decode() for k, v in response["headers"]}
    is_json = got_headers.get("content-type") == "application/json"
    return response["status"], json.loads(response["body"]) if is_json else response["body"], got_headers
