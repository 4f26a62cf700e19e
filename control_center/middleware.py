"""Show control-center pages in the operators' time zone (``CONTROL_CENTER_TIME_ZONE``,
default Asia/Jakarta): Created / Actioned At columns and the date-range filter's
"whole day" are then the operators' days. The APIs (``/api/``, ``/internal/``) stay UTC."""

from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


class OperatorTimeZoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.zone = ZoneInfo(settings.CONTROL_CENTER_TIME_ZONE)

    def __call__(self, request):
        if not request.path.startswith("/admin/"):
            return self.get_response(request)
        timezone.activate(self.zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class ContentSecurityPolicyMiddleware:
    """A Content-Security-Policy on the control center's pages (``/admin/``): scripts and
    everything else only from this site, no framing, forms only to this site. Inline
    ``<style>``/style attributes stay allowed (Django's admin uses them); inline scripts
    do not. https://developer.mozilla.org/docs/Web/HTTP/CSP"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith("/admin/") and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = settings.CONTROL_CENTER_CSP
        return response
