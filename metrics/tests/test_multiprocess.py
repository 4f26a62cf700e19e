"""Multiprocess mode: what other processes record (with the same
``PROMETHEUS_MULTIPROC_DIR``, as ``make run``'s web processes and worker share it)
appears in this process's scrape, added up; a live gauge of a process that exited stops
counting once the launcher has done prometheus_client's bookkeeping for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from metrics.instruments import HTTP_REQUESTS
from metrics.tests.scrape import scrape
from ops.launch import Supervisor

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not os.environ.get("PROMETHEUS_MULTIPROC_DIR"), reason="multiprocess mode: run through `make test`",
)

_RECORD = """
import sys
from metrics.instruments import HTTP_REQUESTS, WEBSOCKET_CONNECTIONS
HTTP_REQUESTS.labels("test/multiprocess", "GET", "200").inc(int(sys.argv[1]))
WEBSOCKET_CONNECTIONS.labels("client").inc(int(sys.argv[2]))
"""


def _record(requests: int, sockets: int) -> list[str]:
    return [sys.executable, "-c", _RECORD, str(requests), str(sockets)]


def test_values_written_by_other_processes_are_added_up():
    counted = ("curhat_http_requests_total", {"route": "test/multiprocess", "method": "GET", "status": "200"})
    before = scrape().value(counted[0], **counted[1])

    HTTP_REQUESTS.labels("test/multiprocess", "GET", "200").inc(2)  # this process
    for requests in (3, 4):  # two other processes
        subprocess.run(_record(requests, 0), cwd=ROOT, check=True, env=os.environ.copy())

    assert scrape().value(counted[0], **counted[1]) - before == 2 + 3 + 4


def test_a_live_gauge_of_a_process_that_exited_stops_counting(tmp_path):
    before = scrape().value("curhat_websocket_connections", endpoint="client")
    supervisor = Supervisor()
    supervisor.spawn("recorder", _record(0, 5))
    supervisor.hold("recorder")  # exited on purpose: not started again
    child = supervisor.children["recorder"]
    child.wait(timeout=60)
    assert child.returncode == 0

    # dead but not yet reaped: its files still count (prometheus_client cannot know)
    assert scrape().value("curhat_websocket_connections", endpoint="client") - before == 5
    assert supervisor.tend() is None  # the launcher's loop: marks it dead
    assert scrape().value("curhat_websocket_connections", endpoint="client") - before == 0
    assert not list(Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob(f"gauge_livesum_{child.pid}.db"))
