"""Thin Celery tasks: fetch ids, call a service. Both are idempotent."""

from celery import shared_task

from pairing import deadlines
from pairing.timers import FIRE_CHAT_DEADLINE_TASK


@shared_task(name=FIRE_CHAT_DEADLINE_TASK, ignore_result=True)
def fire_chat_deadline(chat_session_id: str) -> bool:
    """Enqueued after commit (``pairing.timers.timer_schedule``) with ``eta`` = the
    session's next deadline (pairing window, ``ends_at`` or ``closes_at``)."""
    return deadlines.chat_timer_fire(chat_session_id=chat_session_id)


@shared_task(ignore_result=True)
def fire_due_timers() -> int:
    """Beat backstop (every 2 s, and once when a worker starts): deadlines a dead or
    restarted worker missed."""
    return deadlines.due_deadlines_fire()
