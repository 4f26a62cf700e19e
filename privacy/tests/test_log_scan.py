"""No personal data in any log line (SPEC §13, issue 13 item 4).

The app runs as ``make run`` runs it — daphne on ``config.asgi`` with its access log on,
a Celery worker and beat, all at ``LOG_LEVEL=DEBUG`` (more than production logs) and
paying through the fake Midtrans gateway — while a whole day of the product happens
over HTTP and websockets: registration, logins (one with a wrong password), a device
token, a paid blast, an accept, messages with a crisis phrase (the worker raises the
alert), an extension, receipts, the early end, a rating, a report, an export, the
operator's control-center pages and the customer's erasure. Then every line the three
processes wrote is scanned for the message texts, the phone numbers (as typed and as
stored), the emails, the passwords, every token (JWT access and refresh, the FCM
registration id, Midtrans' server key) and the free texts of the rating and the report.

The test proves it saw the scenario: the access log holds each request and the worker
log the crisis task, so an empty or unread log cannot pass it."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time

import aiohttp
import httpx
import pytest
from django.conf import global_settings

from accounts import services as account_services
from conftest import eventually
from payments.models import PricingTier, TierKind
from safety.models import SafetyAlert

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "Rahasia-Sekali-77"
CUSTOMER_PHONE, CUSTOMER_EMAIL = "081234509876", "Ayu.Rahasia@Example.test"
MITRA_PHONE, MITRA_EMAIL = "081298765432", "sekar.pribadi@example.test"
OPERATOR_EMAIL = "operator.pribadi@example.test"
CUSTOMER_LINES = [
    "Aku merasa sendirian sejak ibuku sakit keras",
    "Kadang aku ingin mati saja rasanya",  # a crisis phrase: the worker raises an alert
    "Terima kasih sudah mendengarkan curhatku",
]
MITRA_LINES = ["Aku di sini menemanimu, ceritakan pelan-pelan", "Kamu tidak sendirian, aku dengar kamu"]
RATING_COMMENT = "Bestie sabar sekali mendengarkan masalah keluargaku"
REPORT_TEXT = "Sempat ada jawaban yang membuatku tidak nyaman soal ibuku"
FCM_REGISTRATION_ID = "fcm-Ayu-device-8c1d7e22b95f4d0f9a3e"


def _phone_forms(phone: str) -> list[str]:
    """As typed, and the forms a normaliser makes of it (+62…, 62…, without the 0)."""
    national = phone[1:]
    return [phone, f"+62{national}", f"62{national}", national]


class Sockets:
    """Websockets of the apps (``/ws/client/``, ``/ws/mitra/`` with ``?token=``) on a
    loop of their own; ``frames[name]`` what each received."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.replace("http://", "ws://")
        self.frames: dict[str, list[dict]] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._session = asyncio.run_coroutine_threadsafe(self._new_session(), self._loop).result(10)
        self._tasks = []

    async def _new_session(self):
        return aiohttp.ClientSession()

    async def _follow(self, name: str, url: str, opened: asyncio.Event) -> None:
        async with self._session.ws_connect(url, heartbeat=20) as socket:
            opened.set()
            async for frame in socket:
                if frame.type == aiohttp.WSMsgType.TEXT:
                    self.frames[name].append(json.loads(frame.data))

    def open(self, name: str, path: str, token: str) -> None:
        self.frames[name] = []

        async def start():
            opened = asyncio.Event()
            task = asyncio.ensure_future(self._follow(name, f"{self.base_url}{path}?token={token}", opened))
            await asyncio.wait_for(opened.wait(), 15)
            return task

        self._tasks.append(asyncio.run_coroutine_threadsafe(start(), self._loop).result(20))

    def wait_for(self, name: str, event_type: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for frame in list(self.frames[name]):
                if frame.get("type") == event_type:
                    return frame
            time.sleep(0.05)
        raise AssertionError(f"{name} never received {event_type!r}; got {[f.get('type') for f in self.frames[name]]}")

    def close(self) -> None:
        async def stop():
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._session.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def _ok(response: httpx.Response, *statuses: int) -> dict:
    assert response.status_code in (statuses or (200, 201)), (response.request.method, response.request.url, response.status_code, response.text)
    return response.json() if response.content and response.headers.get("content-type", "").startswith("application/json") else {}


@pytest.fixture
def app_running(daphne_process, celery_process, midtrans_gateway):
    """Web, worker and beat at DEBUG, on Midtrans (the fake gateway)."""
    env = {"LOG_LEVEL": "DEBUG", **midtrans_gateway.app_env}
    web = daphne_process(env=env)
    worker = celery_process("worker", env=env)
    beat = celery_process("beat", env=env)
    return web, worker, beat


def test_a_whole_day_of_the_product_leaves_no_personal_data_in_any_log_line(app_running, midtrans_gateway, make_operator, settings):
    web, worker, beat = app_running
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS  # the accounts made here sign in to the processes
    session_tier = PricingTier.objects.create(name="30 menit", amount=50_000, duration_minutes=30, kind=TierKind.SESSION)
    extension_tier = PricingTier.objects.create(name="+15 menit", amount=20_000, duration_minutes=15, kind=TierKind.EXTENSION)
    account_services.mitra_create(display_name="Bestie Sekar", phone=MITRA_PHONE, email=MITRA_EMAIL, password=PASSWORD)
    operator = make_operator()
    operator.email, operator.phone = OPERATOR_EMAIL, None
    operator.set_password(PASSWORD)
    operator.save()

    api = httpx.Client(base_url=web.url, timeout=30)
    sockets = Sockets(web.url)
    secrets: list[str] = []
    try:
        # -- accounts: register, log in by phone and by email, a wrong password, refresh, a device
        _ok(api.post("/api/auth/register", json={"call_name": "Ayu", "phone": CUSTOMER_PHONE, "email": CUSTOMER_EMAIL, "password": PASSWORD}), 201)
        assert api.post("/api/auth/token", json={"login": CUSTOMER_PHONE, "password": "salah-" + PASSWORD}).status_code == 401
        customer_tokens = _ok(api.post("/api/auth/token", json={"login": CUSTOMER_PHONE, "password": PASSWORD}))
        refreshed = _ok(api.post("/api/auth/token/refresh", json={"refresh": customer_tokens["refresh"]}))
        mitra_tokens = _ok(api.post("/api/auth/token", json={"login": MITRA_EMAIL, "password": PASSWORD}))
        secrets += [customer_tokens["access"], customer_tokens["refresh"], refreshed["access"], mitra_tokens["access"], mitra_tokens["refresh"]]
        secrets += [t for t in (refreshed.get("refresh"),) if t]
        customer = {"Authorization": f"Bearer {refreshed['access']}"}
        mitra = {"Authorization": f"Bearer {mitra_tokens['access']}"}
        _ok(api.post("/api/devices", json={"registration_id": FCM_REGISTRATION_ID, "type": "android"}, headers=customer))
        assert api.get("/api/client/mitra-availability", headers={"Authorization": "Bearer " + customer_tokens["refresh"]}).status_code == 401

        # -- the mitra goes online with her socket open; the customer pays through Midtrans
        sockets.open("mitra", "/ws/mitra/", mitra_tokens["access"])
        sockets.open("customer", "/ws/client/", refreshed["access"])
        _ok(api.post("/api/mitra/status/online", headers=mitra))
        payment = _ok(api.post("/api/client/payment-sessions", json={"tier_id": str(session_tier.id)}, headers=customer), 201)
        _ok(midtrans_gateway.send(f"{web.url}/api/payments/midtrans/notification", midtrans_gateway.notification(payment["id"], "settlement")))
        eventually(lambda: api.get(f"/api/client/payment-sessions/{payment['id']}", headers=customer).json()["status"] == "confirmed", "the payment")

        # -- blast, accept, messages both ways with receipts; the crisis phrase reaches the worker
        chat = _ok(api.post("/api/client/chat/start", json={"payment_session_id": payment["id"], "sensitive": True}, headers=customer), 201)
        sockets.wait_for("mitra", "chat_request")
        _ok(api.post(f"/api/mitra/chat-requests/{chat['id']}/accept", headers=mitra))
        sockets.wait_for("customer", "pairing_matched")
        last = None
        for index, (side, text) in enumerate(
            [("customer", CUSTOMER_LINES[0]), ("mitra", MITRA_LINES[0]), ("customer", CUSTOMER_LINES[1]), ("mitra", MITRA_LINES[1])]
        ):
            last = _ok(api.post(f"/api/chat/{chat['id']}/messages", json={"client_message_id": f"m{index}", "text": text},
                                headers=customer if side == "customer" else mitra), 201)
        _ok(api.post(f"/api/chat/{chat['id']}/messages/read", json={"up_to": last["id"]}, headers=customer))
        eventually(lambda: SafetyAlert.objects.filter(chat_session_id=chat["id"]).exists(), "the crisis alert (raised by the worker)")
        sockets.wait_for("customer", "safety_resources")
        _ok(api.get(f"/api/chat/{chat['id']}/messages", headers=mitra))

        # -- an extension, paid and approved
        extension_payment = _ok(api.post(
            "/api/client/payment-sessions", json={"tier_id": str(extension_tier.id), "is_extension": True, "chat_session_id": chat["id"]},
            headers=customer,
        ), 201)
        _ok(midtrans_gateway.send(f"{web.url}/api/payments/midtrans/notification", midtrans_gateway.notification(extension_payment["id"], "settlement")))
        eventually(lambda: api.get(f"/api/client/payment-sessions/{extension_payment['id']}", headers=customer).json()["status"] == "confirmed", "the extension payment")
        extension = _ok(api.post(f"/api/client/chat/{chat['id']}/extensions", json={"payment_session_id": extension_payment["id"]}, headers=customer), 201)
        _ok(api.post(f"/api/mitra/extensions/{extension['id']}/approve", headers=mitra))
        sockets.wait_for("customer", "extension_resolved")

        # -- the last line, the early end, a rating, a report; the export
        _ok(api.post(f"/api/chat/{chat['id']}/messages", json={"client_message_id": "m9", "text": CUSTOMER_LINES[2]}, headers=customer), 201)
        _ok(api.post(f"/api/client/chat/{chat['id']}/end", headers=customer))
        _ok(api.post(f"/api/client/chat/{chat['id']}/rating", json={"stars": 5, "comment": RATING_COMMENT}, headers=customer), 201)
        _ok(api.post(f"/api/client/chat/{chat['id']}/report", json={"reason": "other", "text": REPORT_TEXT, "block": False}, headers=customer), 201)
        export = api.get("/api/me/export", headers=customer)
        assert export.status_code == 200 and CUSTOMER_LINES[0] in export.text

        # -- the operator's day in the control center (the Safety page shows the texts, in HTML only)
        cc = httpx.Client(base_url=web.url, timeout=30, follow_redirects=True)
        login_page = cc.get("/admin/login/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text).group(1)
        cc.post("/admin/login/", data={"username": OPERATOR_EMAIL, "password": "salah", "csrfmiddlewaretoken": csrf})
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', cc.get("/admin/login/").text).group(1)
        signed_in = cc.post("/admin/login/?next=/admin/", data={"username": OPERATOR_EMAIL, "password": PASSWORD, "csrfmiddlewaretoken": csrf, "next": "/admin/"})
        assert signed_in.url.path == "/admin/", signed_in.url
        secrets += [cc.cookies.get("sessionid"), cc.cookies.get("csrftoken")]
        for path in ("/admin/", "/admin/safety/", "/admin/reports/", "/admin/pairing/chatsession/", "/admin/accounts/customerprofile/",
                     "/admin/failed-pairings/", "/admin/mitras/"):
            assert cc.get(path).status_code == 200, path
        # the operator looks the customer up by phone and by email (the query is in the URL)
        assert cc.get("/admin/accounts/customerprofile/", params={"q": CUSTOMER_PHONE}).status_code == 200
        assert "Ayu" in cc.get("/admin/accounts/customerprofile/", params={"q": CUSTOMER_EMAIL}).text
        assert CUSTOMER_LINES[1] in cc.get("/admin/safety/").text

        # -- the customer erases her account (a wrong password first)
        assert api.request("DELETE", "/api/me", json={"password": "salah"}, headers=customer).status_code == 400
        assert api.request("DELETE", "/api/me", json={"password": PASSWORD}, headers=customer).status_code == 204
        assert api.get("/api/client/chat/history", headers=customer).status_code == 401
        time.sleep(1)  # the worker's and beat's last lines of the scenario
    finally:
        sockets.close()
        api.close()

    logs = {name: process.log_path.read_text() for name, process in (("web", web), ("worker", worker), ("beat", beat))}

    # it saw the scenario: each process logged it (an unread or empty log cannot pass)
    for line in ("POST /api/client/chat/start", "POST /api/mitra/chat-requests/", "DELETE /api/me", "GET /admin/safety/",
                 "GET /admin/accounts/customerprofile/?q=…", "WSCONNECT /ws/mitra/"):
        assert line in logs["web"], line
    assert "raise_crisis_alerts" in logs["worker"] and "succeeded" in logs["worker"]
    assert "beat: Starting..." in logs["beat"]

    # nothing personal, in any case
    personal = [
        *CUSTOMER_LINES, *MITRA_LINES, RATING_COMMENT, REPORT_TEXT, PASSWORD, FCM_REGISTRATION_ID,
        *_phone_forms(CUSTOMER_PHONE), *_phone_forms(MITRA_PHONE), CUSTOMER_EMAIL, MITRA_EMAIL, OPERATOR_EMAIL,
        CUSTOMER_EMAIL.split("@")[0], MITRA_EMAIL.split("@")[0],
        midtrans_gateway.server_key,
        *secrets, *(token.split(".")[-1] for token in secrets if token and token.count(".") == 2),  # a JWT's signature alone
    ]
    found = [
        (name, number, needle[:40])
        for name, text in logs.items()
        for number, line in enumerate(text.lower().splitlines(), 1)
        for needle in personal
        if needle and needle.lower() in line
    ]
    assert not found, found
