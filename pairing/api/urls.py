from django.urls import path

from pairing.api import views

urlpatterns = [
    path("client/mitra-availability", views.AvailabilityApi.as_view(), name="mitra-availability"),
    path("client/chat/start", views.ChatStartApi.as_view(), name="chat-start"),
    path("client/chat/returning", views.ChatReturningApi.as_view(), name="chat-returning"),
    path("client/chat/history", views.ChatHistoryApi.as_view(), name="chat-history"),
    path("client/chat/<uuid:id>", views.ChatDetailApi.as_view(), name="chat-detail"),
    path("client/chat/<uuid:id>/fallback-to-blast", views.ChatFallbackApi.as_view(), name="chat-fallback"),
    path("client/chat/<uuid:id>/end", views.ChatEndApi.as_view(), name="chat-end"),
    path("mitra/chat/<uuid:id>/end", views.MitraChatEndApi.as_view(), name="mitra-chat-end"),
    path("client/chat/<uuid:id>/cancel", views.ChatCancelApi.as_view(), name="chat-cancel"),
    path("mitra/status", views.MitraStatusApi.as_view(), name="mitra-status"),
    path("mitra/status/online", views.MitraOnlineApi.as_view(), name="mitra-online"),
    path("mitra/status/offline", views.MitraOfflineApi.as_view(), name="mitra-offline"),
    path("mitra/chat-requests", views.ChatRequestListApi.as_view(), name="mitra-chat-requests"),
    path("mitra/chat-requests/<uuid:id>/accept", views.ChatRequestAcceptApi.as_view(), name="mitra-chat-request-accept"),
    path("mitra/chat-requests/<uuid:id>/decline", views.ChatRequestDeclineApi.as_view(), name="mitra-chat-request-decline"),
    path("mitra/sessions", views.MitraSessionListApi.as_view(), name="mitra-sessions"),
]
