"""Privacy reads (SPEC §13): a person's own data as one JSON document, streamed.

``export_chunks`` yields the document in pieces: the account, then each list (sessions,
messages, payments, ratings) read with server-side cursors a chunk at a time, so a long
history never sits in memory whole. What a mitra's export says of a customer is what
the mitra's app already shows: the call name, nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from accounts.models import Role, User
from chat.models import Message
from chat.representations import MessageSerializer
from pairing.models import ChatSession
from pairing.representations import ChatSessionSerializer, MitraChatSessionSerializer
from payments.models import PaymentSession
from payments.representations import PaymentSessionSerializer
from safety.models import Rating
from safety.representations import RatingSerializer

CHUNK = 2000
_renderer = JSONRenderer()


def _json(value) -> str:
    return _renderer.render(value).decode()


def _account(user: User) -> dict:
    account = {
        "id": str(user.id), "role": user.role, "email": user.email, "phone": user.phone,
        "date_joined": user.date_joined.isoformat(),
    }
    if user.role == Role.CUSTOMER:
        account["call_name"] = user.customer_profile.call_name
    elif user.role == Role.MITRA:
        account["display_name"] = user.mitra_profile.display_name
    return account


def _array(rows, serializer_class) -> Iterator[str]:
    yield "["
    for index, row in enumerate(rows):
        yield ("," if index else "") + _json(serializer_class(row).data)
    yield "]"


def _lists(user: User) -> list[tuple[str, object, type]]:
    if user.role == Role.CUSTOMER:
        sessions = ChatSession.objects.filter(customer=user).select_related("mitra__mitra_profile").order_by("created_at", "id")
        # the whole conversation of each session: both sides, the texts still kept
        messages = Message.objects.filter(chat_session__customer=user, purged_at__isnull=True).order_by("created_at", "id")
        return [
            ("sessions", sessions, ChatSessionSerializer),
            ("messages", messages, MessageSerializer),
            ("payments", PaymentSession.objects.filter(customer=user).order_by("created_at", "id"), PaymentSessionSerializer),
            ("ratings", Rating.objects.filter(customer=user).order_by("created_at"), RatingSerializer),
        ]
    sessions = (
        ChatSession.objects.filter(mitra=user)
        .select_related("mitra__mitra_profile", "customer__customer_profile")
        .order_by("created_at", "id")
    )
    # a mitra's own words only: what the customers wrote is theirs
    messages = Message.objects.filter(sender_user=user, purged_at__isnull=True).order_by("created_at", "id")
    return [
        ("sessions", sessions, MitraChatSessionSerializer),
        ("messages", messages, MessageSerializer),
        ("ratings_received", Rating.objects.filter(mitra=user).order_by("created_at"), RatingSerializer),
    ]


def export_chunks(*, user: User) -> Iterator[str]:
    """The caller's data as one JSON object, in pieces (see the module docstring)."""
    yield '{"exported_at":' + _json(timezone.now().isoformat()) + ',"account":' + _json(_account(user))
    for name, queryset, serializer_class in _lists(user):
        yield f',"{name}":'
        yield from _array(queryset.iterator(chunk_size=CHUNK), serializer_class)
    yield "}"


def export_document(*, user: User) -> dict:
    """The same document, whole (tests, small accounts)."""
    return json.loads("".join(export_chunks(user=user)))
