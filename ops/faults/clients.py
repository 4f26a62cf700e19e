"""What the apps do while a dependency fails: keep a websocket up (reconnecting as the
mobile apps do), send messages with retries under the same ``client_message_id``, poll,
and remember every answer so the suite can count what went wrong."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

from ops.bench.load import Api, Reply

RECONNECT_DELAY_SECONDS = 0.5  # the apps retry at once, then back off; the suite keeps it short
PING_SECONDS = 10.0


# --- answers ----------------------------------------------------------------------------------
@dataclass
class Answer:
    at: float
    what: str
    status: int
    code: str | None
    error: str = ""


@dataclass
class Ledger:
    """Every HTTP answer of a scenario, for the figures."""

    answers: list[Answer] = field(default_factory=list)

    def add(self, what: str, reply: Reply) -> Reply:
        self.answers.append(Answer(reply.done, what, reply.status, reply.code, reply.error))
        return reply

    def bad_5xx(self, since: float = 0.0, until: float = float("inf")) -> list[Answer]:
        """5xx answers other than API.md's 503 ``service_unavailable`` (a 503 with another
        body, e.g. an HTML page, counts as bad too)."""
        return [
            a for a in self.answers
            if since <= a.at <= until and a.status >= 500 and not (a.status == 503 and a.code == "service_unavailable")
        ]

    def statuses(self, since: float = 0.0, until: float = float("inf")) -> Counter:
        return Counter(a.status for a in self.answers if since <= a.at <= until)

    def first_ok_after(self, moment: float, what: str | None = None) -> float | None:
        """Seconds from ``moment`` until the first 2xx (of ``what``) answered after it, such
        that no later answer of the same kind failed with a 5xx or no answer."""
        relevant = [a for a in self.answers if a.at >= moment and (what is None or a.what == what)]
        relevant.sort(key=lambda a: a.at)
        recovered_at = None
        for a in relevant:
            if 200 <= a.status < 300:
                if recovered_at is None:
                    recovered_at = a.at
            elif a.status == 0 or a.status >= 500:
                recovered_at = None
        return None if recovered_at is None else recovered_at - moment


# --- websockets ----------------------------------------------------------------------------------
class LiveSocket:
    """One user's socket, kept connected: when it closes it is opened again after
    ``RECONNECT_DELAY_SECONDS`` (to whichever web process the kernel hands the
    connection to). Frames are kept with their arrival time; so are the gaps."""

    def __init__(self, session: aiohttp.ClientSession, url: str, user_id: str, token: str) -> None:
        self.session = session
        self.url = url
        self.user_id = user_id
        self.token = token
        self.frames: list[tuple[float, dict]] = []
        self.connected = asyncio.Event()
        self.connects = 0
        self.closes: list[float] = []
        self.reconnected: list[float] = []
        self.handshake_failures = 0
        self.server_pid_hint: str | None = None
        self._task: asyncio.Task | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while not self._stopping:
            try:
                ws = await self.session.ws_connect(
                    self.url, headers={"Authorization": f"Bearer {self.token}"}, autoping=True,
                    heartbeat=None, timeout=aiohttp.ClientWSTimeout(ws_close=5),
                )
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                self.handshake_failures += 1
                await asyncio.sleep(RECONNECT_DELAY_SECONDS)
                continue
            self._ws = ws
            self.connects += 1
            if self.closes:
                self.reconnected.append(time.monotonic())
            self.connected.set()
            pinger = asyncio.ensure_future(self._ping(ws))
            try:
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        try:
                            payload = json.loads(msg.data)
                        except ValueError:
                            continue
                        if isinstance(payload, dict) and payload.get("type") != "pong":
                            self.frames.append((time.monotonic(), payload))
                    elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                        break
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                pass
            finally:
                pinger.cancel()
                self.connected.clear()
                self._ws = None
            if self._stopping:
                return
            self.closes.append(time.monotonic())
            await asyncio.sleep(RECONNECT_DELAY_SECONDS)

    async def _ping(self, ws) -> None:
        while True:
            await asyncio.sleep(PING_SECONDS)
            try:
                await ws.send_str('{"type":"ping"}')
            except (ConnectionError, RuntimeError, aiohttp.ClientError):
                return

    def of_type(self, kind: str, since: float = 0.0) -> list[dict]:
        return [p for at, p in self.frames if at >= since and p.get("type") == kind]

    async def stop(self) -> None:
        self._stopping = True
        if self._ws is not None:
            try:
                await asyncio.wait_for(self._ws.close(), timeout=5)
            except (asyncio.TimeoutError, aiohttp.ClientError, OSError, RuntimeError):
                pass
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass


class Sockets:
    """Many ``LiveSocket``s."""

    def __init__(self, session: aiohttp.ClientSession, ws_base: str) -> None:
        self.session = session
        self.ws_base = ws_base
        self.by_user: dict[str, LiveSocket] = {}

    def open(self, kind: str, people) -> None:
        for person in people:
            sock = LiveSocket(self.session, f"{self.ws_base}/ws/{kind}/", person.id, person.token)
            self.by_user[person.id] = sock
            sock.start()

    async def all_connected(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if all(s.connected.is_set() for s in self.by_user.values()):
                return True
            await asyncio.sleep(0.1)
        return False

    def connected_count(self) -> int:
        return sum(1 for s in self.by_user.values() if s.connected.is_set())

    async def close(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.by_user.values()))
        self.by_user = {}


# --- traffic ------------------------------------------------------------------------------------
@dataclass
class SentMessage:
    session_id: str
    client_message_id: str
    sender_id: str
    first_try: float
    status: int = 0  # final answer: 201/200 stored, else what the last try got
    message_id: str | None = None
    tries: int = 0


class Traffic:
    """Background load of a running service while something fails: customers poll
    availability, both sides of live sessions send messages (retrying each with its
    ``client_message_id`` until it is stored or refused, as the apps do), mitras read
    their status. Every answer goes to ``ledger``."""

    def __init__(self, api: Api, ledger: Ledger) -> None:
        self.api = api
        self.ledger = ledger
        self.sent: list[SentMessage] = []
        self._tasks: list[asyncio.Task] = []
        self._stop = asyncio.Event()

    def start(self, *, pollers=(), mitras=(), chats=(), interval: float = 0.5) -> None:
        """``chats``: ``(session_id, sender)`` pairs that keep sending."""
        for i, person in enumerate(pollers):
            self._tasks.append(asyncio.ensure_future(self._loop(self._poll, person, interval, i)))
        for i, person in enumerate(mitras):
            self._tasks.append(asyncio.ensure_future(self._loop(self._status, person, interval, i)))
        for i, (session_id, sender) in enumerate(chats):
            self._tasks.append(asyncio.ensure_future(self._loop(self._chat, (session_id, sender), interval * 2, i)))

    async def _loop(self, step, arg, interval: float, index: int) -> None:
        await asyncio.sleep((index % 20) * interval / 20)  # spread the starts
        while not self._stop.is_set():
            started = time.monotonic()
            await step(arg)
            await asyncio.sleep(max(0.05, interval - (time.monotonic() - started)))

    async def _poll(self, customer) -> None:
        self.ledger.add("availability", await self.api.get("/api/client/mitra-availability", customer.token, timeout=10))

    async def _status(self, mitra) -> None:
        self.ledger.add("mitra_status", await self.api.get("/api/mitra/status", mitra.token, timeout=10))

    async def _chat(self, arg) -> None:
        session_id, sender = arg
        message = SentMessage(session_id, str(uuid.uuid4()), sender.id, time.monotonic())
        self.sent.append(message)
        await send_until_settled(self.api, self.ledger, message, sender.token)

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []


async def send_until_settled(api: Api, ledger: Ledger, message: SentMessage, token: str, *, give_up_after: float = 60.0) -> None:
    """POST the message until the app stores it (201, or 200 for a replay) or refuses it
    for good (4xx other than 429); no answer, a 429 or a 503 means try again with the same
    ``client_message_id``, as the apps do."""
    body = {"client_message_id": message.client_message_id, "text": f"halo {message.client_message_id[:8]}"}
    end = time.monotonic() + give_up_after
    while time.monotonic() < end:
        message.tries += 1
        reply = ledger.add("message", await api.post(f"/api/chat/{message.session_id}/messages", token, body, timeout=10))
        message.status = reply.status
        if reply.status in (200, 201):
            message.message_id = reply.body.get("id")
            return
        if 400 <= reply.status < 500 and reply.status != 429:
            return
        await asyncio.sleep(0.5)
