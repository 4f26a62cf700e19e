"""The launcher's supervisor (``ops.launch.Supervisor``, used by ``make run``,
``ops.launch web``, ``make bench`` and ``make faults``): a process that dies is started
again; one that keeps dying stops the app; a held one waits."""

from __future__ import annotations

import os
import signal
import sys

import pytest

from ops.launch import Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]
FAILER = [sys.executable, "-c", "import sys; sys.exit(3)"]


@pytest.fixture
def supervisor():
    sup = Supervisor()
    sup.RESTART_MIN_GAP_SECONDS = 0.0
    yield sup
    sup.stop_all(grace_seconds=5)


def _wait_dead(proc) -> None:
    proc.wait(timeout=30)


def test_a_killed_process_is_started_again_with_the_same_command(supervisor):
    supervisor.spawn("web-1", SLEEPER)
    first = supervisor.children["web-1"]
    os.killpg(first.pid, signal.SIGKILL)
    _wait_dead(first)

    assert supervisor.tend() is None

    second = supervisor.children["web-1"]
    assert second.pid != first.pid and second.poll() is None
    assert second.args == first.args
    assert len(supervisor.restarts["web-1"]) == 1


def test_a_held_process_waits_until_released(supervisor):
    supervisor.spawn("celery-beat", SLEEPER)
    first = supervisor.children["celery-beat"]
    supervisor.hold("celery-beat")
    os.killpg(first.pid, signal.SIGKILL)
    _wait_dead(first)

    supervisor.tend()
    assert supervisor.children["celery-beat"] is first

    supervisor.release("celery-beat")
    supervisor.tend()
    assert supervisor.children["celery-beat"].pid != first.pid


def test_a_process_that_keeps_dying_stops_the_app(supervisor):
    supervisor.spawn("celery-worker", FAILER)
    reason = None
    for _ in range(Supervisor.MAX_RESTARTS + 1):
        _wait_dead(supervisor.children["celery-worker"])
        reason = supervisor.tend()
        if reason:
            break

    assert reason is not None and "celery-worker" in reason
    assert len(supervisor.restarts["celery-worker"]) == Supervisor.MAX_RESTARTS


def test_nothing_is_restarted_once_stopping(supervisor):
    supervisor.spawn("web-1", SLEEPER)
    proc = supervisor.children["web-1"]
    supervisor.stop_all(grace_seconds=10)

    assert proc.poll() is not None
    assert supervisor.tend() is None
    assert supervisor.children["web-1"] is proc


def test_wait_returns_1_when_a_process_keeps_dying(supervisor):
    supervisor.spawn("web-1", FAILER)

    assert supervisor.wait() == 1  # instead of restarting it forever (pytest's timeout bounds a hang)
    assert len(supervisor.restarts["web-1"]) == Supervisor.MAX_RESTARTS
