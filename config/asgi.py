"""ASGI entry point: HTTP through Django, websockets through Channels.

https://channels.readthedocs.io/en/latest/deploying.html
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# initialise Django (apps, models) before anything imports models
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from pairing.api.fast_paths import AvailabilityFastPath  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # the availability poll's happy path skips Django's request cycle (pairing/api/fast_paths.py)
        "http": AvailabilityFastPath(django_asgi_app),
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
