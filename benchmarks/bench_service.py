"""Benchmark: the service under load (issue 13): requests/s and p50/p99 latency of the
inventory, status and trust-check endpoints, one instance and two, on 127.0.0.1.

The store (made once, outside the timed regions): the 10,000-identity store of
``bench_status.py`` (deployment ``bench``), the FAQ deployment (examples/faq.toml) applied
beside it, and a viewer with an API token.

The servers: ``create_app`` served by uvicorn, each instance its own process on its own
port, plain HTTP, no job runner, access log off (what ``ccapki serve --no-tls`` runs); two
are started once, and "one instance" is the first of them alone (the other idle), measured
right before and right after the two, per endpoint, so both setups see the same machine. Each
also serves a bare FastAPI route ``GET /bench/hello`` (``{"ok": true}``: no auth, no store,
the same middleware): the **baseline**, measured in the same run on the same server, so the
figures read as "this endpoint costs X hello-requests".

The load generator: Debian's ``wrk`` (found on ``PATH``, like the tests' kit finds a tool),
native and light: one ``wrk -t1 -c C -d D`` per instance (``-c`` connections, default 8;
``-d`` seconds, default 10), the API token sent with ``-H``, a small Lua ``done`` hook
printing requests, duration, errors (connect/read/write/timeout and HTTP status >= 400) and
the latency percentiles of wrk's microsecond histogram. Two instances: one wrk against each,
started at once with the same duration, their requests/s summed and, for p50/p99, the
higher of the two (an upper bound of the merged percentile). One thread per wrk: a single
epoll loop sends tens of thousands of requests/s, far above what one instance answers, and
leaves the cores to the servers; 8 connections per instance: a closed loop deep enough to
keep one single-process uvicorn busy (its threadpool and event loop always have the next
request queued) without measuring mostly queueing. Latency: one wrk connection against one
instance (``-c1``, one request at a time), each request timed from its write to the last
byte of the body in C, without a Python client's own cost on the clock. The CPU the load
generator used (user + system of the wrk processes) is printed as cores, beside each
throughput figure. Without wrk the benchmark says so and falls back to an httpx async loop
in this process (``-c`` requests in flight, a fixed count per endpoint, round-robin over the
instances), which on a 2-core machine costs about as much CPU per request as the servers:
there it, not the service, bounds the two-instance figure (``--httpx`` forces it).
Printed per endpoint and per setup: requests/s, p50 and p99 latency (ms), and the ratio two
instances / one (requests/s), beside the same ratio for the baseline: the machine's
ceiling for that ratio in this run.

Goals (issue 13): inventory (``GET /api/v1/deployments/bench/identities``, 10,000
identities: its first page, of the default 100, by expiry) p99 <= 50 ms; trust check of
the FAQ deployment (``GET /api/v1/deployments/faq-campus/trust/check``) p99 <= 100 ms; two
instances >= 1.6x one. Status and trust check are kept by each instance per store revision
and minute (see ``ccapki.service.api``): after the warm-up they measure a kept answer (the
work in process is the floor of a computed one). The machine's cores bound the last one:
the load generator and both servers share them (``os.cpu_count()`` and the load average
before and after are printed; the hello ratio is the ceiling).

    .venv/bin/python benchmarks/bench_service.py [-n 10000] [--quick] [-c 8] [-d 10] [--httpx]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_status import NOW, build

import ccapki
from ccapki.service.auth import issue_token
from ccapki.store import Store
from ccapki.store.records import Role

FAQ = Path(__file__).resolve().parents[1] / "examples" / "faq.toml"

SERVER = """
import sys
from pathlib import Path

import uvicorn

from ccapki.service.app import create_app
from ccapki.service.config import ServiceConfig

home, port, name = sys.argv[1:4]
app = create_app(ServiceConfig(
    home=Path(home), tls=False, host="127.0.0.1", port=int(port), instance_id=name,
    jobs_enabled=False,
))


@app.get("/bench/hello", include_in_schema=False)
def hello() -> dict[str, bool]:
    return {"ok": True}


uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning", access_log=False)
"""


@dataclass(frozen=True)
class Endpoint:
    label: str
    path: str
    requests: int
    goal_p99_ms: float | None = None


WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("ccapki-wrk %d %d %d %d %.1f %.1f\\n",
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class Result:
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int
    gen_cores: float = 0.0


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def servers(home: Path, count: int) -> Iterator[list[str]]:
    """``count`` instances on the store at ``home``: their base URLs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCAPKI_")}
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for i in range(count):
            port = _port()
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", SERVER, str(home), str(port), f"bench-{i}"], env=env
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for proc, url in zip(procs, urls, strict=True):
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"the server at {url} exited {proc.returncode}")
                try:
                    if httpx.get(f"{url}/bench/hello", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"the server at {url} did not start")
                time.sleep(0.05)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)


async def _load(
    urls: list[str], path: str, headers: dict[str, str], total: int, concurrency: int
) -> Result:
    """``total`` GETs of ``path``, ``concurrency`` at once, round-robin over ``urls``."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    clients = [
        httpx.AsyncClient(base_url=u, headers=headers, limits=limits, timeout=120) for u in urls
    ]
    latencies: list[float] = []
    errors = 0
    next_i = 0

    async def worker() -> None:
        nonlocal next_i, errors
        while next_i < total:
            i = next_i
            next_i += 1
            client = clients[i % len(clients)]
            t0 = time.perf_counter()
            r = await client.get(path)
            await r.aread()
            latencies.append(time.perf_counter() - t0)
            if r.status_code != 200:
                errors += 1

    try:
        # warm-up: each connection opened, each instance's caches filled
        await asyncio.gather(*(c.get(path) for c in clients for _ in range(2)))
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    finally:
        for c in clients:
            await c.aclose()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return Result(len(latencies) / wall, statistics.median(latencies) * 1000, p99 * 1000, errors)


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _warm(urls: list[str], path: str, headers: dict[str, str]) -> None:
    """A few requests to each instance: its caches filled, its first-call costs paid."""
    for url in urls:
        for _ in range(3):
            httpx.get(f"{url}{path}", headers=headers, timeout=120)


def _wrk(
    wrk: str,
    script: Path,
    urls: list[str],
    path: str,
    headers: dict[str, str],
    connections: int,
    seconds: int,
) -> Result:
    """One ``wrk -t1`` per URL, all started at once for ``seconds``: requests/s summed, the
    highest p50/p99, errors summed, the CPU of the wrk processes (cores)."""
    _warm(urls, path, headers)
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "60s"]
    cmd += ["-s", str(script)]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    cpu0 = _children_cpu()
    procs = [
        subprocess.Popen([*cmd, f"{url}{path}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for url in urls
    ]
    outs = [p.communicate() for p in procs]
    cpu = _children_cpu() - cpu0
    rate = p50 = p99 = wall = 0.0
    errors = 0
    for proc, (out, err) in zip(procs, outs, strict=True):
        line = next((x for x in out.decode().splitlines() if x.startswith("ccapki-wrk ")), None)
        if proc.returncode != 0 or line is None:
            raise SystemExit(f"wrk failed ({proc.returncode}): {err.decode().strip()}")
        fields = line.split()[1:]
        requests, duration_us, io_errors, status_errors = (int(x) for x in fields[:4])
        rate += requests / (duration_us / 1e6)
        wall = max(wall, duration_us / 1e6)
        p50 = max(p50, float(fields[4]) / 1000)
        p99 = max(p99, float(fields[5]) / 1000)
        errors += io_errors + status_errors
    return Result(rate, p50, p99, errors, cpu / wall)


def _httpx(
    urls: list[str], path: str, headers: dict[str, str], total: int, concurrency: int
) -> Result:
    """The fallback: :func:`_load`, with this process's CPU (cores) as the generator's."""
    cpu0, t0 = time.process_time(), time.perf_counter()
    r = asyncio.run(_load(urls, path, headers, total, concurrency))
    cores = (time.process_time() - cpu0) / (time.perf_counter() - t0)
    return Result(r.rate, r.p50_ms, r.p99_ms, r.errors, cores)


def make_store(home: Path, n: int) -> str:
    """The store (see the module docstring); a viewer's API token."""
    build(home, n)
    with Store.open(home, clock=lambda: NOW) as store:
        ccapki.apply(store, ccapki.load_deployment(FAQ), NOW, path=str(FAQ))
        token, _ = issue_token(store, store.users.add("bench", Role.VIEWER, None))
    return token


def in_process(home: Path, runs: int) -> dict[str, float]:
    """The work behind each endpoint, called in this process (ms, median of ``runs``): the
    floor under the HTTP figures."""
    from ccapki import api as core

    out: dict[str, float] = {}
    with Store.open(home) as store:
        faq = core.load_deployment(FAQ)
        work = {
            "inventory": lambda: core.inventory_page(store, "bench"),
            "status": lambda: core.estate_status(store, deployments=["bench"]),
            "trust check FAQ": lambda: core.check_trust(store, faq),
        }
        for label, fn in work.items():
            fn()
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            out[label] = statistics.median(times) * 1000
    return out


def _row(label: str, r: Result, base: Result, goal: str = "") -> str:
    return (
        f"  {label:<22}{r.rate:>9.1f}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}"
        f"{base.rate / r.rate:>9.1f}{r.errors:>8}{r.gen_cores:>9.2f}  {goal}"
    )


def _loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=10_000, help="identities (default 10,000)")
    ap.add_argument(
        "-c", type=int, default=8, help="connections per instance, throughput (default 8)"
    )
    ap.add_argument(
        "-d", type=int, default=None, help="seconds per wrk run (default 10; 3 with --quick)"
    )
    ap.add_argument("--quick", action="store_true", help="2,000 identities, shorter runs")
    ap.add_argument(
        "--httpx", action="store_true", help="the in-process httpx loop even if wrk is there"
    )
    args = ap.parse_args(argv)
    n = 2_000 if args.quick else args.n
    scale = 0.25 if args.quick else 1.0
    seconds = args.d or (3 if args.quick else 10)
    wrk = None if args.httpx else shutil.which("wrk")
    if wrk is None and not args.httpx:
        print(
            "wrk: not installed (apt-get install wrk): falling back to the httpx loop in this "
            "process, which shares the cores with the servers (two instances / one is then "
            "bounded by the load generator)"
        )
    endpoints = [
        Endpoint("hello (baseline)", "/bench/hello", int(2000 * scale)),
        Endpoint("inventory", "/api/v1/deployments/bench/identities", int(400 * scale), 50.0),
        Endpoint("status", "/api/v1/status?deployment=bench", int(100 * scale)),
        Endpoint(
            "trust check FAQ", "/api/v1/deployments/faq-campus/trust/check", int(400 * scale), 100.0
        ),
    ]
    with tempfile.TemporaryDirectory(prefix="ccapki-bench-") as tmp:
        home = Path(tmp) / "store"
        t0 = time.perf_counter()
        token = make_store(home, n)
        print(
            f"store of {n:,} identities (deployment bench) + the FAQ deployment made in "
            f"{time.perf_counter() - t0:.1f} s; {os.cpu_count()} CPUs"
        )
        floor = in_process(home, 3 if args.quick else 5)
        headers = {"Authorization": f"Bearer {token}"}
        script = Path(tmp) / "report.lua"
        script.write_text(WRK_SCRIPT)

        def measure(urls: list[str], ep: Endpoint, connections: int, total: int) -> Result:
            if wrk is not None:
                return _wrk(wrk, script, urls, ep.path, headers, connections, seconds)
            return _httpx(urls, ep.path, headers, total, connections)

        load_before = _loadavg()
        latency: dict[str, Result] = {}
        rates: dict[tuple[str, int], Result] = {}
        spread: dict[str, tuple[float, float]] = {}
        # Two instances started once; "one instance" is the first alone (the second idle,
        # costing nothing). Per endpoint: one, two, one again back to back, so both setups
        # see the same machine (the one-instance figure is the mean of its two runs; when
        # they disagree the machine was busy).
        with servers(home, 2) as urls:
            for ep in endpoints:  # one request at a time: the latency of each
                latency[ep.label] = measure(urls[:1], ep, 1, max(20, ep.requests // 2))
            for ep in endpoints:
                before = measure(urls[:1], ep, args.c, ep.requests)
                rates[ep.label, 2] = measure(urls, ep, args.c, ep.requests)
                after = measure(urls[:1], ep, args.c, ep.requests)
                spread[ep.label] = (before.rate, after.rate)
                rates[ep.label, 1] = Result(
                    (before.rate + after.rate) / 2,
                    max(before.p50_ms, after.p50_ms),
                    max(before.p99_ms, after.p99_ms),
                    before.errors + after.errors,
                    (before.gen_cores + after.gen_cores) / 2,
                )
        load_after = _loadavg()
    head = (
        f"  {'endpoint':<22}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'x hello':>9}{'errors':>8}"
        f"{'gen CPU':>9}"
    )
    print()
    if wrk is not None:
        print(
            f"load generator: {wrk} (-t1 per instance), {seconds} s per run; "
            "gen CPU = cores the wrk processes used"
        )
    else:
        print("load generator: the httpx loop in this process; gen CPU = this process's cores")
    print(f"load average (1/5/15 min): before {load_before}, after {load_after}")
    print()
    print("latency: one instance, one request at a time")
    print(head + "  goal")
    for ep in endpoints:
        r = latency[ep.label]
        goal = ""
        if ep.goal_p99_ms is not None:
            verdict = "met" if r.p99_ms <= ep.goal_p99_ms else "NOT met"
            goal = f"p99 <= {ep.goal_p99_ms:.0f} ms: {verdict}"
        print(_row(ep.label, r, latency[endpoints[0].label], goal))
    print()
    print("the work in process (median ms): " + ", ".join(f"{k} {v:.1f}" for k, v in floor.items()))
    for count in (1, 2):
        print()
        per = " per instance" if wrk is not None else ""
        note = (
            " (p50/p99: the higher instance's)"
            if count > 1 and wrk
            else " (req/s: mean of the runs before and after two; p50/p99: the higher)"
            if count == 1
            else ""
        )
        print(
            f"throughput: {count} instance{'s' if count > 1 else ''}, {args.c} requests in "
            f"flight{per}{note}"
        )
        print(head)
        for ep in endpoints:
            print(_row(ep.label, rates[ep.label, count], rates[endpoints[0].label, count]))
    print()
    print("two instances / one (requests/s)   goal >= 1.6x; the hello ratio is the ceiling")
    print(f"  {'endpoint':<22}{'ratio':>9}{'one before':>12}{'one after':>11}")
    for ep in endpoints:
        ratio = rates[ep.label, 2].rate / rates[ep.label, 1].rate
        verdict = "" if ep is endpoints[0] else ("  met" if ratio >= 1.6 else "  NOT met")
        b, a = spread[ep.label]
        print(f"  {ep.label:<22}{ratio:>8.2f}x{b:>12.1f}{a:>11.1f}{verdict}")
    errors = any(r.errors for r in [*latency.values(), *rates.values()])
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
