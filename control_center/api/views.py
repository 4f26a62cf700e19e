"""``/internal/`` operator API: staff only (JWT with the operator role, or the
control-center session). Thin: validate, call a domain service, serialize."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from accounts import services as account_services
from accounts.api.bases import OperatorApi
from failed_pairings.filters import PairingFailureFilter
from failed_pairings.models import OPERATOR_CHOICES
from failed_pairings.services import failed_pairing_action
from failed_pairings.selectors import pairing_failures_list
from pairing.models import ChatStatus
from pairing.representations import ChatSessionSerializer, MitraBriefSerializer
from pairing.selectors import sessions_list_for_operators
from live_settings.models import ConfigChange
from live_settings.selectors import config_all_fresh
from live_settings.services import config_update


class ConfigApi(OperatorApi):
    """All runtime settings of SPEC §2. PATCH is all-or-nothing and reaches every process at once."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response(config_all_fresh())

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT})
    def patch(self, request):
        values = config_update(changes=request.data, actor=request.user, source=ConfigChange.Source.API)
        return Response(values)


class MitraCreateApi(OperatorApi):
    class InputSerializer(serializers.Serializer):
        display_name = serializers.CharField(max_length=50)
        phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
        email = serializers.EmailField(required=False, allow_blank=True)
        password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField(source="pk")
        display_name = serializers.CharField(source="mitra_profile.display_name")

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = account_services.mitra_create(**data.validated_data)
        return Response(self.OutputSerializer(user).data, status=status.HTTP_201_CREATED)


class FailedPairingsPagination(PageNumberPagination):
    page_size = 50


class FailedPairingListApi(OperatorApi, ListAPIView):
    """Newest first, 50 a page; ``?cause_tags=a,b&created_from=&created_to=&page=``."""

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        created_at = serializers.DateTimeField()
        customer = serializers.SerializerMethodField()
        targeted_mitra = serializers.SerializerMethodField()
        cause_tag = serializers.CharField()
        amount = serializers.IntegerField()
        payment_session_id = serializers.UUIDField()
        payment_status = serializers.CharField(source="payment_session.status")
        operator_action = serializers.SerializerMethodField()
        actioned_by = serializers.SerializerMethodField()
        actioned_at = serializers.DateTimeField(allow_null=True)
        note = serializers.CharField()
        refund_error = serializers.SerializerMethodField(help_text="The payment gateway's refusal of the last refund, if any.")

        @extend_schema_field(inline_serializer("FailureCustomer", {"id": serializers.UUIDField(), "call_name": serializers.CharField()}))
        def get_customer(self, failure) -> dict:
            return {"id": str(failure.customer_id), "call_name": failure.customer.customer_profile.call_name}

        @extend_schema_field(MitraBriefSerializer(allow_null=True))
        def get_targeted_mitra(self, failure) -> dict | None:
            mitra = failure.targeted_mitra
            return None if mitra is None else {"id": str(mitra.id), "display_name": mitra.mitra_profile.display_name}

        def get_operator_action(self, failure) -> str | None:
            return failure.operator_action or None

        def get_refund_error(self, failure) -> str | None:
            return failure.refund_error or None

        def get_actioned_by(self, failure) -> str | None:
            """The operator's login (email or phone)."""
            return None if failure.actioned_by is None else str(failure.actioned_by)

    serializer_class = OutputSerializer
    pagination_class = FailedPairingsPagination
    filterset_class = PairingFailureFilter

    def get_queryset(self):
        return pairing_failures_list()


class SessionListApi(OperatorApi):
    """Sessions for operators (``?status=active``): an active session stays listed as
    active whatever its mitra's online status."""

    class InputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=ChatStatus.choices, required=False)

    class OutputSerializer(ChatSessionSerializer):
        customer = serializers.SerializerMethodField()
        mitra_status = serializers.SerializerMethodField()

        @extend_schema_field(inline_serializer("SessionCustomer", {"id": serializers.UUIDField(), "call_name": serializers.CharField()}))
        def get_customer(self, session) -> dict:
            return {"id": str(session.customer_id), "call_name": session.customer.customer_profile.call_name}

        def get_mitra_status(self, session) -> str | None:
            return None if session.mitra is None else session.mitra.mitra_profile.status

    @extend_schema(
        parameters=[InputSerializer],
        responses={200: inline_serializer("OperatorSessionList", {"results": OutputSerializer(many=True)})},
    )
    def get(self, request):
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        sessions = sessions_list_for_operators(status=params.validated_data.get("status"))
        return Response({"results": self.OutputSerializer(sessions, many=True).data})


class FailedPairingActionApi(OperatorApi):
    """Record the operator's final action on one failed pairing (same service as the page)."""

    class InputSerializer(serializers.Serializer):
        action = serializers.ChoiceField(choices=[(a.value, a.label) for a in OPERATOR_CHOICES])
        note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    @extend_schema(request=InputSerializer, responses={200: FailedPairingListApi.OutputSerializer})
    def post(self, request, id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        failed_pairing_action(failure_id=id, actor=request.user, **data.validated_data)
        failure = pairing_failures_list().get(id=id)
        return Response(FailedPairingListApi.OutputSerializer(failure).data)
