"""F1–F5: each scenario builds its starting state through the API, keeps traffic in
flight, breaks one part of the running app, lets it come back and records figures
measured in this run: timers lost, money anomalies, 5xx other than 503, seconds to
recover, and what each scenario checks besides.

A figure that misses its target is a FAIL row; the run goes on with the next scenario.
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

import psutil

from ops.bench.load import Api, percentile
from ops.bench.scenarios import Result
from ops.faults import data
from ops.faults.clients import RECONNECT_DELAY_SECONDS, Ledger, SentMessage, Sockets, Traffic, send_until_settled

OUTAGE_SECONDS = 10.0
RECOVERY_TARGET_SECONDS = 10.0
LOST_GRACE_SECONDS = 10.0  # a deadline further in the past than this and still unfired is lost
SWEEP_INTERVAL_SECONDS = 60.0  # CELERY_BEAT_SCHEDULE["sweep-payments"]: F5 waits at most this long for a sweep


def log(message: str) -> None:
    print(f"[faults] {message}", file=sys.stderr, flush=True)


@dataclass
class Run:
    api: Api
    probe: Api  # a new connection per request: successive calls reach every web process
    ws_session: object
    ws_base: str
    population: object  # ops.bench.data.Population
    tiers: dict[str, str]
    supervisor: object  # ops.launch.Supervisor
    services: object  # ops.faults.services.FaultServices
    run_db: Callable
    port: int
    results: list[Result] = field(default_factory=list)
    mitras_used: int = 0

    async def db(self, fn, *args, **kwargs):
        return await asyncio.wrap_future(self.run_db(fn, *args, **kwargs))

    def record(self, figure: str, measured: str, target: str, ok: bool, context: str = "") -> None:
        status = "PASS" if ok else "FAIL"
        self.results.append(Result(figure, measured, target, status, context))
        log(f"{figure}: {measured} (target {target}) {status} {('— ' + context) if context else ''}")

    def take_mitras(self, n: int) -> list:
        taken = self.population.mitras[self.mitras_used : self.mitras_used + n]
        if len(taken) < n:
            raise RuntimeError(f"population has no {n} unused mitras left")
        self.mitras_used += n
        return taken

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.supervisor.children.items()}

    # --- the apps' calls, for set-up (nothing fails then) ---------------------------------------
    async def must(self, reply, what: str, *statuses: int):
        if reply.status not in (statuses or (200, 201)):
            raise RuntimeError(f"{what}: {reply.describe()} {reply.body!r:.300}")
        return reply.body

    async def pay(self, customer, tier: str, *, api: Api | None = None, **extra) -> str:
        api = api or self.api
        body = await self.must(await api.post("/api/client/payment-sessions", customer.token, {"tier_id": self.tiers[tier], **extra}), "pay")
        await self.must(await api.post(f"/api/client/payment-sessions/{body['id']}/confirm", customer.token), "confirm")
        return body["id"]

    async def start_blast(self, customer, tier: str = "long", *, api: Api | None = None) -> dict:
        """``api``: ``self.probe`` (new connections) when a web process may have died under
        the shared keep-alive connections."""
        api = api or self.api
        payment = await self.pay(customer, tier, api=api)
        return await self.must(
            await api.post("/api/client/chat/start", customer.token, {"payment_session_id": payment, "sensitive": False}), "chat/start"
        )

    async def open_sessions(self, customers: list, mitras: list, tier: str) -> list[tuple[str, object, object]]:
        """One running session per (customer, mitra): paid, blasted to these mitras (the
        only ones online), accepted by its own mitra."""
        await self.db(set_online, [m.id for m in mitras])
        started = await asyncio.gather(*(self.start_blast(c, tier) for c in customers))
        await asyncio.gather(*(self.accept(m, s["id"]) for s, m in zip(started, mitras)))
        return [(s["id"], c, m) for s, c, m in zip(started, customers, mitras)]

    async def accept(self, mitra, request_id: str) -> dict:
        return await self.must(await self.api.post(f"/api/mitra/chat-requests/{request_id}/accept", mitra.token), "accept")

    async def request_extension(self, customer, session_id: str) -> str:
        payment = await self.pay(customer, "extension", is_extension=True, chat_session_id=session_id)
        body = await self.must(
            await self.api.post(f"/api/client/chat/{session_id}/extensions", customer.token, {"payment_session_id": payment}), "extension"
        )
        return body["id"]

    async def wait_health(self, timeout: float = 60) -> float | None:
        """Seconds until /health answers 200 (database and Redis both fine), or None."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            reply = await self.api.get("/health", timeout=5)
            if reply.status == 200:
                return time.monotonic() - started
            await asyncio.sleep(0.2)
        return None


def set_online(mitra_ids: list[str]) -> None:
    from ops.bench.data import set_online as bench_set_online

    bench_set_online(mitra_ids)


def set_config(**changes) -> None:
    from ops.bench.data import set_config as bench_set_config

    bench_set_config(**changes)


def secs(value: float | None) -> str:
    return "never" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1f} s"


async def wait_until(predicate, timeout: float, interval: float = 0.5):
    """Await ``predicate()`` (async) until it returns a truthy value or ``timeout`` passes;
    returns (value, seconds waited)."""
    started = time.monotonic()
    value = None
    while time.monotonic() - started < timeout:
        value = await predicate()
        if value:
            break
        await asyncio.sleep(interval)
    return value, time.monotonic() - started


# --- figures every scenario records ------------------------------------------------------------------
async def common_figures(run: Run, name: str, ledger: Ledger, *, since: float, pids_before: dict[str, int] | None = None) -> None:
    overdue = await run.db(data.overdue_timers, LOST_GRACE_SECONDS)
    lost = sum(overdue.values())
    run.record(f"{name} timers lost", str(lost), "0", lost == 0, f"unfired more than {LOST_GRACE_SECONDS:.0f} s after their deadline: {overdue}")
    anomalies = await run.db(data.money_anomalies)
    run.record(f"{name} money anomalies", str(len(anomalies)), "0", not anomalies, "; ".join(anomalies)[:400] or "SPEC §4/§6 invariant holds")
    bad = ledger.bad_5xx(since)
    statuses = dict(sorted(ledger.statuses(since).items()))
    sample = f"; e.g. {bad[0].what} HTTP {bad[0].status} {bad[0].code or ''}" if bad else ""
    run.record(f"{name} 5xx other than 503", str(len(bad)), "0", not bad, f"{sum(statuses.values())} answers by status {statuses}{sample}")
    if pids_before is not None:
        restarted = sorted(n for n, pid in run.pids().items() if pids_before.get(n) != pid)
        run.record(f"{name} processes restarted", str(len(restarted)), "0", not restarted, ", ".join(restarted) or "every process kept its pid")


# --- F1: the Celery worker killed ------------------------------------------------------------------
F1_BLASTS, F1_EXTENSIONS, F1_SESSIONS, F1_TIMEOUT = 50, 20, 20, 40


async def f1_worker_kill(run: Run) -> None:
    """≥ 50 blast deadlines, ≥ 20 extension deadlines and ≥ 20 session timers pending;
    the worker is killed with -9 (its prefetched ETA tasks die with it) and a new one
    starts 5 s later. Each deadline must fire exactly once."""
    name = "F1 worker -9"
    await run.db(set_config, pairing_blast_timeout_seconds=F1_TIMEOUT, extension_timeout_seconds=F1_TIMEOUT,
                 closing_goodbye_seconds=5, extension_default_action_on_timeout="auto_approve")
    session_customers = run.population.take_customers(F1_SESSIONS + F1_EXTENSIONS)
    session_mitras = run.take_mitras(F1_SESSIONS + F1_EXTENSIONS)
    idle_mitras = run.take_mitras(20)
    blast_customers = run.population.take_customers(F1_BLASTS)
    ledger = Ledger()
    sockets = Sockets(run.ws_session, run.ws_base)
    sockets.open("client", session_customers + blast_customers)
    sockets.open("mitra", session_mitras)
    traffic = Traffic(run.api, ledger)
    since = time.monotonic()
    try:
        await sockets.all_connected(30)
        short = await run.open_sessions(session_customers[:F1_SESSIONS], session_mitras[:F1_SESSIONS], "short")
        long = await run.open_sessions(session_customers[F1_SESSIONS:], session_mitras[F1_SESSIONS:], "long")
        traffic.start(pollers=blast_customers[:10], chats=[(sid, c) for sid, c, _ in long] + [(sid, m) for sid, _, m in long])
        extensions = await asyncio.gather(*(run.request_extension(c, sid) for sid, c, _ in long))
        await run.db(set_online, [m.id for m in session_mitras + idle_mitras])
        blasts = [b["id"] for b in await asyncio.gather(*(run.start_blast(c) for c in blast_customers))]
        short_ids = [sid for sid, _, _ in short]
        deadlines = await run.db(data.deadlines_of, blast_ids=blasts, extension_ids=extensions, session_ids=short_ids)
        pending = await run.db(data.pending_timers)
        await asyncio.sleep(0.5)  # the worker has taken the ETA tasks of those commits
        worker = run.supervisor.children["celery-worker"]
        run.supervisor.hold("celery-worker")
        os.killpg(worker.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        log(f"F1: killed the worker (pid {worker.pid}) with {pending} deadlines pending; a new one starts in 5 s")
        await asyncio.sleep(5)
        run.supervisor.release("celery-worker")

        async def all_fired():
            b = await run.db(data.blast_outcomes, blasts)
            e = await run.db(data.extension_outcomes, extensions)
            s = await run.db(data.session_outcomes, short_ids)
            done = (all(r["failures"] for r in b.values()) and all(r["status"] != "pending" for r in e.values())
                    and all(r["status"] == "completed" for r in s.values()))
            return (b, e, s) if done else None

        outcome, waited = await wait_until(all_fired, timeout=F1_TIMEOUT + 90)
        if outcome is None:
            outcome = (await run.db(data.blast_outcomes, blasts), await run.db(data.extension_outcomes, extensions),
                       await run.db(data.session_outcomes, short_ids))
        await asyncio.sleep(2)  # late duplicates, if any, would show now
        b, e, s = outcome
        by_user = sockets.by_user
        once_blast = sum(
            1 for sid, r in b.items()
            if r["status"] == "unmatched" and [t for t, _ in r["failures"]] == ["no_mitra_available"]
        )
        ext_customer = {eid: c.id for eid, (_, c, _) in zip(extensions, long)}
        once_ext = sum(
            1 for eid, r in e.items()
            if r["status"] in ("approved", "auto_approved", "rejected") and r["audits"] == 1
            and sum(1 for p in by_user[ext_customer[eid]].of_type("extension_resolved") if p.get("extension_id") == eid) == 1
        )
        short_customer = {sid: c.id for sid, c, _ in short}
        once_session = sum(
            1 for sid, r in s.items()
            if r["status"] == "completed" and r["ended_by"] == "timer"
            and [p.get("chat_session_id") for p in by_user[short_customer[sid]].of_type("session_closing")].count(sid) == 1
            and [p.get("chat_session_id") for p in by_user[short_customer[sid]].of_type("session_completed")].count(sid) == 1
        )
        late = [r["failures"][0][1] - deadlines[sid] for sid, r in b.items() if r["failures"] and deadlines.get(sid)]
        late += [r["resolved_at"] - deadlines[eid] for eid, r in e.items() if r["resolved_at"] and deadlines.get(eid)]
        late += [r["closing_started_at"] - deadlines[sid] for sid, r in s.items() if r["closing_started_at"] and deadlines.get(sid)]
        late_s = [d.total_seconds() for d in late]
        enough = pending["blast"] >= F1_BLASTS and pending["extension"] >= F1_EXTENSIONS and pending["session"] >= F1_SESSIONS
        run.record(f"{name} deadlines pending at the kill", f"{pending['blast']} blast, {pending['extension']} extension, {pending['session']} session",
                   ">= 50, 20, 20", enough)
        total = len(blasts) + len(extensions) + len(short_ids)
        fired_once = once_blast + once_ext + once_session
        run.record(
            f"{name} fired exactly once", f"{fired_once}/{total}", "all", fired_once == total,
            f"blasts {once_blast}/{len(blasts)} (one no_mitra_available row), extensions {once_ext}/{len(extensions)} "
            f"(one audit row, one extension_resolved), session timers {once_session}/{len(short_ids)} "
            f"(one session_closing and one session_completed); all fired {waited:.0f} s after the kill + 5 s",
        )
        worst = max(late_s) if late_s else math.nan
        run.record(f"{name} worst lateness", secs(worst), f"<= {RECOVERY_TARGET_SECONDS:.0f} s",
                   bool(late_s) and worst <= RECOVERY_TARGET_SECONDS,
                   f"p50 {secs(percentile(late_s, 50))} over {len(late_s)} deadlines, each past its deadline by; "
                   f"the old worker held their ETA tasks when it was killed, the new one started 5 s later")
    finally:
        await traffic.stop()
        await sockets.close()
    await common_figures(run, name, ledger, since=since)


# --- F2: Redis stopped ----------------------------------------------------------------------------
async def _dependency_outage(run: Run, name: str, *, stop, start, needs_redis: bool) -> None:
    """Traffic and sockets up, the dependency stopped for ``OUTAGE_SECONDS`` and started
    again; then every part must work again without restarting a process."""
    await run.db(set_config, pairing_blast_timeout_seconds=6, max_customers_per_mitra=1)
    customers = run.population.take_customers(10)
    mitras = run.take_mitras(10)
    idle = run.take_mitras(5)
    blast_customers = run.population.take_customers(10)
    late_customers = run.population.take_customers(5)
    ledger = Ledger()
    sockets = Sockets(run.ws_session, run.ws_base)
    sockets.open("client", customers)
    sockets.open("mitra", mitras)
    traffic = Traffic(run.api, ledger)
    since = time.monotonic()
    pids_before = run.pids()
    try:
        await sockets.all_connected(30)
        sessions = await run.open_sessions(customers, mitras, "long")
        await run.db(set_online, [m.id for m in mitras + idle])
        traffic.start(pollers=blast_customers, mitras=mitras,
                      chats=[(sid, c) for sid, c, _ in sessions] + [(sid, m) for sid, _, m in sessions])
        # attempts whose deadlines (6 s) fall inside the outage
        blasts = [b["id"] for b in await asyncio.gather(*(run.start_blast(c) for c in blast_customers))]
        await asyncio.sleep(1)
        down_at = time.monotonic()
        stop()
        log(f"{name}: stopped; back in {OUTAGE_SECONDS:.0f} s")
        await asyncio.sleep(OUTAGE_SECONDS)
        start()
        up_at = time.monotonic()
        log(f"{name}: started again")
        during = ledger.statuses(down_at, up_at)
        outage_503 = during.get(503, 0)

        # from the moment it is back, at once: REST, /health, sockets with delivery, and a
        # settings change (made now) reaching every process; each timed from ``up_at``
        token_of = {c.id: c.token for _, c, _ in sessions}

        async def rest_back():
            for what in ("availability", "mitra_status", "message"):
                await wait_until(lambda what=what: _async(ledger.first_ok_after(up_at, what) is not None), 30, 0.1)
            times = [ledger.first_ok_after(up_at, what) for what in ("availability", "mitra_status", "message")]
            return None if None in times else max(times)

        async def health_back():
            waited = await run.wait_health(30)
            return None if waited is None else time.monotonic() - up_at

        async def sockets_back():
            connected, _ = await wait_until(lambda: _async(sockets.connected_count() == len(sockets.by_user)), 30, 0.1)
            if not connected:
                return None
            probe_at = time.monotonic()
            probes = [(SentMessage(sid, str(uuid.uuid4()), c.id, probe_at), m) for sid, c, m in sessions]
            await asyncio.gather(*(send_until_settled(run.api, ledger, msg, token_of[msg.sender_id]) for msg, _ in probes))

            async def arrived():
                return all(
                    any(p.get("message", {}).get("client_message_id") == msg.client_message_id
                        for p in sockets.by_user[m.id].of_type("message", since=probe_at))
                    for msg, m in probes
                )

            ok, _ = await wait_until(arrived, 15, 0.1)
            return time.monotonic() - up_at if ok else None

        async def settings_back():
            await run.db(set_config, max_customers_per_mitra=2)

            async def capacity_everywhere():
                replies = await asyncio.gather(*(
                    run.probe.get("/api/mitra/status", mitras[i % len(mitras)].token, timeout=5) for i in range(12)
                ))
                return all(r.status == 200 and r.body.get("capacity") == 2 for r in replies)

            ok, _ = await wait_until(capacity_everywhere, 30, 0.2)
            return time.monotonic() - up_at if ok else None

        rest, health, socket_seconds, settings_seconds = await asyncio.gather(rest_back(), health_back(), sockets_back(), settings_back())
        await run.db(set_config, max_customers_per_mitra=1)
        await asyncio.sleep(1.5)

        # availability: mitras going offline and one online again through the API are seen
        async def availability_is(expected: bool):
            replies = await asyncio.gather(*(
                run.probe.get("/api/client/mitra-availability", blast_customers[i].token, timeout=5) for i in range(6)
            ))
            return all(r.status == 200 and r.body.get("available") is expected for r in replies)

        toggled = time.monotonic()
        await asyncio.gather(*(run.api.post("/api/mitra/status/offline", m.token) for m in idle))
        off_ok, _ = await wait_until(lambda: availability_is(False), 20, 0.2)
        await run.api.post("/api/mitra/status/online", idle[0].token)
        on_ok, _ = await wait_until(lambda: availability_is(True), 20, 0.2)
        availability_seconds = time.monotonic() - toggled if off_ok and on_ok else None

        # Celery: new attempts with a 6 s window fail on time
        late_blasts = [b["id"] for b in await asyncio.gather(*(run.start_blast(c) for c in late_customers))]
        deadlines = await run.db(data.deadlines_of, blast_ids=late_blasts)

        async def late_fired():
            rows = await run.db(data.blast_outcomes, late_blasts)
            return rows if all(r["failures"] for r in rows.values()) else None

        late_rows, _ = await wait_until(late_fired, 30, 0.5)
        if late_rows:
            celery_late = max((r["failures"][0][1] - deadlines[sid]).total_seconds() for sid, r in late_rows.items())
        else:
            celery_late = None
        early_rows = await run.db(data.blast_outcomes, blasts)
        in_outage_fired = sum(1 for r in early_rows.values() if [t for t, _ in r["failures"]] == ["no_mitra_available"])

        what = "Redis" if needs_redis else "PostgreSQL"
        run.record(f"{name} answers while down", f"{outage_503} × 503 service_unavailable", "> 0, no other 5xx",
                   outage_503 > 0 and not ledger.bad_5xx(down_at, up_at),
                   f"{sum(during.values())} answers while {what} was down, by status {dict(sorted(during.items()))}")
        parts = {"REST": rest, "health": health, "sockets + delivery": socket_seconds, "live settings": settings_seconds}
        worst = None if any(v is None for v in parts.values()) else max(parts.values())
        run.record(f"{name} seconds to recover", secs(worst), f"<= {RECOVERY_TARGET_SECONDS:.0f} s",
                   worst is not None and worst <= RECOVERY_TARGET_SECONDS,
                   "after it came back: " + ", ".join(f"{k} {secs(v)}" for k, v in parts.items())
                   + f" (every socket reconnected and got a message sent after; a settings change made then read back from "
                   f"every process); {sum(len(s.closes) for s in sockets.by_user.values())} socket closes in all")
        run.record(f"{name} availability after recovery", secs(availability_seconds), "<= 5 s (SPEC §3)",
                   availability_seconds is not None and availability_seconds <= 5,
                   f"{len(idle)} mitras offline, then one online again, through the API; seen by fresh connections")
        run.record(f"{name} timers after recovery", f"{in_outage_fired}/{len(blasts)} due in the outage fired; new ones {secs(celery_late)} late",
                   f"all; <= {RECOVERY_TARGET_SECONDS:.0f} s", in_outage_fired == len(blasts) and celery_late is not None and celery_late <= RECOVERY_TARGET_SECONDS)
        messages_ok = await _messages_consistent(run, traffic, sessions)
        run.record(f"{name} messages", messages_ok[0], "every 201 stored once", messages_ok[1])
    finally:
        await traffic.stop()
        await sockets.close()
    await common_figures(run, name, ledger, since=since, pids_before=pids_before)


async def _async(value):
    return value


async def _messages_consistent(run: Run, traffic: Traffic, sessions) -> tuple[str, bool]:
    """Every message the app answered 201/200 for is stored exactly once; nothing is
    stored that the app refused."""
    stored = await run.db(data.stored_messages, [sid for sid, _, _ in sessions])
    by_client_id: dict[str, list[str]] = {}
    for rows in stored.values():
        for client_id, mid in rows:
            by_client_id.setdefault(client_id, []).append(mid)
    settled = [m for m in traffic.sent if m.status in (200, 201)]
    missing = [m for m in settled if len(by_client_id.get(m.client_message_id, [])) != 1]
    refused_but_stored = [m for m in traffic.sent if m.status not in (200, 201) and m.status >= 400 and m.client_message_id in by_client_id]
    unsettled = [m for m in traffic.sent if m.status not in (200, 201)]
    text = (f"{len(settled)}/{len(traffic.sent)} stored ({sum(m.tries for m in traffic.sent)} tries); "
            f"{len(missing)} answered but not stored once; {len(refused_but_stored)} refused yet stored; {len(unsettled)} never settled")
    return text, not missing and not refused_but_stored


async def f2_redis_outage(run: Run) -> None:
    await _dependency_outage(run, "F2 Redis down 10 s", stop=run.services.stop_redis, start=run.services.start_redis, needs_redis=True)


async def f3_postgres_outage(run: Run) -> None:
    await _dependency_outage(run, "F3 PostgreSQL down 10 s", stop=run.services.stop_postgres, start=run.services.start_postgres, needs_redis=False)


# --- F4: a web process killed ------------------------------------------------------------------------
async def f4_web_kill(run: Run) -> None:
    """Sockets spread over the web processes, messages and new requests in flight; one
    web process is killed with -9. Its clients reconnect (to the other process, or the
    restarted one) and get back through REST what they missed."""
    name = "F4 web -9"
    await run.db(set_config, pairing_blast_timeout_seconds=120, max_customers_per_mitra=1)
    customers = run.population.take_customers(20)
    mitras = run.take_mitras(20)
    idle = run.take_mitras(10)
    blast_customers = run.population.take_customers(5)
    ledger = Ledger()
    sockets = Sockets(run.ws_session, run.ws_base)
    sockets.open("client", customers)
    sockets.open("mitra", mitras + idle)
    traffic = Traffic(run.api, ledger)
    since = killed_at = time.monotonic()
    try:
        await sockets.all_connected(30)
        sessions = await run.open_sessions(customers, mitras, "long")
        await run.db(set_online, [m.id for m in mitras + idle])
        traffic.start(chats=[(sid, c) for sid, c, _ in sessions] + [(sid, m) for sid, _, m in sessions], interval=0.3)
        await asyncio.sleep(2)
        # the web process holding the most of these sockets (the kernel hands connections
        # to whichever process accepts first, so the split is seldom even)
        held = sockets_per_process(run)
        victim_name = max(held, key=held.get)
        victim = run.supervisor.children[victim_name]
        os.killpg(victim.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        log(f"F4: killed {victim_name} (pid {victim.pid}), which held {held[victim_name]} of the sockets ({held})")
        # new requests while its clients are away
        blasts = [b["id"] for b in await asyncio.gather(*(run.start_blast(c, api=run.probe) for c in blast_customers))]
        reconnected, _ = await wait_until(lambda: _async(sockets.connected_count() == len(sockets.by_user)
                                                         and any(t >= killed_at for s in sockets.by_user.values() for t in s.closes)), 30, 0.1)
        dropped = [s for s in sockets.by_user.values() if any(t >= killed_at for t in s.closes)]
        back = [min(t for t in s.reconnected if t >= killed_at) for s in dropped if any(t >= killed_at for t in s.reconnected)]
        waited = max(back) - killed_at if reconnected and len(back) == len(dropped) else None
        await traffic.stop()
        await asyncio.sleep(2)  # the last events arrive

        # what each dropped client missed, and whether REST gives it back
        stored = await run.db(data.stored_messages, [sid for sid, _, _ in sessions])
        peer_of: dict[str, tuple[str, str]] = {}
        for sid, c, m in sessions:
            peer_of[c.id] = (sid, m.id)
            peer_of[m.id] = (sid, c.id)
        person = {p.id: p for p in customers + mitras + idle}
        unrecovered_messages = 0
        missed_messages = 0
        for sock in dropped:
            if sock.user_id not in peer_of:
                continue
            sid, _ = peer_of[sock.user_id]
            seen = {p["message"]["id"] for _, p in sock.frames if p.get("type") == "message"}
            last_before = None
            for at, p in sock.frames:
                if p.get("type") == "message" and at < killed_at:
                    last_before = p["message"]["id"]
            path = f"/api/chat/{sid}/messages" + (f"?after={last_before}" if last_before else "")
            reply = ledger.add("recover_messages", await run.api.get(path, person[sock.user_id].token))
            recovered = {m["id"] for m in reply.body.get("results", [])} if reply.status == 200 else set()
            all_ids = {mid for _, mid in stored[sid]}
            missing = all_ids - seen
            missed_messages += len(missing)
            unrecovered_messages += len(missing - recovered)
        # pending requests: every mitra sees every open request offered to it
        unrecovered_requests = 0
        for m in idle:
            reply = ledger.add("recover_requests", await run.api.get("/api/mitra/chat-requests", m.token))
            listed = {r["request_id"] for r in reply.body.get("results", [])} if reply.status == 200 else set()
            unrecovered_requests += len(set(blasts) - listed)
        # session state: what the customer's app shows matches
        wrong_state = 0
        for sid, c, _ in sessions:
            reply = ledger.add("recover_session", await run.api.get(f"/api/client/chat/{sid}", c.token))
            if reply.status != 200 or reply.body.get("status") != "active":
                wrong_state += 1
        health = await run.wait_health(30)
        replaced = run.supervisor.children[victim_name]
        run.record(f"{name} sockets on the killed process", f"{len(dropped)}/{len(sockets.by_user)} dropped",
                   ">= 10 (else little was tested)", len(dropped) >= 10,
                   f"{victim_name} started again by the launcher as pid {replaced.pid}" if replaced.pid != victim.pid
                   else f"{victim_name} was not started again")
        run.record(f"{name} seconds to reconnect", secs(waited), f"<= {RECOVERY_TARGET_SECONDS:.0f} s",
                   waited is not None and waited <= RECOVERY_TARGET_SECONDS,
                   f"the last of the dropped sockets connected again {secs(waited)} after the kill (the apps retry after "
                   f"{RECONNECT_DELAY_SECONDS} s); /health 200")
        run.record(f"{name} missed, not recoverable through REST", str(unrecovered_messages + unrecovered_requests + wrong_state), "0",
                   unrecovered_messages + unrecovered_requests + wrong_state == 0,
                   f"dropped clients missed {missed_messages} messages (all back through messages?after=: {missed_messages - unrecovered_messages}); "
                   f"{len(blasts)} new requests listed for each of {len(idle)} mitras ({unrecovered_requests} missing); "
                   f"{len(sessions) - wrong_state}/{len(sessions)} sessions read back active")
        messages_ok = await _messages_consistent(run, traffic, sessions)
        run.record(f"{name} messages", messages_ok[0], "every 201 stored once", messages_ok[1])
    finally:
        await traffic.stop()
        await sockets.close()
    await common_figures(run, name, ledger, since=killed_at)


def sockets_per_process(run: Run) -> dict[str, int]:
    """Established TCP connections on the app's port, per web process."""
    counts = {}
    for name, proc in run.supervisor.children.items():
        if name.startswith("web-") and proc.poll() is None:
            counts[name] = sum(
                1 for c in psutil.Process(proc.pid).net_connections(kind="tcp")
                if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == run.port
            )
    return counts


# --- F5: beat killed ---------------------------------------------------------------------------------
async def f5_beat_kill(run: Run) -> None:
    """Beat killed with -9 while deadlines whose tasks were lost come due (moved into the
    past behind the worker's back): nothing fires them until beat is back, then its
    backstop fires every one."""
    name = "F5 beat -9"
    await run.db(set_config, pairing_blast_timeout_seconds=300, extension_timeout_seconds=300, max_customers_per_mitra=1)
    customers = run.population.take_customers(20)
    mitras = run.take_mitras(20)
    idle = run.take_mitras(5)
    blast_customers = run.population.take_customers(10)
    sweep_customers = run.population.take_customers(10)
    ledger = Ledger()
    traffic = Traffic(run.api, ledger)
    since = time.monotonic()
    try:
        sessions = await run.open_sessions(customers, mitras, "long")
        extensions = await asyncio.gather(*(run.request_extension(c, sid) for sid, c, _ in sessions[:10]))
        await run.db(set_online, [m.id for m in mitras + idle])
        blasts = [b["id"] for b in await asyncio.gather(*(run.start_blast(c) for c in blast_customers))]
        ending = [sid for sid, _, _ in sessions[10:]]
        # payments for the sweeper: paid and never used, and never paid
        unused = await asyncio.gather(*(run.pay(c, "long") for c in sweep_customers[:5]))
        unpaid = [
            (await run.must(await run.api.post("/api/client/payment-sessions", c.token, {"tier_id": run.tiers["long"]}), "pay"))["id"]
            for c in sweep_customers[5:]
        ]
        traffic.start(pollers=blast_customers)
        beat = run.supervisor.children["celery-beat"]
        run.supervisor.hold("celery-beat")
        os.killpg(beat.pid, signal.SIGKILL)
        log(f"F5: killed beat (pid {beat.pid})")
        moved = await run.db(data.move_deadlines_into_past, blast_ids=blasts, extension_ids=extensions, session_ids=ending, seconds=1)
        stale = await run.db(data.expire_payments_now, list(unused) + unpaid)
        await asyncio.sleep(10)
        unswept_while_down = sum(1 for st in (await run.db(data.payment_statuses, list(unused) + unpaid)).values() if st != "expired")
        overdue_while_down = await run.db(data.overdue_timers, 0)
        run.supervisor.release("celery-beat")
        released = time.monotonic()

        async def all_fired():
            b = await run.db(data.blast_outcomes, blasts)
            e = await run.db(data.extension_outcomes, extensions)
            s = await run.db(data.session_outcomes, ending)
            done = (all(r["failures"] for r in b.values()) and all(r["status"] != "pending" for r in e.values())
                    and all(r["status"] in ("closing", "completed") for r in s.values()))
            return (b, e, s) if done else None

        outcome, waited = await wait_until(all_fired, 60, 0.3)

        async def all_swept():
            statuses = await run.db(data.payment_statuses, list(unused) + unpaid)
            return all(st == "expired" for st in statuses.values())

        swept, _ = await wait_until(all_swept, SWEEP_INTERVAL_SECONDS + RECOVERY_TARGET_SECONDS, 0.5)
        swept_after = time.monotonic() - released if swept else None
        new_beat = run.supervisor.children["celery-beat"]
        run.record(f"{name} lost deadlines while beat was down", f"{sum(overdue_while_down.values())} of {moved} unfired", f"{moved} (nothing else fires them)",
                   sum(overdue_while_down.values()) >= moved, f"{overdue_while_down}")
        run.record(f"{name} seconds to catch up", secs(waited if outcome else None), f"<= {RECOVERY_TARGET_SECONDS:.0f} s",
                   outcome is not None and waited <= RECOVERY_TARGET_SECONDS,
                   f"beat restarted by the launcher as pid {new_beat.pid}; {len(blasts)} blasts, {len(extensions)} extensions, "
                   f"{len(ending)} session ends fired by the backstop; counted from the restart")
        run.record(f"{name} stale payments swept", secs(swept_after), f"<= {RECOVERY_TARGET_SECONDS:.0f} s",
                   bool(swept) and swept_after <= RECOVERY_TARGET_SECONDS and stale == len(unused) + len(unpaid)
                   and unswept_while_down == stale,
                   f"{stale} payments ({len(unused)} paid and unused, {len(unpaid)} never paid) ran out while beat was down "
                   f"({unswept_while_down} still unswept then); expired by the sweep beat runs when it starts, counted from the restart")
    finally:
        await traffic.stop()
    await common_figures(run, name, ledger, since=since)


SCENARIOS = {
    "F1": ("Celery worker killed with -9", f1_worker_kill, 240),
    "F2": ("Redis stopped for 10 s", f2_redis_outage, 240),
    "F3": ("PostgreSQL stopped for 10 s", f3_postgres_outage, 240),
    "F4": ("a web process killed with -9", f4_web_kill, 180),
    "F5": ("Celery beat killed with -9", f5_beat_kill, 180),
}
