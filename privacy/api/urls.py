from django.urls import path

from privacy.api import views

urlpatterns = [
    path("me/export", views.ExportApi.as_view(), name="me-export"),
    path("me", views.MeApi.as_view(), name="me"),
]
