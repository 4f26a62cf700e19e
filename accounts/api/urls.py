from django.urls import path

from accounts.api import views

urlpatterns = [
    path("auth/register", views.RegisterApi.as_view(), name="auth-register"),
    path("auth/token", views.TokenObtainApi.as_view(), name="auth-token"),
    path("auth/token/refresh", views.TokenRefreshApi.as_view(), name="auth-token-refresh"),
    path("devices", views.DeviceRegisterApi.as_view(), name="devices"),
]
