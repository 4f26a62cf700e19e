from django.urls import path

from safety.api import views

urlpatterns = [
    path("client/chat/<uuid:id>/report", views.ClientReportApi.as_view(), name="client-chat-report"),
    path("mitra/chat/<uuid:id>/report", views.MitraReportApi.as_view(), name="mitra-chat-report"),
    path("client/blocks", views.BlockListApi.as_view(), name="client-blocks"),
    path("client/blocks/<uuid:mitra_id>", views.BlockDeleteApi.as_view(), name="client-block-delete"),
    path("client/chat/<uuid:id>/rating", views.RatingApi.as_view(), name="client-chat-rating"),
    path("mitra/ratings/summary", views.RatingSummaryApi.as_view(), name="mitra-ratings-summary"),
]

internal_urlpatterns = [
    path("safety-alerts", views.SafetyAlertListApi.as_view(), name="internal-safety-alerts"),
    path("safety-alerts/<uuid:id>/action", views.SafetyAlertActionApi.as_view(), name="internal-safety-alert-action"),
    path("reports", views.ReportListApi.as_view(), name="internal-reports"),
    path("reports/<uuid:id>/action", views.ReportActionApi.as_view(), name="internal-report-action"),
    path("users/<uuid:id>/suspend", views.UserSuspendApi.as_view(), name="internal-user-suspend"),
    path("users/<uuid:id>/reactivate", views.UserReactivateApi.as_view(), name="internal-user-reactivate"),
]
