from django.urls import path

from control_center.api import views

urlpatterns = [
    path("config", views.ConfigApi.as_view(), name="internal-config"),
    path("mitras", views.MitraCreateApi.as_view(), name="internal-mitras"),
    path("failed-pairings", views.FailedPairingListApi.as_view(), name="internal-failed-pairings"),
    path("failed-pairings/<uuid:id>/action", views.FailedPairingActionApi.as_view(), name="internal-failed-pairing-action"),
    path("sessions", views.SessionListApi.as_view(), name="internal-sessions"),
]
