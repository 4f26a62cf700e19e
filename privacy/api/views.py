"""Privacy endpoints (API.md, second release: SPEC §13)."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from accounts.permissions import IsCustomerOrMitra
from privacy.selectors import export_chunks


class ExportApi(APIView):
    """Your data as one JSON document (profile, sessions, messages still kept, payments,
    ratings), streamed as it is read."""

    permission_classes = [IsCustomerOrMitra]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        response = StreamingHttpResponse(export_chunks(user=request.user), content_type="application/json")
        filename = f"curhat-export-{timezone.now():%Y-%m-%d}.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        return response
