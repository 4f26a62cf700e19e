"""Midtrans over HTTP (SPEC §11): Snap to open a payment page, the Core API for a
transaction's status, cancel and refund, and the signature of its notifications.

https://docs.midtrans.com/reference/backend-integration (Snap),
https://docs.midtrans.com/reference/get-transaction-status,
https://docs.midtrans.com/docs/https-notification-webhooks (signature_key).

Calls go through ``httpx`` with a timeout per call and a bounded number of retries on
network errors and 5xx answers (``MIDTRANS_TIMEOUT_SECONDS``, ``MIDTRANS_RETRIES``). The
base URLs are settings, so tests and staging point them at any server (the test suite's
fake gateway, ``payments/tests/fake_midtrans.py``). Nothing here touches the database,
and the server key never reaches a log line.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass

import httpx
from django.conf import settings

logger = logging.getLogger(__name__)

RETRY_BACKOFF_SECONDS = 0.3


class GatewayError(Exception):
    """The gateway could not be reached or failed (network, timeout, 5xx): try later."""


@dataclass
class GatewayRefusal(Exception):
    """The gateway answered and said no (a 4xx, or a refusal in its body)."""

    status_code: str
    message: str

    def __str__(self) -> str:
        return f"{self.status_code}: {self.message}"


def signature(order_id: str, status_code: str, gross_amount: str, server_key: str | None = None) -> str:
    """``SHA512(order_id + status_code + gross_amount + server_key)``, hex."""
    key = settings.MIDTRANS_SERVER_KEY if server_key is None else server_key
    return hashlib.sha512(f"{order_id}{status_code}{gross_amount}{key}".encode()).hexdigest()


def signature_matches(payload: dict) -> bool:
    expected = signature(str(payload.get("order_id", "")), str(payload.get("status_code", "")), str(payload.get("gross_amount", "")))
    return hmac.compare_digest(expected, str(payload.get("signature_key", "")))


class MidtransClient:
    def __init__(self) -> None:
        self.api_base = settings.MIDTRANS_API_BASE_URL
        self.snap_base = settings.MIDTRANS_SNAP_BASE_URL
        self.auth = (settings.MIDTRANS_SERVER_KEY, "")

    def _call(self, method: str, url: str, *, json: dict | None = None, deadline: float | None = None) -> dict:
        attempts = 1 + max(0, settings.MIDTRANS_RETRIES)
        last = "no attempt"
        for attempt in range(attempts):
            timeout = settings.MIDTRANS_TIMEOUT_SECONDS
            if deadline is not None:
                timeout = min(timeout, deadline - time.monotonic())
                if timeout <= 0:
                    break
            try:
                response = httpx.request(
                    method, url, json=json, auth=self.auth, timeout=timeout,
                    headers={"Accept": "application/json"},
                )
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}"
            else:
                if response.status_code >= 500:
                    last = f"HTTP {response.status_code}"
                else:
                    try:
                        body = response.json()
                    except ValueError:
                        raise GatewayError(f"HTTP {response.status_code} without JSON") from None
                    if response.status_code >= 400:
                        messages = body.get("error_messages") or [body.get("status_message", "")]
                        raise GatewayRefusal(str(response.status_code), "; ".join(str(m) for m in messages)[:400])
                    return body
            logger.warning("midtrans %s %s: %s (attempt %d of %d)", method, url.rsplit("/", 2)[-1], last, attempt + 1, attempts)
            if attempt + 1 < attempts:
                time.sleep(RETRY_BACKOFF_SECONDS * (attempt + 1))
        raise GatewayError(last)

    # -- Snap ----------------------------------------------------------------------------------
    def snap_create(self, *, order_id: str, gross_amount: int, expiry_minutes: int, deadline: float | None = None) -> dict:
        """``{"token", "redirect_url"}`` of a new Snap transaction."""
        body = self._call(
            "POST", f"{self.snap_base}/snap/v1/transactions",
            json={
                "transaction_details": {"order_id": order_id, "gross_amount": gross_amount},
                "expiry": {"unit": "minutes", "duration": max(1, expiry_minutes)},
            },
            deadline=deadline,
        )
        if not body.get("token"):
            raise GatewayRefusal("no_token", str(body.get("error_messages") or body)[:400])
        return body

    # -- Core API ----------------------------------------------------------------------------------
    def status(self, order_id: str) -> dict:
        """The transaction's status body; ``status_code`` "404" when Midtrans has none."""
        return self._call("GET", f"{self.api_base}/{order_id}/status")

    def cancel(self, order_id: str) -> dict:
        return self._call("POST", f"{self.api_base}/{order_id}/cancel")

    def refund(self, *, order_id: str, refund_key: str, amount: int, reason: str) -> dict:
        """Refund ``amount`` of the order. ``refund_key`` makes a retry safe: Midtrans
        refunds once per key. A refusal (e.g. a bank transfer it cannot refund) comes in
        an HTTP 200 with another ``status_code``: ``GatewayRefusal``."""
        body = self._call(
            "POST", f"{self.api_base}/{order_id}/refund",
            json={"refund_key": refund_key, "amount": amount, "reason": reason},
        )
        if str(body.get("status_code")) != "200":
            raise GatewayRefusal(str(body.get("status_code")), str(body.get("status_message", ""))[:400])
        return body


def is_settled(status_body: dict) -> bool:
    """SPEC §11: ``settlement``, or ``capture`` with ``fraud_status`` ``accept``."""
    state = status_body.get("transaction_status")
    return state == "settlement" or (state == "capture" and status_body.get("fraud_status") == "accept")
