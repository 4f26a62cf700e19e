"""One web process: daphne as its command line runs it, with an access log that never
carries a query string, and is JSON lines when ``LOG_FORMAT`` is ``json``.

daphne writes the request line as the client sent it, query string included, and a
query string can carry what a log must not (a control-center search for an email or a
phone number). daphne builds its access log from ``daphne.cli.AccessLogGenerator``; this
entry point puts ``AccessLog`` there and then runs daphne's own command line. The
launcher starts each web process as ``python -m ops.web_process <daphne arguments>``.
"""

from __future__ import annotations

import datetime
import json
import os
import sys

from daphne import cli
from daphne.access import AccessLogGenerator


def default_log_format() -> str:
    """``LOG_FORMAT`` as config/settings.py reads it: plain text when ``DEBUG`` is on."""
    debug = os.environ.get("DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
    return os.environ.get("LOG_FORMAT") or ("plain" if debug else "json")


def _path_only(path) -> str:
    return str(path).split("?", 1)[0]


class AccessLog(AccessLogGenerator):
    """daphne's access log without query strings; one JSON object per line (``time``,
    ``level``, ``logger`` ``daphne.access``, ``message``, and the request's parts) when
    ``LOG_FORMAT=json``."""

    def __init__(self, stream, log_format: str | None = None):
        super().__init__(stream)
        self.json = (log_format or default_log_format()).strip().lower() == "json"

    def __call__(self, protocol, action, details):
        details = {**details, "path": _path_only(details.get("path", ""))}
        if not self.json:
            return super().__call__(protocol, action, details)
        if protocol == "http" and action == "complete":
            verb, extra = details["method"], {"status": details["status"], "size": details["size"]}
        elif protocol == "websocket" and action in ("connecting", "rejected", "connected", "disconnected"):
            verb, extra = f"WS{action.upper()}", {}
        else:
            return None
        message = f"{verb} {details['path']}" + (f" {extra['status']}" if "status" in extra else "")
        line = {
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "level": "INFO", "logger": "daphne.access", "message": message, "request_id": None,
            "method": verb, "path": details["path"], "client": details.get("client"), **extra,
        }
        self.stream.write(json.dumps(line) + "\n")
        return None


def main(argv: list[str]) -> None:
    cli.AccessLogGenerator = AccessLog
    cli.CommandLineInterface().run(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
