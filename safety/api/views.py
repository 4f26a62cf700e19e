"""Safety endpoints (API.md, second release: SPEC §12). Thin: validate, call a service,
render with ``safety.representations``."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.bases import CustomerApi, MitraApi, OperatorApi
from pairing.representations import MitraBriefSerializer
from safety import crisis, selectors, services
from safety.models import ALERT_ACTIONS, REPORT_ACTIONS, AlertStatus, ReportReason, ReportStatus
from safety.representations import (
    OperatorReportSerializer,
    RatingSerializer,
    ReportSerializer,
    SafetyAlertSerializer,
    rating_payload,
    report_payload,
)


class ReportInput(serializers.Serializer):
    reason = serializers.ChoiceField(choices=ReportReason.choices)
    text = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class _ReportApi(APIView):
    """Report the other side of a session you took part in. Once per session: a repeat
    answers 200 with the first report."""

    InputSerializer = ReportInput

    @extend_schema(request=InputSerializer, responses={201: ReportSerializer, 200: ReportSerializer})
    def post(self, request, id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report, created = services.report_create(user=request.user, chat_session_id=id, **data.validated_data)
        return Response(report_payload(report), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ClientReportApi(CustomerApi, _ReportApi):
    """Report the bestie of a session you took part in; ``block`` also blocks them.
    Once per session: a repeat answers 200 with the first report."""

    class InputSerializer(ReportInput):
        block = serializers.BooleanField(default=False)

    @extend_schema(request=InputSerializer, responses={201: ReportSerializer, 200: ReportSerializer})
    def post(self, request, id):
        return super().post(request, id)


class MitraReportApi(MitraApi, _ReportApi):
    """Report the customer of a session you took part in (the report names nobody back).
    Once per session: a repeat answers 200 with the first report."""


class BlockListApi(CustomerApi):
    class OutputSerializer(serializers.Serializer):
        mitra = serializers.SerializerMethodField()
        created_at = serializers.DateTimeField()

        @extend_schema_field(MitraBriefSerializer)
        def get_mitra(self, block) -> dict:
            return {"id": str(block.mitra_id), "display_name": block.mitra.mitra_profile.display_name}

    @extend_schema(responses={200: inline_serializer("BlockList", {"results": OutputSerializer(many=True)})})
    def get(self, request):
        blocks = selectors.blocks_for_customer(customer=request.user)
        return Response({"results": self.OutputSerializer(blocks, many=True).data})


class BlockDeleteApi(CustomerApi):
    """Unblock a bestie (204 whether or not they were blocked)."""

    @extend_schema(responses={204: None})
    def delete(self, request, mitra_id):
        services.block_delete(customer=request.user, mitra_id=mitra_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RatingApi(CustomerApi):
    """Rate a completed session once, within ``rating_window_days`` of its end."""

    error_statuses = (409,)

    class InputSerializer(serializers.Serializer):
        stars = serializers.IntegerField(min_value=1, max_value=5)
        comment = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    @extend_schema(request=InputSerializer, responses={201: RatingSerializer})
    def post(self, request, id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rating = services.rating_create(customer=request.user, chat_session_id=id, **data.validated_data)
        return Response(rating_payload(rating), status=status.HTTP_201_CREATED)


class RatingSummaryApi(MitraApi):
    """Your own average, count and most recent ratings: no customer is named."""

    class OutputSerializer(serializers.Serializer):
        average = serializers.FloatField(allow_null=True)
        count = serializers.IntegerField()
        recent = RatingSerializer(many=True)

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request):
        return Response(self.OutputSerializer(selectors.rating_summary(mitra=request.user)).data)


# --- operators ----------------------------------------------------------------------------------
class OperatorPagination(PageNumberPagination):
    page_size = 50


class _StatusListApi(OperatorApi, ListAPIView):
    """An operators' list, open first then newest first, 50 a page; ``?status=`` for
    one status (the subclass's ``InputSerializer`` names them)."""

    pagination_class = OperatorPagination
    filter_backends = []

    def get_queryset(self):
        params = self.InputSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        return self.selector(status=params.validated_data.get("status"))


class SafetyAlertListApi(_StatusListApi):
    """Open alerts first, then the rest, newest first; ``?status=open`` for one status."""

    serializer_class = SafetyAlertSerializer
    selector = staticmethod(selectors.safety_alerts_list)

    class InputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=AlertStatus.choices, required=False)

    @extend_schema(parameters=[InputSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class SafetyAlertActionApi(OperatorApi):
    class InputSerializer(serializers.Serializer):
        action = serializers.ChoiceField(choices=[(a.value, a.label) for a in ALERT_ACTIONS])
        note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    @extend_schema(request=InputSerializer, responses={200: SafetyAlertSerializer})
    def post(self, request, id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        alert = crisis.safety_alert_action(alert_id=id, actor=request.user, **data.validated_data)
        return Response(SafetyAlertSerializer(alert).data)


class ReportListApi(_StatusListApi):
    """Open reports first, then the rest, newest first; ``?status=open`` for one status."""

    serializer_class = OperatorReportSerializer
    selector = staticmethod(selectors.reports_list)

    class InputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=ReportStatus.choices, required=False)

    @extend_schema(parameters=[InputSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class ReportActionApi(OperatorApi):
    """Decide an open report once: ``dismissed``, ``warned`` or ``suspended`` (suspends
    the reported account; ``end_active_sessions`` as for a suspension)."""

    class InputSerializer(serializers.Serializer):
        action = serializers.ChoiceField(choices=[(a.value, a.label) for a in REPORT_ACTIONS])
        note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
        end_active_sessions = serializers.BooleanField(default=False)

    @extend_schema(request=InputSerializer, responses={200: OperatorReportSerializer})
    def post(self, request, id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = services.report_action(report_id=id, actor=request.user, **data.validated_data)
        return Response(OperatorReportSerializer(report).data)


_SuspensionState = inline_serializer("SuspensionState", {"id": serializers.UUIDField(), "suspended": serializers.BooleanField()})


class UserSuspendApi(OperatorApi):
    """Suspend a customer or mitra (reason required; audited)."""

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=1000)
        end_active_sessions = serializers.BooleanField(default=False)

    @extend_schema(request=InputSerializer, responses={200: _SuspensionState})
    def post(self, request, id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.account_suspend(user_id=id, actor=request.user, **data.validated_data)
        return Response({"id": str(user.id), "suspended": user.is_suspended})


class UserReactivateApi(OperatorApi):
    """Lift a suspension (reason required; audited)."""

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=1000)

    @extend_schema(request=InputSerializer, responses={200: _SuspensionState})
    def post(self, request, id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.account_reactivate(user_id=id, actor=request.user, **data.validated_data)
        return Response({"id": str(user.id), "suspended": user.is_suspended})
