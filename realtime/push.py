"""Mobile push (FCM) behind one interface.

``PUSH_BACKEND`` picks the implementation: ``realtime.push.OutboxPushBackend`` records
each push in ``push_outbox`` (development, tests); ``realtime.push.FcmPushBackend``
sends through fcm-django to every active device of each recipient, in one batch.
Payloads carry only what the recipient may see (services build them; see the
anonymity rule: nothing of a customer but ``call_name`` in a mitra's payload).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Protocol

from celery import current_app
from django.conf import settings
from django.db import connection
from django.utils.module_loading import import_string

from config.sql import json_param

logger = logging.getLogger(__name__)

#: the task that sends pushes through FCM from a worker (``realtime.tasks.send_fcm``)
SEND_FCM_TASK = "realtime.tasks.send_fcm"


@dataclass(frozen=True)
class PushMessage:
    user_id: str
    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)


class PushBackend(Protocol):
    def send(self, messages: list[PushMessage]) -> None: ...


class OutboxPushBackend:
    # one statement, no model instance per push: a blast records thousands
    _INSERT_SQL = """
        INSERT INTO push_outbox (user_id, title, body, data)
        SELECT user_id, title, body, data
        FROM jsonb_to_recordset(%s::jsonb) AS m(user_id uuid, title text, body text, data jsonb)
    """

    def send(self, messages: list[PushMessage]) -> None:
        if not messages:
            return
        with connection.cursor() as cursor:
            rows = [{"user_id": m.user_id, "title": m.title, "body": m.body, "data": m.data} for m in messages]
            cursor.execute(self._INSERT_SQL, [json_param(rows)])


class FcmPushBackend:
    """fcm-django: https://fcm-django.readthedocs.io/en/latest/#sending-messages

    ``send`` runs after a commit, often in a request; the calls to Google do not belong
    there, so it only enqueues them for a worker (``realtime.tasks.send_fcm``, which
    calls ``send_now``)."""

    def send(self, messages: list[PushMessage]) -> None:
        # by name (as ``config.on_commit.task_after_commit``): the task module imports this one
        current_app.send_task(SEND_FCM_TASK, args=[[asdict(m) for m in messages]])

    @staticmethod
    def send_now(messages: list[PushMessage]) -> None:
        from fcm_django.models import FCMDevice
        from firebase_admin.messaging import Message, Notification

        # one batched send (FCM send_each, up to 500 a call) per distinct message, not one per device
        groups: dict[tuple, list[str]] = {}
        for m in messages:
            groups.setdefault((m.title, m.body, tuple(sorted(m.data.items()))), []).append(str(m.user_id))
        for (title, body, data), user_ids in groups.items():
            response = FCMDevice.objects.filter(user_id__in=user_ids, active=True).send_message(
                Message(notification=Notification(title=title, body=body), data={k: str(v) for k, v in data})
            )
            logger.info("fcm: %s sent to %d users: %s", title, len(user_ids), fcm_outcome(response))


def fcm_outcome(response) -> str:
    """What a log line may say of fcm-django's answer: counts. Its repr lists the
    registration ids (device tokens), which never go into a log (SPEC §13)."""
    batch = response.response
    return (
        f"{batch.success_count} delivered, {batch.failure_count} failed, "
        f"{len(response.deactivated_registration_ids)} device(s) deactivated"
    )


def get_push_backend() -> PushBackend:
    return import_string(settings.PUSH_BACKEND)()
