"""The load generator's parts: keep-alive HTTP calls, pools of websockets, percentiles.

Everything runs on one asyncio loop (uvloop when installed) in the bench process.
Times are ``time.monotonic()`` stamps taken when a request is sent and when a
websocket frame is read, so a figure includes the network stack, the server and
the client's own scheduling lag, as a real app would see it.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from dataclasses import dataclass, field
from typing import Callable

import aiohttp

PING_INTERVAL_SECONDS = 20.0  # API.md: the presence heartbeat, every ≤ 20 s
REQUEST_TIMEOUT_SECONDS = 15.0


def percentile(values, p: float) -> float:
    """Nearest-rank percentile (``p`` in 0–100) of ``values``; NaN when empty."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def http_session(*, timeout: float = REQUEST_TIMEOUT_SECONDS) -> aiohttp.ClientSession:
    """Keep-alive HTTP (or websocket) session; no connection limit (the scenarios bound
    their own concurrency), no cookies (every call carries its bearer token)."""
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, force_close=False, enable_cleanup_closed=True)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout),
        cookie_jar=aiohttp.DummyCookieJar(),
        json_serialize=json.dumps,
    )


@dataclass
class Reply:
    """One HTTP call: status (0 = exception), parsed body, send and answer stamps."""

    status: int
    body: object
    sent: float
    done: float
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def latency(self) -> float:
        return self.done - self.sent

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None

    def describe(self) -> str:
        if self.error:
            return self.error
        return f"HTTP {self.status} {self.code or ''}".strip()


class Api:
    """JSON calls to the app under test, one keep-alive session for all of them."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url

    async def call(self, method: str, path: str, token: str | None = None, body=None, *, timeout: float | None = None) -> Reply:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        kwargs = {"headers": headers}
        if body is not None:
            kwargs["json"] = body
        if timeout is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout)
        sent = time.monotonic()
        try:
            async with self.session.request(method, self.base_url + path, **kwargs) as response:
                raw = await response.read()
                done = time.monotonic()
                try:
                    parsed = json.loads(raw) if raw else None
                except ValueError:
                    parsed = raw[:200].decode("utf-8", "replace")
                return Reply(response.status, parsed, sent, done)
        except asyncio.TimeoutError:
            limit = timeout if timeout is not None else self.session.timeout.total
            return Reply(0, None, sent, time.monotonic(), error=f"no answer within {limit:g} s")
        except (aiohttp.ClientError, OSError) as exc:
            return Reply(0, None, sent, time.monotonic(), error=f"{type(exc).__name__}: {exc}"[:200])

    async def get(self, path: str, token: str | None = None, **kw) -> Reply:
        return await self.call("GET", path, token, **kw)

    async def post(self, path: str, token: str | None = None, body=None, **kw) -> Reply:
        return await self.call("POST", path, token, body if body is not None else {}, **kw)


@dataclass
class Throughput:
    ok: int
    errors: int
    seconds: float
    client_cpu: float  # share of one core the bench process used during the window
    error_samples: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.ok / self.seconds


class _KeepAliveGet(asyncio.Protocol):
    """One HTTP/1.1 keep-alive connection sending the same GET back to back, parsing
    just enough of each answer (status line, ``Content-Length``) to send the next. Far
    cheaper per request than a general client, so a throughput figure is mostly the
    server's cost, not the bench's (the bench shares the machine's cores)."""

    def __init__(self, request: bytes, on_answer: Callable[[int], None]) -> None:
        self.request, self.on_answer = request, on_answer
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()
        self.running = True

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            self.buffer = self.buffer[end:]
            self.on_answer(int(head[9:12]))
            if self.running:
                self.transport.write(self.request)
            else:
                self.transport.close()
                return

    def connection_lost(self, exc) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def closed_loop_rps(api: Api, path: str, token: str, *, connections: int, warmup: float, seconds: float) -> Throughput:
    """``connections`` keep-alive connections each sending GET ``path`` back to back
    (``_KeepAliveGet``); counts the answers that arrive inside the measurement window
    (after ``warmup``): 2xx as served, anything else as errors."""
    from urllib.parse import urlsplit

    url = urlsplit(api.base_url)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {url.hostname}\r\nAuthorization: Bearer {token}\r\n"
        f"Accept: application/json\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    start = time.monotonic()
    window_start, window_end = start + warmup, start + warmup + seconds
    counts = {"ok": 0, "errors": 0}
    samples: list[str] = []

    def on_answer(status: int) -> None:
        now = time.monotonic()
        if window_start <= now < window_end:
            if 200 <= status < 300:
                counts["ok"] += 1
            else:
                counts["errors"] += 1
                if len(samples) < 3:
                    samples.append(str(status))

    protocols = []
    for _ in range(connections):
        _, protocol = await loop.create_connection(lambda: _KeepAliveGet(request, on_answer), url.hostname, url.port)
        protocols.append(protocol)
    await asyncio.sleep(max(0.0, window_start - time.monotonic()))
    cpu_start, wall_start = time.process_time(), time.monotonic()
    await asyncio.sleep(max(0.0, window_end - time.monotonic()))
    cpu = (time.process_time() - cpu_start) / max(1e-9, time.monotonic() - wall_start)
    for protocol in protocols:
        protocol.running = False
    await asyncio.wait([p.closed for p in protocols], timeout=10)
    for protocol in protocols:
        if protocol.transport is not None and not protocol.transport.is_closing():
            protocol.transport.close()
    return Throughput(counts["ok"], counts["errors"], seconds, cpu, samples)


# --- websockets -------------------------------------------------------------------------
class Socket:
    """One connected ``/ws/client/`` or ``/ws/mitra/`` socket of one user. Every JSON frame
    is stamped on arrival and passed to the pool's handler."""

    __slots__ = ("index", "user_id", "ws", "reader", "closed_code", "frames")

    def __init__(self, index: int, user_id: str, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.index = index
        self.user_id = user_id
        self.ws = ws
        self.reader: asyncio.Task | None = None
        self.closed_code: int | None = None
        self.frames = 0


Handler = Callable[[Socket, float, dict], None]


class SocketPool:
    """Many websockets of one kind, a shared frame handler, and the heartbeat: one task
    sends ``{"type":"ping"}`` on every socket once per ``PING_INTERVAL_SECONDS``, spread
    evenly over the interval (so thousands of sockets don't ping in one burst)."""

    def __init__(self, session: aiohttp.ClientSession, ws_url: str, *, name: str) -> None:
        self.session = session
        self.ws_url = ws_url
        self.name = name
        self.sockets: list[Socket] = []
        self.handler: Handler | None = None
        self.connect_errors: list[str] = []
        self.unexpected_closes = 0
        self._closing = False
        self._pinger: asyncio.Task | None = None

    async def _connect_one(self, index: int, user_id: str, token: str) -> Socket | None:
        try:
            ws = await self.session.ws_connect(
                self.ws_url,
                headers={"Authorization": f"Bearer {token}"},
                autoping=True,  # answers daphne's protocol pings
                heartbeat=None,
                timeout=aiohttp.ClientWSTimeout(ws_close=5),
                max_msg_size=4 * 1024 * 1024,
            )
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            if len(self.connect_errors) < 1000:
                self.connect_errors.append(f"{type(exc).__name__}: {exc}"[:160])
            return None
        sock = Socket(index, user_id, ws)
        sock.reader = asyncio.ensure_future(self._read(sock))
        return sock

    async def _read(self, sock: Socket) -> None:
        ws = sock.ws
        try:
            async for msg in ws:
                now = time.monotonic()
                if msg.type == aiohttp.WSMsgType.TEXT:
                    sock.frames += 1
                    handler = self.handler
                    if handler is not None:
                        try:
                            payload = json.loads(msg.data)
                        except ValueError:
                            continue
                        handler(sock, now, payload)
                elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                    break
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            pass
        finally:
            sock.closed_code = ws.close_code if ws.close_code is not None else -1
            if not self._closing:
                self.unexpected_closes += 1

    async def connect(self, users: list[tuple[str, str]], *, concurrency: int = 100, deadline: float | None = None) -> float:
        """Connect one socket per ``(user_id, token)``, ``concurrency`` handshakes at a time,
        stopping at ``deadline`` (monotonic). Returns the seconds it took."""
        started = time.monotonic()
        queue = list(enumerate(users, start=len(self.sockets)))
        queue.reverse()

        async def worker() -> None:
            while queue:
                if deadline is not None and time.monotonic() > deadline:
                    return
                index, (user_id, token) = queue.pop()
                sock = await self._connect_one(index, user_id, token)
                if sock is not None:
                    self.sockets.append(sock)

        await asyncio.gather(*(worker() for _ in range(min(concurrency, max(1, len(users))))))
        if self._pinger is None:
            self._pinger = asyncio.ensure_future(self._ping_forever())
        return time.monotonic() - started

    @property
    def live(self) -> list[Socket]:
        return [s for s in self.sockets if s.closed_code is None]

    async def _ping_forever(self) -> None:
        frame = json.dumps({"type": "ping"})
        while True:
            sockets = self.live
            if not sockets:
                await asyncio.sleep(1)
                continue
            gap = PING_INTERVAL_SECONDS / len(sockets)
            # send in small groups so the sleep granularity stays sane for thousands of sockets
            group = max(1, int(0.05 / gap)) if gap < 0.05 else 1
            for offset in range(0, len(sockets), group):
                for sock in sockets[offset : offset + group]:
                    if sock.closed_code is None:
                        try:
                            await sock.ws.send_str(frame)
                        except (ConnectionError, RuntimeError, aiohttp.ClientError):
                            pass
                await asyncio.sleep(gap * group)

    async def close(self) -> None:
        self._closing = True
        if self._pinger is not None:
            self._pinger.cancel()
            self._pinger = None
        sockets, self.sockets = self.sockets, []

        async def close_one(sock: Socket) -> None:
            try:
                await asyncio.wait_for(sock.ws.close(), timeout=5)
            except (asyncio.TimeoutError, aiohttp.ClientError, OSError, RuntimeError):
                pass
            if sock.reader is not None:
                sock.reader.cancel()

        for offset in range(0, len(sockets), 500):
            await asyncio.gather(*(close_one(s) for s in sockets[offset : offset + 500]))
        self._closing = False


class Arrivals:
    """First arrival stamp of frames of one ``type`` per (``key_field`` value, user): e.g.
    every socket's ``chat_request`` per request id. The id is often known only from the
    frames themselves (they can beat the HTTP reply that names it)."""

    def __init__(self, frame_type: str, key_field: str) -> None:
        self.frame_type = frame_type
        self.key_field = key_field
        self.by_key: dict[str, dict[str, float]] = {}

    def handler(self, sock: Socket, now: float, payload: dict) -> None:
        if isinstance(payload, dict) and payload.get("type") == self.frame_type:
            self.by_key.setdefault(payload.get(self.key_field), {}).setdefault(sock.user_id, now)

    async def wait(self, key: str, count: int, timeout: float) -> dict[str, float]:
        """Until ``count`` users have a frame for ``key`` or ``timeout`` s have passed."""
        end = time.monotonic() + timeout
        while len(self.by_key.get(key, ())) < count and time.monotonic() < end:
            await asyncio.sleep(0.005)
        return self.by_key.get(key, {})


class LoopLag:
    """How late the load generator's own event loop wakes up (a 50 ms sleep, over and
    over). Every stamp above is taken on this loop, so a figure is only as good as this
    lag is small; scenarios print it beside their latencies."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.samples: list[float] = []
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.interval)
            self.samples.append(time.monotonic() - before - self.interval)

    def reset(self) -> None:
        self.samples = []

    def summary(self) -> str:
        if not self.samples:
            return "client loop lag n/a"
        return f"client loop lag p99 {percentile(self.samples, 99) * 1000:.0f} ms, max {max(self.samples) * 1000:.0f} ms"


def spread(n: int, seconds: float) -> list[float]:
    """``n`` start offsets evenly spread over ``seconds`` (shuffled: no id order bias)."""
    offsets = [seconds * i / max(1, n) for i in range(n)]
    random.shuffle(offsets)
    return offsets
