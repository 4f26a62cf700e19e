"""Thin Celery tasks of accounts."""

from celery import shared_task

from accounts.suspended import suspended_users_publish


@shared_task(ignore_result=True)
def publish_suspended_users() -> int:
    """Beat (every 30 s and at beat's start): rebuild the shared set of suspended
    accounts, in case Redis lost it."""
    return suspended_users_publish()
