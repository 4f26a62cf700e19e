"""``make run`` and ``make test``: set up, start what is missing, then run.

    python -m ops.launch run            # migrate, seed, web processes + Celery worker + beat
    python -m ops.launch test [ARGS]    # pytest ARGS on the same engines
    python -m ops.launch web            # production: only the web processes (WEB_CONCURRENCY)

Embedded PostgreSQL/Redis are started only when ``DATABASE_URL`` / ``REDIS_URL``
are unset (see ``ops.embedded_services``). Ctrl-C (SIGINT) or SIGTERM stops every
child, then the embedded services this launcher started.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from ops.embedded_services import EmbeddedServices, log

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("CURHAT_DATA_DIR", ROOT / ".data"))
PYTHON = sys.executable
BIN = Path(PYTHON).parent

DEMO_LOGINS = """\
  operator   operator@curhat.local   (control center + /internal/)
  mitra      mitra1@curhat.local … mitra3@curhat.local   (demo mitras start offline)
  customer   customer1@curhat.local, customer2@curhat.local
  password   curhat-demo-123 for every demo account"""


def _secret_key() -> str:
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def prepare_metrics_dir(path: Path) -> Path:
    """Multiprocess mode of prometheus_client for every process started from here
    (``PROMETHEUS_MULTIPROC_DIR``; an explicit setting wins), emptied first: the files
    of a previous run would otherwise count again.
    https://prometheus.github.io/client_python/multiprocess/"""
    path = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(path)))
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    return path


def _metrics_process_dead(pid: int) -> None:
    """prometheus_client's bookkeeping for a process that exited: its live gauges (open
    websockets) stop counting; its counters and histograms keep their totals."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def _manage(*args: str) -> None:
    subprocess.run([PYTHON, str(ROOT / "manage.py"), *args], cwd=ROOT, check=True)


class Supervisor:
    """Runs the app processes in the foreground, restarts one that dies, and stops them
    all together.

    A child that exits while the app runs (a crash, an OOM kill, ``kill -9``) is started
    again with the same command line, at most ``MAX_RESTARTS`` times within
    ``RESTART_WINDOW_SECONDS`` and not more often than once per ``RESTART_MIN_GAP_SECONDS``;
    one that keeps dying stops everything (a broken configuration must not loop quietly).
    A restarted web process adopts the same listening socket, so clients reconnect to
    whichever process is alive (``make faults`` checks this)."""

    MAX_RESTARTS = 5
    RESTART_WINDOW_SECONDS = 60.0
    RESTART_MIN_GAP_SECONDS = 1.0

    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen] = {}
        self.specs: dict[str, tuple[list[str], tuple[int, ...]]] = {}
        self.restarts: dict[str, list[float]] = {}
        self.held: set[str] = set()  # not restarted until released (make faults holds one down)
        self.reaped: set[int] = set()  # exited children whose metrics bookkeeping is done
        self.stopping = False
        self._lock = threading.Lock()

    def spawn(self, name: str, argv: list[str], pass_fds: tuple[int, ...] = ()) -> None:
        log(f"starting {name}: {' '.join(argv)}")
        with self._lock:
            self.specs[name] = (list(argv), tuple(pass_fds))
            # own session: the launcher decides the shutdown order, whoever got the signal
            self.children[name] = subprocess.Popen(argv, cwd=ROOT, start_new_session=True, pass_fds=pass_fds)

    def request_stop(self, signum, _frame) -> None:
        if not self.stopping:
            log(f"got {signal.Signals(signum).name}, stopping every process")
        self.stopping = True

    def hold(self, name: str) -> None:
        """Do not restart ``name`` when it exits, until ``release(name)``."""
        self.held.add(name)

    def release(self, name: str) -> None:
        self.held.discard(name)

    def tend(self) -> str | None:
        """Restart every child that has exited (unless held). Returns why the app must
        stop instead, when a child keeps dying."""
        with self._lock:
            if self.stopping:
                return None
            now = time.monotonic()
            for name, proc in list(self.children.items()):
                if proc.poll() is None:
                    continue
                if proc.pid not in self.reaped:
                    self.reaped.add(proc.pid)
                    _metrics_process_dead(proc.pid)
                if name in self.held:
                    continue
                recent = [t for t in self.restarts.get(name, []) if now - t < self.RESTART_WINDOW_SECONDS]
                if len(recent) >= self.MAX_RESTARTS:
                    return (f"{name} exited with {proc.returncode} after {len(recent)} restarts within "
                            f"{self.RESTART_WINDOW_SECONDS:.0f} s")
                if recent and now - recent[-1] < self.RESTART_MIN_GAP_SECONDS:
                    continue
                self.restarts[name] = recent + [now]
                argv, pass_fds = self.specs[name]
                log(f"{name} (pid {proc.pid}) exited with {proc.returncode}; starting it again")
                self.children[name] = subprocess.Popen(argv, cwd=ROOT, start_new_session=True, pass_fds=pass_fds)
        return None

    def wait(self) -> int:
        exit_code = 0
        while not self.stopping:
            reason = self.tend()
            if reason:
                log(f"{reason}; stopping the rest")
                exit_code = 1
                self.stopping = True
                break
            time.sleep(0.3)
        self.stop_all()
        return exit_code

    def stop_all(self, grace_seconds: float = 15) -> None:
        with self._lock:
            self.stopping = True
            children = list(self.children.items())
        for _name, proc in children:
            if proc.poll() is None:
                # SIGTERM: daphne, Celery worker (warm shutdown) and beat all stop on it
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for name, proc in children:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop in time; killing it")
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def web_concurrency() -> int:
    """Web processes: ``WEB_CONCURRENCY``, else one per core this process may run on."""
    raw = os.environ.get("WEB_CONCURRENCY", "").strip()
    if raw:
        value = int(raw)
        if value < 1:
            raise ValueError("WEB_CONCURRENCY must be at least 1")
        return value
    return len(os.sched_getaffinity(0)) or 1


def listening_socket(bind: str, port: int) -> socket.socket:
    """The one port users open. Bound here once and inherited by every daphne process
    (``daphne --fd``): the kernel hands each new connection to whichever process
    accepts first, so an idle process takes the next one."""
    if ":" in bind:
        raise ValueError("BIND must be an IPv4 address (daphne adopts an AF_INET socket)")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((bind, port))
    sock.listen(int(os.environ.get("WEB_BACKLOG", "2048")))
    sock.set_inheritable(True)
    return sock


def start_web(supervisor: Supervisor, *, bind: str, port: int, processes: int | None = None) -> socket.socket:
    """``processes`` daphne processes (HTTP and websockets) on one listening socket."""
    processes = processes or web_concurrency()
    sock = listening_socket(bind, port)
    fd = sock.fileno()
    for index in range(processes):
        supervisor.spawn(
            f"web-{index + 1}",
            # daphne, with an access log that keeps query values out (config/web_server.py)
            [PYTHON, "-m", "config.web_server", "--fd", str(fd), "--access-log", os.environ.get("WEB_ACCESS_LOG", "-"), "config.asgi:application"],
            pass_fds=(fd,),
        )
    return sock


def celery_worker_argv() -> list[str]:
    return [str(BIN / "celery"), "-A", "config", "worker", "--loglevel", os.environ.get("CELERY_LOG_LEVEL", "INFO"),
            "--pool", "threads", "--concurrency", os.environ.get("CELERY_CONCURRENCY", "8")]


def start_app(supervisor: Supervisor, *, bind: str, port: int, processes: int | None = None) -> socket.socket:
    """The whole app under ``supervisor``: the web processes, one Celery worker and the
    one beat. ``make run`` and ``make bench`` both start the app this way."""
    sock = start_web(supervisor, bind=bind, port=port, processes=processes)
    supervisor.spawn("celery-worker", celery_worker_argv())
    supervisor.spawn(
        "celery-beat",
        [str(BIN / "celery"), "-A", "config", "beat", "--loglevel", os.environ.get("CELERY_LOG_LEVEL", "INFO"),
         "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
         "--pidfile", ""],
    )
    return sock


def web() -> int:
    """Production web tier of one machine: ``WEB_CONCURRENCY`` daphne processes on
    ``BIND``:``PORT``, nothing else (no embedded services, no migrations)."""
    for name in ("DATABASE_URL", "REDIS_URL"):
        if not os.environ.get(name):
            log(f"{name} is not set: `python -m ops.launch web` serves a configured deployment only")
            return 2
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_dir:  # emptied by whoever starts this machine's processes (README, Metrics)
        Path(metrics_dir).mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor()
    signal.signal(signal.SIGINT, supervisor.request_stop)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    processes = web_concurrency()
    start_web(supervisor, bind=os.environ.get("BIND", "0.0.0.0"), port=int(os.environ.get("PORT", "8000")), processes=processes)
    log(f"{processes} web processes on port {os.environ.get('PORT', '8000')}")
    try:
        return supervisor.wait()
    finally:
        supervisor.stop_all()


def run() -> int:
    os.environ.setdefault("DEBUG", "1")
    # a person reads these logs: plain text (production: JSON lines, README "Logs")
    os.environ.setdefault("LOG_FORMAT", "plain")
    os.environ.setdefault("SECRET_KEY", _secret_key())
    port = os.environ.setdefault("PORT", "8000")
    bind = os.environ.get("BIND", "127.0.0.1")
    services = EmbeddedServices(DATA_DIR)
    metrics_dir = prepare_metrics_dir(DATA_DIR / "prometheus")
    supervisor = Supervisor()
    signal.signal(signal.SIGINT, supervisor.request_stop)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    try:
        services.ensure()
        _manage("migrate", "--noinput")
        _manage("collectstatic", "--noinput", "--verbosity", "0")
        _manage("seed_demo")
        processes = web_concurrency()
        start_app(supervisor, bind=bind, port=int(port), processes=processes)
        host = "localhost" if bind in ("127.0.0.1", "0.0.0.0") else bind
        base = f"http://{host}:{port}"
        print(
            f"\nCurhat is up: {processes} web processes on port {port} (WEB_CONCURRENCY changes it).\n"
            f"  API             {base}/api/\n"
            f"  health          {base}/health   (database, Redis, worker and beat liveness; 503 names what fails)\n"
            f"  metrics         {base}/metrics   (Prometheus; operators, or Bearer $METRICS_TOKEN; files in {metrics_dir})\n"
            f"  OpenAPI schema  {base}/api/schema/   (docs: {base}/api/docs/)\n"
            f"  control center  {base}/admin/\n"
            f"  websockets      ws://{host}:{port}/ws/client/  ws://{host}:{port}/ws/mitra/\n"
            f"Logs: this terminal, LOG_FORMAT={os.environ['LOG_FORMAT']} (plain: time level logger [request id] "
            f"message; json: one object per line); daphne's access log: WEB_ACCESS_LOG={os.environ.get('WEB_ACCESS_LOG', '-')}\n"
            f"Demo logins:\n{DEMO_LOGINS}\n"
            f"Ctrl-C stops everything.\n",
            flush=True,
        )
        return supervisor.wait()
    except subprocess.CalledProcessError as exc:
        log(f"set-up step failed: {exc}")
        return exc.returncode or 1
    finally:
        supervisor.stop_all()
        services.stop()


def test(pytest_args: list[str]) -> int:
    os.environ.setdefault("SECRET_KEY", "curhat-test-secret-key-not-for-production")
    # keep test keys, channel groups and Celery queues apart from a dev instance on the same Redis
    os.environ.setdefault("CURHAT_REDIS_PREFIX", "curhat-test")
    # the race tests start more threads in one process than its pool holds connections;
    # the racers beyond the pool wait for one (an app process never does, DB_POOL_TIMEOUT)
    os.environ.setdefault("DB_POOL_TIMEOUT", "20")
    # tests run with DEBUG off, on the instant provider (SPEC §11: allowed explicitly)
    os.environ.setdefault("ALLOW_INSTANT_PAYMENTS", "1")
    # the test process and the workers, beat and helper processes it starts share one
    # metrics directory, as the processes of `make run` do
    prepare_metrics_dir(DATA_DIR / "prometheus-test")
    # plain text, as under make run (tests that check JSON lines set LOG_FORMAT themselves)
    os.environ.setdefault("LOG_FORMAT", "plain")
    services = EmbeddedServices(DATA_DIR)
    try:
        services.ensure()
        result = subprocess.run([PYTHON, "-m", "pytest", *pytest_args], cwd=ROOT)
    finally:
        services.stop()
    if result.returncode == 5:
        log("pytest collected no tests: that is a failure, not a pass")
    return result.returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "test", "web"):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "run":
        return run()
    if argv[0] == "web":
        return web()
    return test(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
