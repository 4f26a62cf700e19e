"""The metrics the processes record (``prometheus_client``), and the calls that record them.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``make run``/``make test`` set it; production sets
it per machine, see the README's Metrics section) every process writes its values to
memory-mapped files in that directory, and a scrape of ``/metrics`` in any web process
adds up the files of all of them:
https://prometheus.github.io/client_python/multiprocess/
The directory must be set before ``prometheus_client`` is first imported, and be empty
when the processes start.

Recording is a few memory writes, no Redis or database round trip (the hot paths are
benchmarked). Domain services record through the functions below, after their commit, so
a rolled-back transaction counts nothing.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from config.on_commit import after_commit

HTTP_REQUESTS = Counter(
    "curhat_http_requests",
    "HTTP requests answered, by URL route (the pattern, never the raw path), method and status.",
    ["route", "method", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "curhat_http_request_duration_seconds",
    "From daphne handing the request to the app to the answer handed back (body read and thread wait included).",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
WEBSOCKET_CONNECTIONS = Gauge(
    "curhat_websocket_connections",
    "Websockets open now (accepted and signed in), by endpoint; the sum over live processes.",
    ["endpoint"],
    multiprocess_mode="livesum",
)
PAIRING_ATTEMPTS = Counter(
    "curhat_pairing_attempts",
    "Pairing attempts that ended: request_type general is a blast to every available mitra, "
    "returning is offered to one mitra; outcome matched, failed (with its cause tag) or cancelled.",
    ["request_type", "outcome", "cause"],
)
MATCH_DURATION = Histogram(
    "curhat_match_duration_seconds",
    "From chat/start (the attempt's created_at) to a mitra's accept.",
    ["request_type"],
    buckets=(0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0),
)
DEADLINE_LATENESS = Histogram(
    "curhat_deadline_lateness_seconds",
    "How long after its stored deadline a deadline fired (a Celery task or beat's backstop), "
    "by deadline: pairing (deadline_at), session_end (ends_at), goodbye (closes_at), extension.",
    ["deadline"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0),
)

WEBSOCKET_ENDPOINTS = ("client", "mitra", "operator")


def pairing_attempt_ended(*, request_type: str, outcome: str, cause: str = "") -> None:
    """Count one attempt's end once the surrounding transaction commits."""
    child = PAIRING_ATTEMPTS.labels(str(request_type), outcome, str(cause))
    after_commit(child.inc)


def pairing_matched(*, request_type: str, started_at, accepted_at) -> None:
    """An accepted attempt: counted as matched, its time from chat/start observed."""
    pairing_attempt_ended(request_type=request_type, outcome="matched")
    seconds = max(0.0, (accepted_at - started_at).total_seconds())
    child = MATCH_DURATION.labels(str(request_type))
    after_commit(lambda: child.observe(seconds))


def deadline_fired(*, deadline: str, due_at, fired_at) -> None:
    """A deadline that fired (changed something), ``fired_at - due_at`` late."""
    seconds = max(0.0, (fired_at - due_at).total_seconds())
    child = DEADLINE_LATENESS.labels(deadline)
    after_commit(lambda: child.observe(seconds))
