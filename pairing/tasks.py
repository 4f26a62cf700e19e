"""Thin Celery tasks: fetch ids, call a service. Both are idempotent."""

from celery import shared_task

from pairing import services


@shared_task(ignore_result=True)
def fire_chat_deadline(chat_session_id: str) -> bool:
    """Enqueued after commit with ``eta`` = the session's next deadline (pairing window,
    ``ends_at`` or ``closes_at``)."""
    return services.chat_timer_fire(chat_session_id=chat_session_id)


@shared_task(ignore_result=True)
def fire_due_timers() -> int:
    """Beat backstop (every 2 s, and once when a worker starts): deadlines a dead or
    restarted worker missed."""
    return services.due_deadlines_fire()
