"""ASGI entry point: HTTP through Django, websockets through Channels, one port.

https://channels.readthedocs.io/en/latest/deploying.html
HTTP: the availability poll's happy path is answered on the event loop
(``pairing/api/fast_paths.py``); every other request runs through Django's handler on a
fixed pool of threads (``config/wsgi_bridge.py``). Websockets: Channels consumers.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# initialise Django (apps, models) before anything imports models
django_wsgi_app = get_wsgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from config.wsgi_bridge import ThreadPoolWsgi  # noqa: E402
from pairing.api.fast_paths import AvailabilityFastPath  # noqa: E402
from realtime.delivery import BindEventLoop  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402

django_http_app = ThreadPoolWsgi(django_wsgi_app, threads=settings.WEB_THREADS)

application = BindEventLoop(ProtocolTypeRouter(
    {
        "http": AvailabilityFastPath(django_http_app),
        "websocket": URLRouter(websocket_urlpatterns),
    }
))
