"""Show control-center pages in the operators' time zone (``CONTROL_CENTER_TIME_ZONE``,
default Asia/Jakarta): Created / Actioned At columns and the date-range filter's
"whole day" are then the operators' days. The APIs (``/api/``, ``/internal/``) stay UTC."""

from zoneinfo import ZoneInfo

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.utils import timezone


class OperatorTimeZoneMiddleware:
    """Sync and async capable, so that under ASGI the middleware chain stays async and a
    request hops to a thread once, for its view (``config/static_files.py`` says why)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.zone = ZoneInfo(settings.CONTROL_CENTER_TIME_ZONE)
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.async_mode:
            return self.__acall__(request)
        if not request.path.startswith("/admin/"):
            return self.get_response(request)
        timezone.activate(self.zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()

    async def __acall__(self, request):
        if not request.path.startswith("/admin/"):
            return await self.get_response(request)
        # timezone.activate is context-local (asgiref Local): the view's thread sees it
        timezone.activate(self.zone)
        try:
            return await self.get_response(request)
        finally:
            timezone.deactivate()
