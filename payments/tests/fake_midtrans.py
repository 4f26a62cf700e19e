"""A fake Midtrans: a real HTTP server on 127.0.0.1 speaking the subset of Snap and the
Core API the app uses, so tests drive ``payments/midtrans.py`` over real HTTP (never a
mock in place of the HTTP client). It also plays the gateway's side of a payment: a
test settles, denies or expires an order and has the fake send the signed HTTP
notification to the running app.

    POST /snap/v1/transactions          201 {"token", "redirect_url"}; 400 for an order_id seen before
    GET  /v2/{order_id}/status          the order's status body ("404" when unknown)
    POST /v2/{order_id}/cancel          the order becomes "cancel"
    POST /v2/{order_id}/refund          {"status_code": "200", ...} or a refusal (``refuse_refunds``)

``down = True`` makes every endpoint answer 503; ``fail_next = n`` the next n requests.
Every request is kept in ``requests`` (method, path, JSON body, authorization header).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

SERVER_KEY = "SB-Mid-server-fake-key-for-tests"


@dataclass
class Order:
    order_id: str
    gross_amount: int
    expiry: dict
    transaction_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    transaction_status: str = "pending"
    fraud_status: str = "accept"
    refunds: list = field(default_factory=list)


class FakeMidtrans:
    def __init__(self, server_key: str) -> None:
        self.server_key = server_key
        self.orders: dict[str, Order] = {}
        self.requests: list[tuple[str, str, dict | None, str]] = []
        self.down = False
        self.fail_next = 0
        self.refuse_refunds = ""
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _answer(self, status: int, body: dict) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                fake.requests.append((method, self.path, body, self.headers.get("Authorization", "")))
                status, answer = fake.handle(method, self.path, body, self.headers.get("Authorization", ""))
                self._answer(status, answer)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-midtrans", daemon=True)

    # -- life ----------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeMidtrans:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- the gateway ---------------------------------------------------------------------------
    def handle(self, method: str, path: str, body: dict | None, authorization: str) -> tuple[int, dict]:
        with self._lock:
            if self.down or self.fail_next > 0:
                self.fail_next = max(0, self.fail_next - 1)
                return 503, {"status_code": "503", "status_message": "Service unavailable"}
            expected = "Basic " + base64.b64encode(f"{self.server_key}:".encode()).decode()
            if authorization != expected:
                return 401, {"status_code": "401", "error_messages": ["Access denied, please check client or server key"]}
            if method == "POST" and path == "/snap/v1/transactions":
                details = body["transaction_details"]
                order_id = details["order_id"]
                if order_id in self.orders:
                    return 400, {"error_messages": ["transaction_details.order_id sudah digunakan"]}
                self.orders[order_id] = Order(order_id, int(details["gross_amount"]), body.get("expiry", {}))
                token = f"snap-{order_id}"
                return 201, {"token": token, "redirect_url": f"{self.base_url}/snap/v4/redirection/{token}"}
            parts = path.strip("/").split("/")
            if len(parts) == 3 and parts[0] == "v2":
                order = self.orders.get(parts[1])
                if order is None:
                    return 200, {"status_code": "404", "status_message": "Transaction doesn't exist."}
                if method == "GET" and parts[2] == "status":
                    return 200, self.status_body(order)
                if method == "POST" and parts[2] == "cancel":
                    order.transaction_status = "cancel"
                    return 200, self.status_body(order)
                if method == "POST" and parts[2] == "refund":
                    if self.refuse_refunds:
                        return 200, {"status_code": "412", "status_message": self.refuse_refunds}
                    order.refunds.append(body)
                    order.transaction_status = "refund"
                    return 200, {
                        **self.status_body(order), "status_code": "200", "status_message": "Success, refund request is approved",
                        "refund_key": body.get("refund_key"), "refund_amount": f"{body.get('amount')}.00",
                    }
            return 404, {"status_code": "404", "status_message": "Not found"}

    def status_body(self, order: Order) -> dict:
        code = {"settlement": "200", "capture": "200", "pending": "201"}.get(order.transaction_status, "202")
        return {
            "status_code": code, "transaction_id": order.transaction_id, "order_id": order.order_id,
            "gross_amount": f"{order.gross_amount}.00", "transaction_status": order.transaction_status,
            "fraud_status": order.fraud_status, "payment_type": "bank_transfer",
        }

    def set_status(self, order_id: str, status: str) -> None:
        self.orders[order_id].transaction_status = status

    # -- notifications ---------------------------------------------------------------------------
    def notification(self, order_id: str, status: str | None = None, *, gross_amount: str | None = None,
                     server_key: str | None = None, transaction_id: str | None = None) -> dict:
        """The signed body Midtrans would send about ``order_id`` (now in ``status``)."""
        order = self.orders[order_id]
        if status is not None:
            order.transaction_status = status
        body = self.status_body(order)
        if gross_amount is not None:
            body["gross_amount"] = gross_amount
        if transaction_id is not None:
            body["transaction_id"] = transaction_id
        key = self.server_key if server_key is None else server_key
        body["signature_key"] = hashlib.sha512(
            f"{body['order_id']}{body['status_code']}{body['gross_amount']}{key}".encode()
        ).hexdigest()
        return body

    def send(self, url: str, body: dict) -> httpx.Response:
        """POST a notification to the running app, as Midtrans does."""
        return httpx.post(url, json=body, timeout=30)
