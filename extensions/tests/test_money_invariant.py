"""SPEC §4's money invariant, extended to extensions (SPEC §6), under random sequences.

Each seed drives a reproducible sequence (``random.Random(seed)``) over a few active
sessions: extension payments picked, paid or left pending; extension requests (some on
unusable payments); the mitra's approvals and declines (some on resolved extensions,
some replayed with their ``Idempotency-Key``); timeouts with the mitra online or not,
connected or not (presence through ``presence_beat`` / ``presence_leave``) and either
default action, fired by the task's service or the beat backstop (some twice, some
before the deadline); the session's own timer while an extension waits; early ends
and new sessions; payments running out and the sweeper. Requests and answers go
through the API as the apps send them, timers through the services the tasks call.

After every step, and in a strict form once everything has settled:
- every extension payment with a charge is consumed by exactly one approved /
  auto-approved extension, charged exactly its amount;
- released, expired, abandoned, pending and confirmed extension payments have no charge;
- no payment is charged twice, none consumed twice;
- every extension has exactly one audit row iff it is resolved, tagged as its status says;
- each session's ``ends_at`` moved by exactly the minutes of its approved extensions.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from django.utils import timezone

from extensions import services as extension_services
from extensions.models import Extension, ExtensionAudit
from extensions.tests.state import PAYMENTS, approve_url, decline_url, extensions_url
from pairing import deadlines
from pairing.models import ChatSession
from payments import services as payment_services
from payments.models import PaymentEvent, PaymentSession, TierKind, Transaction
from realtime.presence import presence_beat, presence_leave

pytestmark = pytest.mark.django_db

SEEDS = range(10)
STEPS = 60
SESSIONS = 3

APPROVED = {"approved", "auto_approved"}
TAG_OF = {
    "approved": "extension_approved",
    "auto_approved": "extension_auto_approved",
    "rejected": "extension_rejected",
    "safeguard_rejected": "extension_safeguard_tripped",
}
# what each answer may be told; anything else (a 500, a 400) fails the test
ALLOWED = {
    "pay": {201, 404, 409},
    "confirm": {200, 409},
    "request": {201, 404, 409},
    "approve": {200, 404, 409},
    "decline": {200, 404, 409},
}


def assert_extension_money_invariant(*, settled: bool = False) -> None:
    charges = defaultdict(list)
    for pid, kind, amount in Transaction.objects.filter(kind="charge").values_list("payment_session_id", "kind", "amount"):
        charges[pid].append((kind, amount))
    consumed_events = Counter(PaymentEvent.objects.filter(to_status="consumed").values_list("payment_session_id", flat=True))
    extension_of = {e.payment_session_id: e for e in Extension.objects.all()}
    audits = defaultdict(list)
    for extension_id, tag in ExtensionAudit.objects.values_list("extension_id", "tag"):
        audits[extension_id].append(tag)

    # nothing charged twice, nothing consumed twice (session payments included)
    assert all(len(c) == 1 for c in charges.values()), dict(charges)
    assert all(n == 1 for n in consumed_events.values()), consumed_events

    for p in PaymentSession.objects.filter(is_extension=True):
        where = f"extension payment {p.id} ({p.status})"
        extension = extension_of.get(p.id)
        if charges[p.id]:
            # charged ⇒ consumed by exactly one approved extension (of its own session), for its amount
            assert charges[p.id] == [("charge", p.amount)], where
            assert p.status == "consumed", where
            assert extension is not None and extension.status in APPROVED, f"{where}: {extension and extension.status}"
            assert extension.chat_session_id == p.chat_session_id, where
        else:
            assert p.status in ("pending", "confirmed", "released", "expired", "abandoned"), f"{where}: uncharged"
        if p.status == "released":
            assert extension is not None and extension.status in ("rejected", "safeguard_rejected"), where
        if p.status in ("pending", "expired", "abandoned"):
            assert extension is None, f"{where}: has extension {extension.status}"
        if p.status == "confirmed":
            assert extension is None or extension.status == "pending", where
        if settled:
            assert p.status not in ("pending", "confirmed"), f"{where}: not settled"

    for e in Extension.objects.all():
        where = f"extension {e.id} ({e.status})"
        if e.status == "pending":
            assert audits[e.id] == [] and e.resolved_at is None, where
            assert PaymentSession.objects.get(id=e.payment_session_id).status == "confirmed", where
            assert not settled, f"{where}: never resolved"
        else:
            assert audits[e.id] == [TAG_OF[e.status]], f"{where}: audits {audits[e.id]}"
            assert e.resolved_at is not None, where

    # one pending extension per session at most; ends_at moved by exactly the approved minutes
    approved_minutes = Counter()
    pending = Counter()
    for sid, status, minutes in Extension.objects.values_list("chat_session_id", "status", "minutes"):
        approved_minutes[sid] += minutes if status in APPROVED else 0
        pending[sid] += status == "pending"
    assert all(n <= 1 for n in pending.values()), pending
    for sid, started_at, ends_at, duration in ChatSession.objects.filter(started_at__isnull=False).values_list(
        "id", "started_at", "ends_at", "duration_minutes"
    ):
        assert ends_at - started_at == timedelta(minutes=duration + approved_minutes[sid]), f"session {sid} ends_at"


class World:
    """The sessions, their clients and what happened, for one seed."""

    def __init__(self, rng: random.Random, *, lives: list, tiers: list, start_session) -> None:
        self.rng = rng
        self.lives = lives  # every session made so far (ended ones included)
        self.tiers = tiers
        self.start_session = start_session
        self.payments: list[tuple[str, object]] = []  # (payment id, live)
        self.keys: dict[str, tuple] = {}  # idempotency key → (client, url)
        self.log: list[str] = []
        self.answers: Counter = Counter()

    def call(self, kind: str, client, url: str, body=None, **headers):
        response = client.post(url, body, format="json", **headers)
        assert response.status_code in ALLOWED[kind], (kind, url, response.status_code, response.content, self.log[-5:])
        code = response.json().get("code") if response.status_code >= 400 else "ok"
        self.answers[(kind, response.status_code, code)] += 1
        self.log.append(f"{kind} {url}: {response.status_code} {code}")
        return response

    def live(self):
        """Mostly a session still running; now and then any (refusals are tested too)."""
        active = set(ChatSession.objects.filter(id__in=[l.id for l in self.lives], status="active").values_list("id", flat=True))
        running = [l for l in self.lives if l.id in {str(a) for a in active}]
        return self.rng.choice(running if running and self.rng.random() < 0.9 else self.lives)

    def extension(self, *, pending: bool | None = None):
        qs = Extension.objects.filter(chat_session_id__in=[l.id for l in self.lives])
        if pending is not None and self.rng.random() < 0.85:
            qs = qs.filter(status="pending") if pending else qs.exclude(status="pending")
        ids = list(qs.values_list("id", "chat_session_id"))
        if not ids:
            return None, None
        extension_id, session_id = self.rng.choice(ids)
        return extension_id, next(l for l in self.lives if l.id == str(session_id))

    # -- the operations -------------------------------------------------------------------------
    def pay(self):
        live = self.live()
        body = {"tier_id": str(self.rng.choice(self.tiers).id), "is_extension": True, "chat_session_id": live.id}
        response = self.call("pay", live.customer_client, PAYMENTS, body)
        if response.status_code == 201:
            self.payments.append((response.json()["id"], live))
            if self.rng.random() < 0.8:
                self.call("confirm", live.customer_client, f"{PAYMENTS}/{response.json()['id']}/confirm")

    def request(self):
        if not self.payments:
            return
        unused = set(
            PaymentSession.objects.filter(id__in=[p for p, _ in self.payments], status="confirmed", extension__isnull=True)
            .values_list("id", flat=True)
        )
        usable = [(p, live) for p, live in self.payments if p in {str(u) for u in unused}]
        payment_id, live = self.rng.choice(usable if usable and self.rng.random() < 0.8 else self.payments)
        if self.rng.random() < 0.1:  # somebody else's session, or another of theirs
            live = self.live()
        self.call("request", live.customer_client, extensions_url(live.id), {"payment_session_id": payment_id})

    def answer(self, approve: bool):
        extension_id, live = self.extension(pending=True)
        if extension_id is None:
            return
        url = (approve_url if approve else decline_url)(extension_id)
        client = live.mitra_client if self.rng.random() < 0.9 else self.live().mitra_client  # sometimes not theirs
        headers = {}
        if self.rng.random() < 0.4:
            key = f"answer-{len(self.keys)}"
            self.keys[key] = (client, url)
            headers["HTTP_IDEMPOTENCY_KEY"] = key
        self.call("approve" if approve else "decline", client, url, **headers)

    def replay_answer(self):
        if not self.keys:
            return
        key = self.rng.choice(sorted(self.keys))
        client, url = self.keys[key]
        before = snapshot()
        self.call("approve" if url.endswith("approve") else "decline", client, url, HTTP_IDEMPOTENCY_KEY=key)
        assert snapshot() == before, f"replayed {key} changed state"

    def timeout(self):
        extension_id, _ = self.extension(pending=True)
        if extension_id is None:
            return
        deadline = Extension.objects.get(id=extension_id).deadline_at
        if self.rng.random() < 0.15:  # a task that came early does nothing
            before = snapshot()
            assert extension_services.extension_deadline_fire(extension_id=extension_id, now=deadline - timedelta(seconds=1)) is False
            assert snapshot() == before
            return
        now = deadline + timedelta(seconds=self.rng.choice([0, 1, 30]))
        if self.rng.random() < 0.5:
            fired = extension_services.extension_deadline_fire(extension_id=extension_id, now=now)
        else:
            fired = deadlines.due_deadlines_fire(now=now)
        self.log.append(f"timeout {extension_id}: {fired}")
        if self.rng.random() < 0.3:  # delivered twice
            before = snapshot()
            assert extension_services.extension_deadline_fire(extension_id=extension_id, now=now) is False
            assert snapshot() == before

    def session_timer(self):
        """The session's own timer at its ends_at: held while an extension waits."""
        live = self.live()
        session = live.session
        if session.status != "active":
            return
        held = extension_services.extension_pending_exists(live.id)
        fired = deadlines.chat_timer_fire(chat_session_id=live.id, now=session.ends_at + timedelta(seconds=1))
        assert fired is not held, (fired, held)
        assert live.session.status == ("active" if held else "closing")
        self.log.append(f"session timer {live.id}: {fired}")
        if not held:  # the goodbye is over; the customer curhat-s again with the same bestie
            assert deadlines.chat_timer_fire(chat_session_id=live.id, now=live.session.closes_at) is True
            self.lives.append(self.start_session(live))

    def mitra_toggle(self):
        live = self.live()
        status = self.rng.choice(["online", "offline"])
        assert live.mitra_client.post(f"/api/mitra/status/{status}").status_code == 200
        self.log.append(f"mitra {live.mitra.id} {status}")

    def presence(self):
        live = self.live()
        if self.rng.random() < 0.5:
            presence_beat(live.mitra.id, "test-channel")
        else:
            presence_leave(live.mitra.id, "test-channel")

    def default_action(self, settings_now):
        settings_now(extension_default_action_on_timeout=self.rng.choice(["auto_approve", "auto_reject"]))

    def sweep(self):
        if self.payments and self.rng.random() < 0.7:  # a payment's time runs out
            payment_id, _ = self.rng.choice(self.payments)
            PaymentSession.objects.filter(id=payment_id).update(expires_at=timezone.now() - timedelta(seconds=1))
        expired = payment_services.payments_sweep()
        self.log.append(f"sweep: {len(expired)}")
        before = snapshot()
        assert payment_services.payments_sweep() == []  # a second run finds nothing
        assert snapshot() == before

    def replay_confirm(self):
        if not self.payments:
            return
        payment_id, live = self.rng.choice(self.payments)
        was = PaymentSession.objects.get(id=payment_id).status
        before = snapshot()
        response = self.call("confirm", live.customer_client, f"{PAYMENTS}/{payment_id}/confirm")
        if was != "pending":  # confirming again, or confirming a used / ended payment, changes nothing
            assert snapshot() == before
            assert response.status_code == (200 if was == "confirmed" else 409)

    def end_early(self):
        live = self.live()
        if live.session.status == "active" and self.rng.random() < 0.5:
            assert live.customer_client.post(f"/api/client/chat/{live.id}/end").status_code == 200
            self.log.append(f"ended {live.id}")
            self.lives.append(self.start_session(live))

    def settle(self):
        """Every window over, every session over, every payment's time run out."""
        for _ in range(3):
            deadlines.due_deadlines_fire(now=timezone.now() + timedelta(hours=3))
        PaymentSession.objects.filter(status__in=["pending", "confirmed"]).update(expires_at=timezone.now() - timedelta(seconds=1))
        payment_services.payments_sweep()


def snapshot() -> tuple:
    return (
        sorted(PaymentSession.objects.values_list("id", "status")),
        sorted(Extension.objects.values_list("id", "status")),
        sorted(ChatSession.objects.values_list("id", "status", "ends_at")),
        Transaction.objects.count(),
        ExtensionAudit.objects.count(),
        PaymentEvent.objects.count(),
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_extension_money_invariant_under_random_sequences(
    seed, live_session, make_tier, settings_now, extension_tier
):
    rng = random.Random(seed)
    settings_now(extension_timeout_seconds=10, extension_default_action_on_timeout="auto_approve")
    tiers = [extension_tier, make_tier(kind=TierKind.EXTENSION, minutes=30, amount=45_000, name="30 menit")]
    lives = [live_session() for _ in range(SESSIONS)]
    for live in lives:
        presence_beat(live.mitra.id, "test-channel")

    def start_session(ended):
        """The same customer starts a new session; their mitra (made available) accepts it."""
        ended.mitra_client.post("/api/mitra/status/online")
        return live_session(mitra=ended.mitra, customer=ended.customer)

    world = World(rng, lives=lives, tiers=tiers, start_session=start_session)
    operations = [
        (world.pay, 14), (world.request, 14), (lambda: world.answer(True), 8), (lambda: world.answer(False), 5),
        (world.timeout, 10), (world.session_timer, 3), (world.mitra_toggle, 4), (world.presence, 4),
        (lambda: world.default_action(settings_now), 3), (world.sweep, 4), (world.replay_answer, 4),
        (world.replay_confirm, 3), (world.end_early, 1),
    ]
    functions, weights = zip(*operations)

    for step in range(STEPS):
        rng.choices(functions, weights)[0]()
        try:
            assert_extension_money_invariant()
        except AssertionError as exc:
            raise AssertionError(f"seed {seed} step {step}: {exc}\nlog: {world.log[-12:]}") from exc

    world.settle()
    assert_extension_money_invariant(settled=True)
    print(f"seed {seed}:", dict(Counter(Extension.objects.values_list("status", flat=True))), dict(world.answers))
