from channels.auth import AuthMiddlewareStack
from django.urls import path, re_path

from realtime.consumers import ClientConsumer, MitraConsumer, OperatorConsumer, UnknownPathConsumer

websocket_urlpatterns = [
    path("ws/client/", ClientConsumer.as_asgi()),
    path("ws/mitra/", MitraConsumer.as_asgi()),
    # the control center's pages: the operator's session cookie
    path("ws/operator/", AuthMiddlewareStack(OperatorConsumer.as_asgi())),
    # last: channels' router raises "No route found" (a server error) for anything else
    re_path(r"", UnknownPathConsumer.as_asgi()),
]
