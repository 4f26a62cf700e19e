"""Scheduling a session's deadlines, and the hooks other apps' deadlines use.

``timer_schedule`` enqueues the task that fires a deadline on time (firing it:
``pairing.deadlines``). Backstops of other apps' deadlines run in the same beat task
(``fire_due_timers``); apps that depend on pairing (extensions) register them, and
what holds a session's end, here in ``AppConfig.ready``, so pairing never imports
them.
"""

from __future__ import annotations

from typing import Callable

from config.on_commit import task_after_commit

_backstops: list[Callable[..., int]] = []


def register_backstop(fire_due: Callable[..., int]) -> None:
    if fire_due not in _backstops:
        _backstops.append(fire_due)


def registered_backstops() -> list[Callable[..., int]]:
    return list(_backstops)


_end_holds: list[Callable[[object], bool]] = []


def register_end_hold(holds: Callable[[object], bool]) -> None:
    """``holds(chat_session_id)`` True keeps an active session from closing at ``ends_at``
    (an extension awaiting its answer may still move ``ends_at``; its outcome re-arms
    the session timer)."""
    if holds not in _end_holds:
        _end_holds.append(holds)


def end_is_held(chat_session_id) -> bool:
    return any(holds(chat_session_id) for holds in _end_holds)


#: the task that fires a session's next deadline (``pairing.tasks.fire_chat_deadline``)
FIRE_CHAT_DEADLINE_TASK = "pairing.tasks.fire_chat_deadline"


def timer_schedule(chat_session_id, eta) -> None:
    """After commit, enqueue the task that fires this session's next deadline at ``eta``
    (the pairing window, ``ends_at`` or ``closes_at``). The deadline itself is a column;
    the beat backstop (``pairing.deadlines.due_deadlines_fire``) fires it if the task is
    lost."""
    task_after_commit(FIRE_CHAT_DEADLINE_TASK, str(chat_session_id), eta=eta)
