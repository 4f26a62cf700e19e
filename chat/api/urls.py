from django.urls import path

from chat.api import views

urlpatterns = [
    path("chat/<uuid:id>/messages", views.MessagesApi.as_view(), name="chat-messages"),
    path("chat/<uuid:id>/messages/delivered", views.DeliveredApi.as_view(), name="chat-messages-delivered"),
    path("chat/<uuid:id>/messages/read", views.ReadApi.as_view(), name="chat-messages-read"),
]
