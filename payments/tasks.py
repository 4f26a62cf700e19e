from celery import shared_task

from payments import services


@shared_task(ignore_result=True)
def sweep_payments() -> int:
    """Beat, every 60 s: expire stale payment sessions in one batch, and forget
    Idempotency-Keys older than their retention."""
    from payments.idempotency import idempotency_records_prune

    expired = len(services.payments_sweep())
    idempotency_records_prune()
    return expired
