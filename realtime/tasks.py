from celery import shared_task

from realtime.push import SEND_FCM_TASK, FcmPushBackend, PushMessage


@shared_task(name=SEND_FCM_TASK, ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_fcm(messages: list[dict]) -> None:
    """Send pushes through FCM from a worker, never from the request that caused them.
    A network failure before FCM answered is retried with backoff (up to 5 times)."""
    FcmPushBackend.send_now([PushMessage(**m) for m in messages])
