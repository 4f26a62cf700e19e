from django.urls import path

from payments.api import views

urlpatterns = [
    path("client/pricing-tiers", views.PricingTiersApi.as_view(), name="pricing-tiers"),
    path("client/payment-sessions", views.PaymentSessionCreateApi.as_view(), name="payment-session-create"),
    path("client/payment-sessions/<uuid:id>", views.PaymentSessionDetailApi.as_view(), name="payment-session-detail"),
    path("client/payment-sessions/<uuid:id>/confirm", views.PaymentSessionConfirmApi.as_view(), name="payment-session-confirm"),
    path("client/payment-sessions/<uuid:id>/cancel", views.PaymentSessionCancelApi.as_view(), name="payment-session-cancel"),
    path("payments/midtrans/notification", views.MidtransNotificationApi.as_view(), name="midtrans-notification"),
]
