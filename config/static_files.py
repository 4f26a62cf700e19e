"""WhiteNoise as a middleware that also runs in async mode.

WhiteNoise's middleware is sync-only. Under ASGI one sync-only middleware turns the
whole chain sync: every request then hops between the event loop and a thread several
times (https://docs.djangoproject.com/en/5.2/topics/async/#async-views), which costs
latency and GIL switches on every API call. This subclass keeps WhiteNoise's lookup and
serving (https://whitenoise.readthedocs.io/en/stable/django.html) and only adds the
async entry point: a static file is served in a worker thread, anything else is
awaited straight through.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from whitenoise.middleware import WhiteNoiseMiddleware


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    sync_capable = True
    async_capable = True

    def __init__(self, get_response=None, **kwargs):
        super().__init__(get_response, **kwargs)
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.async_mode:
            return self.__acall__(request)
        return super().__call__(request)

    def _static_file(self, request):
        return self.find_file(request.path_info) if self.autorefresh else self.files.get(request.path_info)

    async def __acall__(self, request):
        static_file = self._static_file(request)
        if static_file is not None:
            return await sync_to_async(self.serve, thread_sensitive=False)(static_file, request)
        return await self.get_response(request)
