from django.urls import path

from extensions.api import views

urlpatterns = [
    path("client/chat/<uuid:id>/extensions", views.ExtensionRequestApi.as_view(), name="extension-request"),
    path("client/extensions/<uuid:id>", views.ExtensionDetailApi.as_view(), name="extension-detail"),
    path("mitra/extensions/<uuid:id>/approve", views.ExtensionApproveApi.as_view(), name="extension-approve"),
    path("mitra/extensions/<uuid:id>/decline", views.ExtensionDeclineApi.as_view(), name="extension-decline"),
]
