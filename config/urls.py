from django.conf import settings
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config import error_views
from config.health import health
from control_center.admin_site import control_center_site
from metrics.views import metrics
from safety.api import urls as safety_urls

urlpatterns = [
    path("health", health, name="health"),
    path("metrics", metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # the busiest first: every include that does not match costs a resolver pass
    path("api/", include("chat.api.urls")),
    path("api/", include("pairing.api.urls")),
    path("api/", include("accounts.api.urls")),
    path("api/", include("payments.api.urls")),
    path("api/", include("extensions.api.urls")),
    path("api/", include("safety.api.urls")),
    path("api/", include("privacy.api.urls")),
    path("internal/", include("control_center.api.urls")),
    path("internal/", include(safety_urls.internal_urlpatterns)),
    path("admin/", control_center_site.urls),
]

if settings.BENCH_BASELINE_VIEW:
    from ops.bench.baseline import BaselineApi

    urlpatterns.append(path("bench/baseline", BaselineApi.as_view()))

# last: an unknown /api/ or /internal/ path (a non-UUID id included) is API.md's JSON 404
urlpatterns.append(re_path(r"^(?:api|internal)/", error_views.not_found))

handler400 = error_views.bad_request
handler404 = error_views.not_found
handler500 = error_views.server_error
