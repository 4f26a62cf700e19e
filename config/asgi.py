"""ASGI entry point: HTTP through Django, websockets through Channels, one port.

https://channels.readthedocs.io/en/latest/deploying.html
HTTP: the happy paths of the availability poll (``pairing/api/fast_paths.py``) and of
sending a message (``chat/api/fast_paths.py``) are answered on the event loop; every
other request runs through Django's handler on a fixed pool of threads
(``config/wsgi_bridge.py``). Websockets: Channels consumers.
"""

import gc
import os
import sys

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# initialise Django (apps, models) before anything imports models
django_wsgi_app = get_wsgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from chat.api.fast_paths import MessageSendFastPath  # noqa: E402
from config.request_id import RequestIdAsgi  # noqa: E402
from config.wsgi_bridge import ThreadPoolWsgi  # noqa: E402
from metrics.http import HttpMetrics  # noqa: E402
from pairing.api.fast_paths import AvailabilityFastPath  # noqa: E402
from realtime.delivery import BindEventLoop  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402

django_http_app = ThreadPoolWsgi(django_wsgi_app, threads=settings.WEB_THREADS)

# The event loop (HTTP parsing, websocket frames, fan-out) shares the GIL with the
# request threads; Python's default 5 ms switch interval lets a busy request thread
# hold the loop off for 5 ms at a time. 1 ms measured: P4 send → other side p50 from
# 568 ms to 245 ms on 2 cores (https://docs.python.org/3/library/sys.html#sys.setswitchinterval).
sys.setswitchinterval(settings.WEB_GIL_SWITCH_INTERVAL)

# What was loaded at start lives as long as the process: keep it out of the collector's
# scans, and collect the young generation less often. A web process that once held
# 10,000 sockets otherwise spends its time in full collections (make bench: P4 right
# after P6, send → other side p50 4.3 s before, 0.5 s after).
# https://docs.python.org/3/library/gc.html#gc.freeze
gc.freeze()
gc.set_threshold(*settings.WEB_GC_THRESHOLDS)

application = BindEventLoop(ProtocolTypeRouter(
    {
        # outermost: every request is counted, whoever answers it (metrics/http.py); then
        # the request id, so the fast paths' log lines carry it too (config/request_id.py)
        "http": HttpMetrics(RequestIdAsgi(AvailabilityFastPath(MessageSendFastPath(django_http_app)))),
        "websocket": URLRouter(websocket_urlpatterns),
    }
))
