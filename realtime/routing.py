from django.urls import path

from realtime.consumers import ClientConsumer, MitraConsumer

websocket_urlpatterns = [
    path("ws/client/", ClientConsumer.as_asgi()),
    path("ws/mitra/", MitraConsumer.as_asgi()),
]
