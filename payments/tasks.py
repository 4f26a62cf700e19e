from celery import shared_task

from payments import services
from payments.midtrans import GatewayError


@shared_task(ignore_result=True)
def sweep_payments() -> int:
    """Beat, every 60 s: expire stale payment sessions in one batch."""
    expired = len(services.payments_sweep())
    services.gateway_payments_reconcile()
    return expired


@shared_task(ignore_result=True, autoretry_for=(GatewayError,), retry_backoff=5, max_retries=10)
def gateway_cancel(payment_id: str) -> None:
    """After the sweeper expired a gateway payment: cancel it there (retried while the
    gateway cannot be reached)."""
    services.gateway_payment_cancel(payment_id=payment_id)


@shared_task(ignore_result=True, autoretry_for=(GatewayError,), retry_backoff=5, retry_backoff_max=300, max_retries=20)
def extension_refund(payment_id: str) -> str:
    """An extension payment that ended unused: its refund at the gateway, tried again
    while the gateway cannot be reached (its refund_key makes that safe)."""
    return services.extension_payment_refund_run(payment_id=payment_id)
