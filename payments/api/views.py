"""Customer payment endpoints (API.md "Customer"). Thin: validate, call a service."""

from __future__ import annotations

import time

from django.conf import settings
from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.bases import CustomerApi
from config.throttling import rate_limit
from idempotency.header import IDEMPOTENCY_HEADER, idempotent
from live_settings.selectors import config_get
from payments import selectors, services
from payments.models import TierKind
from payments.providers import deadline_for_start
from payments.representations import PaymentSessionSerializer


class TierSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    amount = serializers.IntegerField()
    duration_minutes = serializers.IntegerField()


class FreeTrialSerializer(serializers.Serializer):
    eligible = serializers.BooleanField()
    duration_minutes = serializers.IntegerField()


class PricingTiersApi(CustomerApi):
    class InputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=TierKind.choices, default=TierKind.SESSION)

    class OutputSerializer(serializers.Serializer):
        tiers = TierSerializer(many=True)
        free_trial = FreeTrialSerializer(required=False, help_text="Absent for kind=extension.")

    @extend_schema(parameters=[InputSerializer], responses={200: OutputSerializer})
    def get(self, request):
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        kind = params.validated_data["kind"]
        body = {"tiers": TierSerializer(selectors.pricing_tiers_list(kind=kind), many=True).data}
        if kind == TierKind.SESSION:  # extension pickers never offer the free trial
            body["free_trial"] = {
                "eligible": selectors.free_trial_eligible(customer=request.user),
                "duration_minutes": config_get("free_trial_duration_minutes"),
            }
        return Response(body)


class PaymentSessionCreateApi(CustomerApi):
    throttle_classes = [rate_limit("payment_sessions")]
    error_statuses = {502}

    class InputSerializer(serializers.Serializer):
        tier_id = serializers.UUIDField(required=False)
        free_trial = serializers.BooleanField(required=False, default=False)
        is_free_trial = serializers.BooleanField(required=False, default=False)
        targeted_mitra_id = serializers.UUIDField(required=False, allow_null=True)
        is_extension = serializers.BooleanField(required=False, default=False)
        chat_session_id = serializers.UUIDField(required=False, allow_null=True)

        def validate(self, data):
            # pop unconditionally: the service knows only ``free_trial`` (API.md's spelling)
            is_free_trial = data.pop("is_free_trial")
            data["free_trial"] = data["free_trial"] or is_free_trial
            if data["is_extension"] and not data.get("chat_session_id") and not data["free_trial"]:
                raise serializers.ValidationError({"chat_session_id": ["Required for an extension payment."]})
            return data

    @extend_schema(request=InputSerializer, responses={201: PaymentSessionSerializer}, parameters=[IDEMPOTENCY_HEADER])
    @idempotent
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payment = services.payment_session_create(customer=request.user, **data.validated_data)
        response = Response(PaymentSessionSerializer(payment).data, status=status.HTTP_201_CREATED)
        # a gateway's payment page is opened once the row is committed (under an
        # Idempotency-Key, once the key's transaction is): no HTTP call inside a transaction
        transaction.on_commit(lambda: self._open_payment_page(response, payment.id))
        return response

    @staticmethod
    def _open_payment_page(response: Response, payment_id) -> None:
        payment = services.payment_provider_open(payment_id=payment_id, deadline=deadline_for_start(), must=True)
        response.data = PaymentSessionSerializer(payment).data


class PaymentSessionDetailApi(CustomerApi):
    @extend_schema(responses={200: PaymentSessionSerializer})
    def get(self, request, id):
        payment = selectors.payment_session_get(customer=request.user, payment_id=id)
        if services.payment_page_missing(payment):  # the gateway failed at create: try again now
            payment = services.payment_provider_open(payment_id=payment.id, deadline=time.monotonic() + settings.MIDTRANS_TIMEOUT_SECONDS)
        return Response(PaymentSessionSerializer(payment).data)


class PaymentSessionConfirmApi(CustomerApi):
    error_statuses = {502}
    @extend_schema(request=None, responses={200: PaymentSessionSerializer}, parameters=[IDEMPOTENCY_HEADER])
    @idempotent
    def post(self, request, id):
        payment = services.payment_session_confirm(customer=request.user, payment_id=id)
        return Response(PaymentSessionSerializer(payment).data)


class PaymentSessionCancelApi(CustomerApi):
    @extend_schema(request=None, responses={200: PaymentSessionSerializer}, parameters=[IDEMPOTENCY_HEADER])
    @idempotent
    def post(self, request, id):
        payment = services.payment_session_cancel(customer=request.user, payment_id=id)
        return Response(PaymentSessionSerializer(payment).data)


class MidtransNotificationApi(APIView):
    """Midtrans' HTTP notification (SPEC §11): no bearer token, the signature is the
    proof. Answered at once from the database alone; a duplicate is 200 too."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    error_statuses = {400, 403, 404}

    class OutputSerializer(serializers.Serializer):
        status = serializers.CharField()

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OutputSerializer})
    def post(self, request):
        services.midtrans_notification_receive(payload=request.data)
        return Response({"status": "ok"})
