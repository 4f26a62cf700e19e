"""Privacy endpoints (API.md, second release: SPEC §13)."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from accounts.api.bases import CustomerOrMitraApi
from privacy.selectors import export_chunks
from privacy.services import account_erase_by_self


class ExportApi(CustomerOrMitraApi):
    """Your data as one JSON document (profile, sessions, messages still kept, payments,
    ratings), streamed as it is read."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        response = StreamingHttpResponse(export_chunks(user=request.user), content_type="application/json")
        filename = f"curhat-export-{timezone.now():%Y-%m-%d}.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        return response


class MeApi(CustomerOrMitraApi):
    """Erase your account (SPEC §13): your password; refused while a chat of yours is
    waiting, active or closing. Payments stay for accounting, without your name."""

    error_statuses = (409,)

    class InputSerializer(serializers.Serializer):
        password = serializers.CharField(max_length=128, trim_whitespace=False, write_only=True)

    @extend_schema(request=InputSerializer, responses={204: None})
    def delete(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account_erase_by_self(user=request.user, password=data.validated_data["password"])
        return Response(status=status.HTTP_204_NO_CONTENT)
