"""``make faults`` / ``python -m ops.faults [--only F1,F2]``: break the running app and
check that it loses nothing.

1. The suite's own PostgreSQL and Redis (``ops.faults.services``: the engines ``make run``
   embeds, which the suite may stop), a fresh database ``curhat_faults``.
2. ``migrate``, the accounts in bulk (``ops.bench.data``), three price tiers.
3. The app exactly as ``make run`` starts it (``ops.launch.start_app``: two web processes
   on one port, a Celery worker, beat), DEBUG off, under the launcher's supervisor, which
   restarts a process that dies, as in ``make run``.
4. F1–F5 (``ops.faults.scenarios``), each with traffic in flight; a crash is a FAIL row.
5. One table, printed and written to ``.data/faults-results.txt``; exit 1 on any FAIL.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import traceback
from datetime import datetime, timezone

import aiohttp
import psycopg

from ops.bench import data as bench_data
from ops.bench.__main__ import _stop_on_sigterm, free_port, raise_open_file_limit, report, run_async, wait_for_health
from ops.bench.load import Api, http_session
from ops.faults import data
from ops.faults.scenarios import SCENARIOS, Result, Run, log
from ops.faults.services import DATABASE_NAME, FaultServices
from ops.launch import DATA_DIR, PYTHON, ROOT, Supervisor, start_app

WEB_PROCESSES = 2  # a killed web process must leave another one serving
CUSTOMERS, MITRAS = 400, 250


def environment(services: FaultServices) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": services.database_url(),
        "REDIS_URL": services.redis_url,
        "CURHAT_REDIS_PREFIX": "curhat-faults",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
        "CELERY_LOG_LEVEL": os.environ.get("CELERY_LOG_LEVEL", "WARNING"),
        "WEB_ACCESS_LOG": os.environ.get("WEB_ACCESS_LOG", "/dev/null"),
        "PUSH_BACKEND": "realtime.push.OutboxPushBackend",
        "ALLOW_INSTANT_PAYMENTS": "1",
        # a settings change must reach the processes through the invalidation channel,
        # which F2 breaks: a short TTL would hide a listener that never re-subscribed
        "LIVE_SETTINGS_TTL_SECONDS": "600",
        "WEB_CONCURRENCY": str(WEB_PROCESSES),
    }


def tend_forever(supervisor: Supervisor, stop: threading.Event) -> None:
    """The launcher's own loop (``Supervisor.wait``), here in a thread: restart what dies."""
    while not stop.is_set():
        reason = supervisor.tend()
        if reason:
            log(f"supervisor: {reason}")
        stop.wait(0.3)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ops.faults", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios; default: all of " + ",".join(SCENARIOS))
    args = parser.parse_args(argv)
    wanted = {s.strip().upper() for s in args.only.split(",") if s.strip()}
    unknown = sorted(wanted - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    args.only = [name for name in SCENARIOS if name in wanted]
    return args


async def run_scenarios(ctx: dict, only: list[str]) -> None:
    probe_connector = aiohttp.TCPConnector(force_close=True, limit=0)
    async with http_session() as http, http_session(timeout=60) as ws_session, aiohttp.ClientSession(
        connector=probe_connector, timeout=aiohttp.ClientTimeout(total=10), cookie_jar=aiohttp.DummyCookieJar()
    ) as probe_session:
        base = f"http://127.0.0.1:{ctx['port']}"
        run = Run(
            api=Api(http, base), probe=Api(probe_session, base), ws_session=ws_session, ws_base=f"ws://127.0.0.1:{ctx['port']}",
            population=ctx["population"], tiers=ctx["tiers"], supervisor=ctx["supervisor"], services=ctx["services"],
            run_db=ctx["run_db"], port=ctx["port"], results=ctx["results"],
        )
        for name in only:
            what, runner, bound = SCENARIOS[name]
            ctx["current"] = name
            log(f"--- {name}: {what} (at most {bound} s)")
            started = time.monotonic()
            try:
                await asyncio.wait_for(runner(run), timeout=bound)
            except asyncio.TimeoutError:
                run.record(f"{name} {what}", "timed out", "-", False, f"stopped after {bound} s; figures above are partial")
            except Exception as exc:
                traceback.print_exc()
                run.record(f"{name} {what}", "crashed", "-", False, f"{type(exc).__name__}: {exc}"[:300])
            log(f"--- {name} took {time.monotonic() - started:.0f} s")
            # whatever a scenario left stopped is started again before the next one
            ctx["ensure_services"]()
            waited = await run.wait_health(60)
            if waited is None:
                run.record(f"{name} aftermath", "/health not 200 within 60 s", "-", False)
        ctx["current"] = None


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    raise_open_file_limit()
    results: list[Result] = []
    services = FaultServices(DATA_DIR / "faults")
    supervisor = Supervisor()
    stop_tending = threading.Event()
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="faults-django")
    listen = None
    ctx: dict = {"current": "setup"}

    def run_db(fn, *a, **kw):
        def call():
            from django.db import InterfaceError, OperationalError

            # a pooled connection from before a PostgreSQL restart fails once; the pool then
            # discards it: try again on the next (the suite's own reads, not the app's)
            for attempt in range(10):
                try:
                    return fn(*a, **kw)
                except (OperationalError, InterfaceError):
                    if attempt == 9:
                        raise
                    data.close_connections()
                    time.sleep(0.2)

        return executor.submit(call)

    def ensure_services() -> None:
        if services.redis_process is None or services.redis_process.poll() is not None:
            log("starting Redis again after the scenario")
            services.start_redis()
        if not (services.pgdata / "postmaster.pid").exists():
            log("starting PostgreSQL again after the scenario")
            services.start_postgres()

    try:
        services.start()
        server_url = services.database_url("postgres")
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE_NAME}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
        os.environ.update(environment(services))
        subprocess.run([PYTHON, str(ROOT / "manage.py"), "migrate", "--noinput", "--verbosity", "0"], cwd=ROOT, check=True)
        executor.submit(bench_data.django_setup).result()
        population = executor.submit(bench_data.create_population, customers=CUSTOMERS, mitras=MITRAS).result()
        tiers = executor.submit(data.catalog).result()
        port = free_port()
        listen = start_app(supervisor, bind="127.0.0.1", port=port, processes=WEB_PROCESSES)
        threading.Thread(target=tend_forever, args=(supervisor, stop_tending), name="supervisor", daemon=True).start()
        wait_for_health(port, supervisor)
        if not executor.submit(bench_data.wait_for_beat_schedule, 60).result():
            raise RuntimeError("beat had not written its schedule 60 s after start")
        log(f"app up on 127.0.0.1:{port} ({WEB_PROCESSES} web processes); setup took {time.monotonic() - started:.0f} s")
        ctx.update({
            "port": port, "population": population, "tiers": tiers, "supervisor": supervisor, "services": services,
            "run_db": run_db, "results": results, "ensure_services": ensure_services,
        })
        run_async(run_scenarios(ctx, args.only))
    except KeyboardInterrupt:
        during = f" during {ctx['current']}" if ctx.get("current") else ""
        results.append(Result("run", "interrupted", "-", "FAIL", f"stopped by a signal{during}; figures above are partial"))
    except Exception as exc:
        traceback.print_exc()
        results.append(Result("setup", "crashed", "-", "FAIL", f"{type(exc).__name__}: {exc}"[:300]))
    finally:
        stop_tending.set()
        supervisor.stop_all()
        if listen is not None:
            listen.close()
        executor.shutdown(wait=False, cancel_futures=True)
        try:
            services.stop()
        except Exception as exc:
            log(f"stopping the suite's services: {exc}")

    restarts = {name: len(times) for name, times in supervisor.restarts.items()}
    header = (
        f"make faults — {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}; {WEB_PROCESSES} web processes, {os.cpu_count()} cores; "
        f"scenarios {','.join(args.only)}; run took {time.monotonic() - started:.0f} s; launcher restarts {restarts or 'none'}"
    )
    return report(results, [], header, DATA_DIR / "faults-results.txt")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
