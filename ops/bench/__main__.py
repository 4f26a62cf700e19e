"""``make bench`` / ``python -m ops.bench [--only P1,P2]``: measure P1–P7 against the app.

1. PostgreSQL and Redis as ``make run`` gets them (embedded unless ``DATABASE_URL`` /
   ``REDIS_URL`` are set), but a separate database, ``curhat_bench``, dropped and made
   anew every run, and the Redis prefix ``curhat-bench`` (old keys deleted).
2. ``migrate``, then the accounts in bulk from this process (``ops.bench.data``).
3. The app exactly as ``make run`` starts it (``ops.launch.start_app``: one daphne per
   core on one port, one Celery worker, beat), with DEBUG off, on a free port.
4. The scenarios (``ops.bench.scenarios``), each bounded in time; a crash is a FAIL row.
5. One table, printed and written to ``.data/bench-results.txt``; exit 1 on any FAIL.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import gc
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import traceback
import urllib.request
from datetime import datetime, timezone

from ops.bench import data
from ops.bench.load import Api, http_session
from ops.bench.scenarios import (
    SCENARIOS,
    Bench,
    Result,
    log,
    p1_availability,
    p2_blast,
    p3_accept_race,
    p4_messages_and_p5_deadlines,
    p6_sweeper,
    p7_idle_sockets,
    p8_retention_purge,
    settle,
)
from ops.embedded_services import EmbeddedServices
from ops.launch import DATA_DIR, PYTHON, ROOT, Supervisor, prepare_metrics_dir, start_app, web_concurrency

TIME_BUDGET_SECONDS = 14 * 60  # the whole run must end within 15 minutes; keep a minute for teardown
P6_CUSTOMERS = 10_000
SPARE_CUSTOMERS = 600


def raise_open_file_limit() -> int:
    """Thousands of sockets: soft RLIMIT_NOFILE up to the hard limit (the app's processes,
    started from here, inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_health(port: int, supervisor: Supervisor, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    last = ""
    while time.monotonic() < end:
        for name, proc in supervisor.children.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode} before /health answered")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except Exception as exc:  # not up yet
            last = str(exc)
        time.sleep(0.5)
    raise RuntimeError(f"/health did not answer 200 within {timeout:.0f} s (last: {last})")


def revive_children(b: Bench) -> None:
    """A child that died mid-run (a crash, or the worker P5 killed and failed to replace) is
    noted and started again with the same argv, so later scenarios still measure the app."""
    for name, proc in list(b.supervisor.children.items()):
        if proc.poll() is not None:
            note = f"{name} (pid {proc.pid}) exited with {proc.returncode}; restarted"
            b.notes.append(note)
            log(f"{note}")
            pass_fds = (b.listen_fd,) if name.startswith("web-") else ()
            b.supervisor.spawn(name, list(proc.args), pass_fds=pass_fds)


async def run_scenarios(ctx: dict, only: list[str], deadline: float) -> None:
    async with http_session() as http, http_session(timeout=60) as ws_session:
        b = Bench(
            api=Api(http, f"http://127.0.0.1:{ctx['port']}"),
            ws_session=ws_session,
            ws_base=f"ws://127.0.0.1:{ctx['port']}",
            port=ctx["port"],
            population=ctx["population"],
            supervisor=ctx["supervisor"],
            listen_fd=ctx["listen_fd"],
            run_db=ctx["executor"].submit,
            results=ctx["results"],
            notes=ctx["notes"],
        )
        p6_customers = ctx["p6_customers"]
        b.lag.start()
        runners = {
            "P1": p1_availability,
            "P7": p7_idle_sockets,
            "P2": p2_blast,
            "P3": p3_accept_race,
            "P4": p4_messages_and_p5_deadlines,
            "P6": lambda bench: p6_sweeper(bench, p6_customers),
            "P8": p8_retention_purge,
        }
        for name, (what, bound) in SCENARIOS.items():
            if name not in only:
                continue
            remaining = deadline - time.monotonic()
            if remaining < 45:
                b.record(f"{name} {what}", "not run", "-", False, f"time budget used up ({remaining:.0f} s left)")
                continue
            limit = min(bound, remaining)
            ctx["current"] = name
            # the load generator's own pauses are not the app's latency: what the run
            # holds so far (thousands of people, sockets, replies) leaves the collector's
            # scans, which otherwise stop this loop for ~250 ms now and then (seen in P4)
            gc.collect()
            gc.freeze()
            log(f"--- {name}: {what} (at most {limit:.0f} s)")
            started = time.monotonic()
            try:
                await asyncio.wait_for(runners[name](b), timeout=limit)
            except asyncio.TimeoutError:
                b.record(f"{name} {what}", "timed out", "-", False, f"stopped after {limit:.0f} s; figures above are partial")
            except Exception as exc:
                traceback.print_exc()
                b.record(f"{name} {what}", "crashed", "-", False, f"{type(exc).__name__}: {exc}"[:300])
            log(f"--- {name} took {time.monotonic() - started:.0f} s")
            revive_children(b)
            waited = await settle(b)
            if waited > 5:
                b.notes.append(f"after {name} the app needed {waited:.0f} s before /health answered within 0.5 s again")
            await asyncio.sleep(1)
        ctx["current"] = None


def run_async(coro):
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


# --- the table ----------------------------------------------------------------------------------
def table(results: list[Result], notes: list[str], header: str) -> str:
    rows = [("figure", "measured", "target", "result")] + [(r.figure, r.measured, r.target, r.status) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    line = lambda row: "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()  # noqa: E731
    out = [header, line(rows[0]), "  ".join("-" * w for w in widths)]
    for result, row in zip(results, rows[1:]):
        out.append(line(row))
        if result.context:
            out.append(f"    {result.context}")
    failed = sum(1 for r in results if r.status == "FAIL")
    skipped = sum(1 for r in results if r.status == "SKIP")
    out.append("")
    out.append(f"{len(results) - failed - skipped} PASS, {failed} FAIL, {skipped} SKIP")
    # again at the end, where a CI log's tail shows them
    out += [f"FAIL: {r.figure}: {r.measured} (target {r.target}){f'; {r.context}' if r.context else ''}" for r in results if r.status == "FAIL"]
    out += [f"note: {n}" for n in notes]
    return "\n".join(out) + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ops.bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default=",".join(SCENARIOS),
        help="comma-separated scenarios to run (P5 runs with P4); default: all of " + ",".join(SCENARIOS),
    )
    args = parser.parse_args(argv)
    wanted = {"P4" if s.strip().upper() == "P5" else s.strip().upper() for s in args.only.split(",") if s.strip()}
    unknown = sorted(wanted - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    args.only = [name for name in SCENARIOS if name in wanted]  # always in the run's order
    return args


def _stop_on_sigterm(signum, _frame):
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    deadline = started + TIME_BUDGET_SECONDS
    # Ctrl-C and SIGTERM end the run cleanly (the app and the embedded services are
    # stopped in ``finally``), also when started from a shell that ignores SIGINT
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    nofile = raise_open_file_limit()
    processes = web_concurrency()
    results: list[Result] = []
    notes: list[str] = []
    services = EmbeddedServices(DATA_DIR)
    # the app records its metrics as under `make run` (multiprocess files), so the
    # figures include that cost
    prepare_metrics_dir(DATA_DIR / "prometheus-bench")
    supervisor = Supervisor()
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-django")
    listen = None
    ctx: dict = {"current": "setup"}
    try:
        services.ensure()
        bench_url = data.recreate_database(os.environ["DATABASE_URL"])
        cleared = data.clear_redis(os.environ["REDIS_URL"])
        os.environ.update(data.bench_environment(bench_url))
        log(f"database {data.BENCH_DATABASE} recreated; {cleared} old {data.BENCH_REDIS_PREFIX}* Redis keys deleted")
        subprocess.run([PYTHON, str(ROOT / "manage.py"), "migrate", "--noinput", "--verbosity", "0"], cwd=ROOT, check=True)
        executor.submit(data.django_setup).result()
        mitras = max(2_000 * processes, 1_200)
        made = time.monotonic()
        population = executor.submit(data.create_population, customers=P6_CUSTOMERS + SPARE_CUSTOMERS, mitras=mitras).result()
        log(f"{len(population.customers)} customers and {mitras} mitras made in {time.monotonic() - made:.1f} s")
        p6_customers = population.take_customers(P6_CUSTOMERS)
        port = free_port()
        listen = start_app(supervisor, bind="127.0.0.1", port=port, processes=processes)
        wait_for_health(port, supervisor)
        if not executor.submit(data.wait_for_beat_schedule, 60).result():
            notes.append("beat had not written its schedule 60 s after start")
        log(f"app up on 127.0.0.1:{port} ({processes} web processes); setup took {time.monotonic() - started:.0f} s")
        ctx.update({
            "port": port, "population": population, "supervisor": supervisor, "listen_fd": listen.fileno(),
            "executor": executor, "results": results, "notes": notes, "p6_customers": p6_customers,
        })
        run_async(run_scenarios(ctx, args.only, deadline))
    except KeyboardInterrupt:
        during = f" during {ctx['current']}" if ctx.get("current") else ""
        results.append(Result("run", "interrupted", "-", "FAIL", f"stopped by a signal{during}; figures above are partial"))
    except Exception as exc:
        traceback.print_exc()
        results.append(Result("setup", "crashed", "-", "FAIL", f"{type(exc).__name__}: {exc}"[:300]))
    finally:
        supervisor.stop_all()
        if listen is not None:
            listen.close()
        executor.shutdown(wait=False, cancel_futures=True)
        services.stop()

    header = (
        f"make bench — {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}; {processes} web processes, "
        f"{os.cpu_count()} cores, RLIMIT_NOFILE {nofile}; scenarios {','.join(args.only)}; "
        f"run took {time.monotonic() - started:.0f} s"
    )
    return report(results, notes, header, DATA_DIR / "bench-results.txt")


def report(results: list[Result], notes: list[str], header: str, path) -> int:
    """Print the table, keep a copy at ``path``; the exit code: 1 on any FAIL (or nothing run)."""
    text = table(results, notes, header)
    print("\n" + text, flush=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as exc:
        print(f"could not write {path}: {exc}", file=sys.stderr, flush=True)
    return 1 if not results or any(r.status == "FAIL" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
