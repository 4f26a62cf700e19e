"""Pairing endpoints for customers and mitras (API.md). Thin: validate, call a service,
render with ``pairing.representations``."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.bases import CustomerApi, MitraApi
from accounts.authentication import StatelessSuspensionAwareAuthentication
from accounts.models import MitraStatus
from accounts.permissions import IsCustomer
from config.errors import ErrorCode
from idempotency.header import IDEMPOTENCY_HEADER, idempotent
from live_settings.selectors import config_get
from pairing import answers, attempts, lifecycle, returning, selectors
from pairing.models import ChatStatus, EndedBy
from pairing.representations import (
    ChatRequestSerializer,
    ChatSessionSerializer,
    MitraChatSessionSerializer,
    chat_session_for_customer,
)
from realtime.presence import is_connected


# --- customer -------------------------------------------------------------------------------
class AvailabilityApi(APIView):
    """Home-screen gating, polled every 5 s by every customer: stateless JWT (no user
    query; a suspended account is known from a shared set) and the shared Redis cache
    (no query on a hit)."""

    authentication_classes = [StatelessSuspensionAwareAuthentication]
    permission_classes = [IsCustomer]

    @extend_schema(responses={200: inline_serializer("Availability", {"available": serializers.BooleanField()})})
    def get(self, request):
        return Response({"available": selectors.availability_get()})


class ChatStartApi(CustomerApi):
    class InputSerializer(serializers.Serializer):
        payment_session_id = serializers.UUIDField()
        sensitive = serializers.BooleanField(default=False)

    class OutputSerializer(ChatSessionSerializer):
        blast_timeout_seconds = serializers.IntegerField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer}, parameters=[IDEMPOTENCY_HEADER])
    @idempotent
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        session = attempts.chat_start(
            customer=request.user, payment_id=data.validated_data["payment_session_id"],
            sensitive=data.validated_data["sensitive"],
        )
        session = selectors.chat_session_get(chat_session_id=session.id)
        body = {**chat_session_for_customer(session), "blast_timeout_seconds": config_get("pairing_blast_timeout_seconds")}
        return Response(body, status=status.HTTP_201_CREATED)


class ChatCancelApi(CustomerApi):
    @extend_schema(request=None, responses={200: ChatSessionSerializer}, parameters=[IDEMPOTENCY_HEADER])
    @idempotent
    def post(self, request, id):
        attempts.chat_cancel(customer=request.user, chat_session_id=id)
        session = selectors.chat_session_for_customer_get(customer=request.user, chat_session_id=id)
        return Response(chat_session_for_customer(session))


class ChatReturningApi(CustomerApi):
    """"Curhat lagi": offer a paid chat to one mitra the customer talked with before."""

    class InputSerializer(serializers.Serializer):
        payment_session_id = serializers.UUIDField()
        mitra_id = serializers.UUIDField()
        sensitive = serializers.BooleanField(default=False)

    class OutputSerializer(ChatSessionSerializer):
        confirmation_timeout_seconds = serializers.IntegerField()

    @extend_schema(
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            409: inline_serializer(
                "TargetedUnavailable",
                {"code": serializers.CharField(), "detail": serializers.CharField(), "cause": serializers.CharField()},
            ),
        },
        parameters=[IDEMPOTENCY_HEADER],
    )
    @idempotent
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = returning.chat_returning_start(
            customer=request.user, payment_id=data.validated_data["payment_session_id"],
            mitra_id=data.validated_data["mitra_id"], sensitive=data.validated_data["sensitive"],
        )
        if outcome.unavailable_cause is not None:
            # the failure row is committed with this answer; the payment stays confirmed
            return Response(
                {"code": ErrorCode.TARGETED_UNAVAILABLE, "detail": attempts.TARGETED_UNAVAILABLE_TITLE, "cause": outcome.unavailable_cause},
                status=status.HTTP_409_CONFLICT,
            )
        session = selectors.chat_session_get(chat_session_id=outcome.session.id)
        timeout = round((session.deadline_at - session.created_at).total_seconds())
        return Response({**chat_session_for_customer(session), "confirmation_timeout_seconds": timeout}, status=status.HTTP_201_CREATED)


class ChatFallbackApi(CustomerApi):
    """"Chat dengan bestie lain": a general blast on the same payment, no second charge."""

    @extend_schema(request=None, responses={201: ChatStartApi.OutputSerializer}, parameters=[IDEMPOTENCY_HEADER])
    @idempotent
    def post(self, request, id):
        session = returning.chat_fallback_to_blast(customer=request.user, chat_session_id=id)
        session = selectors.chat_session_get(chat_session_id=session.id)
        body = {**chat_session_for_customer(session), "blast_timeout_seconds": config_get("pairing_blast_timeout_seconds")}
        return Response(body, status=status.HTTP_201_CREATED)


class ChatHistoryApi(CustomerApi):
    class OutputSerializer(ChatSessionSerializer):
        can_return = serializers.BooleanField()

    @extend_schema(responses={200: inline_serializer("ChatHistory", {"results": OutputSerializer(many=True)})})
    def get(self, request):
        sessions = selectors.chat_history(customer=request.user)
        return Response({"results": [{**chat_session_for_customer(s), "can_return": True} for s in sessions]})


class ChatEndApi(CustomerApi):
    @extend_schema(request=None, responses={200: ChatSessionSerializer}, parameters=[IDEMPOTENCY_HEADER])
    @idempotent
    def post(self, request, id):
        lifecycle.chat_end(user=request.user, chat_session_id=id, ended_by=EndedBy.CUSTOMER)
        session = selectors.chat_session_for_customer_get(customer=request.user, chat_session_id=id)
        return Response(chat_session_for_customer(session))


class ChatDetailApi(CustomerApi):
    @extend_schema(responses={200: ChatSessionSerializer})
    def get(self, request, id):
        session = selectors.chat_session_for_customer_get(customer=request.user, chat_session_id=id)
        return Response(chat_session_for_customer(session))


# --- mitra ---------------------------------------------------------------------------------------
class MitraStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=MitraStatus.choices)


class MitraStatusApi(MitraApi):
    class OutputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=MitraStatus.choices)
        connected = serializers.BooleanField()
        active_sessions = serializers.IntegerField()
        capacity = serializers.IntegerField()

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request):
        mitra = request.user
        return Response(
            {
                "status": mitra.mitra_profile.status,
                "connected": is_connected(mitra.id),
                "active_sessions": selectors.mitra_active_session_count(mitra=mitra),
                "capacity": config_get("max_customers_per_mitra"),
            }
        )


class MitraOnlineApi(MitraApi):
    @extend_schema(request=None, responses={200: MitraStatusSerializer})
    def post(self, request):
        profile = answers.mitra_status_set(mitra=request.user, status=MitraStatus.ONLINE)
        return Response({"status": profile.status})


class MitraOfflineApi(MitraApi):
    @extend_schema(request=None, responses={200: MitraStatusSerializer})
    def post(self, request):
        profile = answers.mitra_status_set(mitra=request.user, status=MitraStatus.OFFLINE)
        return Response({"status": profile.status})


class ChatRequestListApi(MitraApi):
    @extend_schema(responses={200: inline_serializer("ChatRequestList", {"results": ChatRequestSerializer(many=True)})})
    def get(self, request):
        requests = selectors.open_requests_for_mitra(mitra=request.user)
        return Response({"results": ChatRequestSerializer(requests, many=True).data})


class ChatRequestAcceptApi(MitraApi):
    @extend_schema(request=None, responses={200: MitraChatSessionSerializer}, parameters=[IDEMPOTENCY_HEADER])
    @idempotent
    def post(self, request, id):
        session = answers.chat_request_accept(mitra=request.user, chat_session_id=id)
        return Response(MitraChatSessionSerializer(session).data)


class ChatRequestDeclineApi(MitraApi):
    @extend_schema(
        request=None,
        responses={200: inline_serializer("ChatRequestDeclined", {"request_id": serializers.UUIDField(), "declined": serializers.BooleanField()})},
        parameters=[IDEMPOTENCY_HEADER],
    )
    @idempotent
    def post(self, request, id):
        answers.chat_request_decline(mitra=request.user, chat_session_id=id)
        return Response({"request_id": str(id), "declined": True})


class MitraChatEndApi(MitraApi):
    @extend_schema(request=None, responses={200: MitraChatSessionSerializer}, parameters=[IDEMPOTENCY_HEADER])
    @idempotent
    def post(self, request, id):
        lifecycle.chat_end(user=request.user, chat_session_id=id, ended_by=EndedBy.MITRA)
        return Response(MitraChatSessionSerializer(selectors.chat_session_get(chat_session_id=id)).data)


class MitraSessionListApi(MitraApi):
    class InputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=ChatStatus.choices, required=False)

    @extend_schema(
        parameters=[InputSerializer],
        responses={200: inline_serializer("MitraSessionList", {"results": MitraChatSessionSerializer(many=True)})},
    )
    def get(self, request):
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        sessions = selectors.sessions_for_mitra(mitra=request.user, status=params.validated_data.get("status"))
        return Response({"results": MitraChatSessionSerializer(sessions, many=True).data})
