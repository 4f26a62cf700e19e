"""``python -m config.web_server`` is daphne (same arguments) with an access log that
keeps personal data out (SPEC §13).

daphne's own access log writes each request's full URI, query string included, so an
operator's search for a phone number or an email in the control center
(``/admin/accounts/customerprofile/?q=…``) would land in the log. Here the query keeps
its parameter names and loses their values, and the line goes through ``logging``
(logger ``curhat.access``, so it carries the format and the redaction filter of
``LOGGING``) when the access log is stdout (``--access-log -``); a file still gets
daphne's NCSA lines, cleaned the same way (``make bench`` / ``make faults`` send it to
``/dev/null``).
"""

from __future__ import annotations

import logging
import sys
from urllib.parse import parse_qsl

from daphne.access import AccessLogGenerator
from daphne.cli import CommandLineInterface
from daphne.server import Server

logger = logging.getLogger("curhat.access")


def path_without_query_values(path: str) -> str:
    base, _, query = path.partition("?")
    if not query:
        return base
    names = [name for name, _ in parse_qsl(query, keep_blank_values=True)]
    return f"{base}?{'&'.join(f'{name}=…' for name in names)}" if names else base


class AccessLog(AccessLogGenerator):
    def __init__(self, stream) -> None:
        super().__init__(stream)
        self.to_logging = stream is sys.stdout

    def __call__(self, protocol, action, details):
        if "path" in details:
            details = {**details, "path": path_without_query_values(str(details["path"]))}
        super().__call__(protocol, action, details)

    def write_entry(self, host, date, request, status=None, length=None, ident=None, user=None):
        if self.to_logging:
            logger.info('%s "%s" %s %s', host, request, status or "-", length or "-")
        else:
            super().write_entry(host, date, request, status, length, ident, user)


class AccessLoggingServer(Server):
    def __init__(self, *args, action_logger=None, **kwargs):
        if isinstance(action_logger, AccessLogGenerator):
            action_logger = AccessLog(action_logger.stream)
        super().__init__(*args, action_logger=action_logger, **kwargs)


class WebServerCommand(CommandLineInterface):
    server_class = AccessLoggingServer


if __name__ == "__main__":
    WebServerCommand.entrypoint()
