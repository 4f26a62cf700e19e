"""``GET /health``: the database and Redis, each checked for real, the liveness of the
Celery worker and of beat (``config/liveness.py``), and the websocket delivery counters
(events sent, retried, dropped across every process). 503 with the failing parts named
in ``failing`` when any part is not ok; never a 500."""

from __future__ import annotations

import logging

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from config.liveness import liveness_read
from config.redis_client import get_redis
from realtime.delivery import delivery_stats

logger = logging.getLogger(__name__)


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure is the answer, not a 500
        logger.warning("health: database check failed: %s", exc)
        return "error"
    return "ok"


def _check_redis() -> str:
    try:
        get_redis().ping()
    except Exception as exc:
        logger.warning("health: redis check failed: %s", exc)
        return "error"
    return "ok"


def _delivery() -> dict[str, int] | None:
    try:
        return delivery_stats()
    except Exception as exc:
        logger.warning("health: delivery counters unreadable: %s", exc)
        return None


def _liveness() -> dict[str, dict] | None:
    try:
        return liveness_read()
    except Exception as exc:
        logger.warning("health: liveness unreadable: %s", exc)
        return None


@require_GET
def health(request):
    parts = {"database": _check_database(), "redis": _check_redis()}
    failing = [name for name, state in parts.items() if state != "ok"]
    body = {"status": "ok", **parts}
    if parts["redis"] == "ok":  # else nobody knows: Redis is what is failing
        liveness = _liveness()
        if liveness is None:
            failing.append("redis")
            body["redis"] = "error"
        else:
            body.update(liveness)
            failing += [side for side, state in liveness.items() if state["status"] != "ok"]
    if failing:
        body["status"] = "error"
        body["failing"] = failing
    if body["redis"] == "ok":
        delivery = _delivery()
        if delivery is not None:
            body["delivery"] = delivery
    return JsonResponse(body, status=503 if failing else 200)
