from celery import shared_task

from idempotency.services import idempotency_records_prune


@shared_task(ignore_result=True)
def prune_idempotency_keys() -> int:
    """Beat, every 60 s: forget Idempotency-Keys older than their retention."""
    return idempotency_records_prune()
