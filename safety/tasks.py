"""Thin Celery tasks of safety."""

from celery import shared_task

from safety.crisis import crisis_alerts_raise


@shared_task(ignore_result=True, acks_late=True)
def raise_crisis_alerts(chat_session_id: str, message_id: str, phrases: list[str]) -> int:
    """A customer's message matched crisis phrases (``safety.crisis.customer_message_screen``).
    Idempotent: one alert per session and phrase."""
    return len(crisis_alerts_raise(chat_session_id=chat_session_id, message_id=message_id, phrases=phrases))
