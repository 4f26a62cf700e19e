from celery import shared_task

from realtime.push import FcmPushBackend, PushMessage


@shared_task(ignore_result=True)
def send_fcm(messages: list[dict]) -> None:
    """Send pushes through FCM from a worker, never from the request that caused them."""
    FcmPushBackend.send_now([PushMessage(**m) for m in messages])
