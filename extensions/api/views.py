"""Extension endpoints (API.md): the customer asks, the session's mitra answers."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from accounts.api.bases import CustomerApi, MitraApi
from extensions import selectors, services
from extensions.representations import ExtensionSerializer
from idempotency.header import IDEMPOTENCY_HEADER, idempotent


class ExtensionRequestApi(CustomerApi):
    class InputSerializer(serializers.Serializer):
        payment_session_id = serializers.UUIDField()

    @extend_schema(request=InputSerializer, responses={201: ExtensionSerializer}, parameters=[IDEMPOTENCY_HEADER])
    @idempotent
    def post(self, request, id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        extension = services.extension_request(
            customer=request.user, chat_session_id=id, payment_id=data.validated_data["payment_session_id"]
        )
        return Response(ExtensionSerializer(extension).data, status=status.HTTP_201_CREATED)


class ExtensionDetailApi(CustomerApi):
    @extend_schema(responses={200: ExtensionSerializer})
    def get(self, request, id):
        return Response(ExtensionSerializer(selectors.extension_for_customer_get(customer=request.user, extension_id=id)).data)


class ExtensionApproveApi(MitraApi):
    @extend_schema(request=None, responses={200: ExtensionSerializer}, parameters=[IDEMPOTENCY_HEADER])
    @idempotent
    def post(self, request, id):
        return Response(ExtensionSerializer(services.extension_approve(mitra=request.user, extension_id=id)).data)


class ExtensionDeclineApi(MitraApi):
    @extend_schema(request=None, responses={200: ExtensionSerializer}, parameters=[IDEMPOTENCY_HEADER])
    @idempotent
    def post(self, request, id):
        return Response(ExtensionSerializer(services.extension_decline(mitra=request.user, extension_id=id)).data)
