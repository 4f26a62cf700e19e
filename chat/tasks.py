"""Thin Celery tasks of chat."""

from celery import shared_task

from chat.services import messages_purge


@shared_task(ignore_result=True)
def purge_messages() -> int:
    """Beat, daily: the retention purge (SPEC §13). Idempotent and resumable."""
    return messages_purge()
