"""``/internal/`` operator API: staff only (JWT with the operator role, or the
control-center session). Thin: validate, call a domain service, serialize."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services as account_services
from accounts.permissions import IsOperator
from live_settings.models import ConfigChange
from live_settings.selectors import config_all_fresh
from live_settings.services import config_update


class OperatorApi(APIView):
    permission_classes = [IsOperator]


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
