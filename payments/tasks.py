from celery import shared_task

from payments import services


@shared_task(ignore_result=True)
def sweep_payments() -> int:
    """Beat, every 60 s: expire stale payment sessions in one batch."""
    return len(services.payments_sweep())
