"""Thin Celery tasks of failed pairings."""

from celery import shared_task

from failed_pairings import services
from payments.midtrans import GatewayError


@shared_task(ignore_result=True, autoretry_for=(GatewayError,), retry_backoff=5, retry_backoff_max=300, max_retries=20)
def gateway_refund(failure_id: str) -> str:
    """After an operator chose ``refunded`` on a gateway payment: the refund at the
    gateway, tried again while it cannot be reached (its refund_key makes that safe)."""
    return services.failed_pairing_refund_run(failure_id=failure_id)
