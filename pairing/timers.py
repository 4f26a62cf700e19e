"""Backstops of other apps' deadlines, run by the same beat task and ``fire_due_timers``.

Apps that depend on pairing (extensions) register here in ``AppConfig.ready``, so
pairing never imports them.
"""

from __future__ import annotations

from typing import Callable

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
