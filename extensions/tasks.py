from celery import shared_task

from extensions import services


@shared_task(name=services.FIRE_EXTENSION_DEADLINE_TASK, ignore_result=True)
def fire_extension_deadline(extension_id: str) -> bool:
    """Enqueued after commit with ``eta`` = the extension's ``deadline_at``."""
    return services.extension_deadline_fire(extension_id=extension_id)
