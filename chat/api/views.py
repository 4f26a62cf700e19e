"""Messages (API.md "Messages"): both roles, participants only."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import request_role
from chat import services
from chat.representations import MessageSerializer, message_payload
from config.throttling import rate_limit


class IsCustomerOrMitra(BasePermission):
    def has_permission(self, request, view) -> bool:
        return request_role(request) in ("customer", "mitra")


class ChatParticipantApi(APIView):
    permission_classes = [IsCustomerOrMitra]


class MessagesApi(ChatParticipantApi):
    throttle_classes = [rate_limit("messages")]  # sends only (the fast path counts its own)

    class ListInputSerializer(serializers.Serializer):
        after = serializers.UUIDField(required=False)

    class SendInputSerializer(serializers.Serializer):
        client_message_id = serializers.CharField(max_length=64)
        text = serializers.CharField(max_length=services.MAX_TEXT_LENGTH, trim_whitespace=False)

        def validate_text(self, value: str) -> str:
            if not value.strip():
                raise serializers.ValidationError("A message cannot be empty.")
            return value

    @extend_schema(
        parameters=[ListInputSerializer],
        responses={
            200: inline_serializer("MessageList", {"results": MessageSerializer(many=True), "has_more": serializers.BooleanField()})
        },
    )
    def get(self, request, id):
        params = self.ListInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        messages, has_more = services.messages_list(user=request.user, chat_session_id=id, after=params.validated_data.get("after"))
        return Response({"results": MessageSerializer(messages, many=True).data, "has_more": has_more})

    @extend_schema(request=SendInputSerializer, responses={201: MessageSerializer, 200: MessageSerializer})
    def post(self, request, id):
        data = self.SendInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message, created = services.message_send(user=request.user, chat_session_id=id, **data.validated_data)
        return Response(message_payload(message), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ReceiptInputSerializer(serializers.Serializer):
    up_to = serializers.UUIDField()


class ReceiptOutputSerializer(serializers.Serializer):
    kind = serializers.CharField()
    up_to = serializers.UUIDField()
    updated = serializers.IntegerField()


class _ReceiptApi(ChatParticipantApi):
    kind = ""

    @extend_schema(request=ReceiptInputSerializer, responses={200: ReceiptOutputSerializer})
    def post(self, request, id):
        data = ReceiptInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        updated = services.messages_mark(user=request.user, chat_session_id=id, up_to=data.validated_data["up_to"], kind=self.kind)
        return Response({"kind": self.kind, "up_to": str(data.validated_data["up_to"]), "updated": updated})


class DeliveredApi(_ReceiptApi):
    kind = "delivered"


class ReadApi(_ReceiptApi):
    kind = "read"
