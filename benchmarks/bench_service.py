"""Benchmark: the service under load (issue 13): requests/s and p50/p99 latency of the
inventory, status and trust-check endpoints, one instance and two, on 127.0.0.1.

The store (made once, outside the timed regions): the 10,000-identity store of
``bench_status.py`` (deployment ``bench``), the FAQ deployment (examples/faq.toml) applied
beside it, and a viewer with an API token.

The servers: ``create_app`` served by uvicorn, each instance its own process on its own
port, plain HTTP, no job runner, access log off (what ``ccapki serve --no-tls`` runs). Each
also serves a bare FastAPI route ``GET /bench/hello`` (``{"ok": true}``: no auth, no store,
the same middleware): the **baseline**, measured in the same run on the same server, so the
figures read as "this endpoint costs X hello-requests".

The load generator: an httpx async loop in this process, ``-c`` requests in flight at once
(bounded), a fixed number of requests per endpoint, spread round-robin over the instances;
each request's latency is measured from send to the last byte of the body. Printed per
endpoint and per setup: requests/s, p50 and p99 latency (ms), and the ratio two instances /
one (requests/s).

Goals (issue 13): inventory (``GET /api/v1/deployments/bench/identities``, 10,000
identities: its first page, of the default 100, by expiry) p99 <= 50 ms; trust check of
the FAQ deployment (``GET /api/v1/deployments/faq-campus/trust/check``) p99 <= 100 ms; two
instances >= 1.6x one. Status and trust check are kept by each instance per store revision
and minute (see ``ccapki.service.api``): after the warm-up they measure a kept answer (the
work in process is the floor of a computed one). The machine's cores bound the last one:
the load generator, and both servers, share them (``os.cpu_count()`` is printed).

    .venv/bin/python benchmarks/bench_service.py [-n 10000] [--quick] [-c 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
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


@dataclass(frozen=True)
class Result:
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int


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
        f"  {label:<22}{r.rate:>9.1f}{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}"
        f"{base.rate / r.rate:>9.1f}{r.errors:>8}  {goal}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=10_000, help="identities (default 10,000)")
    ap.add_argument("-c", type=int, default=8, help="requests in flight, throughput (default 8)")
    ap.add_argument("--quick", action="store_true", help="2,000 identities, fewer requests")
    args = ap.parse_args(argv)
    n = 2_000 if args.quick else args.n
    scale = 0.25 if args.quick else 1.0
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
        latency: dict[str, Result] = {}
        rates: dict[tuple[str, int], Result] = {}
        with servers(home, 1) as urls:
            for ep in endpoints:  # one request at a time: the latency of each
                latency[ep.label] = asyncio.run(
                    _load(urls, ep.path, headers, max(20, ep.requests // 2), 1)
                )
            for ep in endpoints:
                rates[ep.label, 1] = asyncio.run(_load(urls, ep.path, headers, ep.requests, args.c))
        with servers(home, 2) as urls:
            for ep in endpoints:
                rates[ep.label, 2] = asyncio.run(_load(urls, ep.path, headers, ep.requests, args.c))
    head = f"  {'endpoint':<22}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'x hello':>9}{'errors':>8}"
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
        print(
            f"throughput: {count} instance{'s' if count > 1 else ''}, {args.c} requests in flight"
        )
        print(head)
        for ep in endpoints:
            print(_row(ep.label, rates[ep.label, count], rates[endpoints[0].label, count]))
    print()
    print("two instances / one (requests/s)   goal >= 1.6x")
    for ep in endpoints:
        ratio = rates[ep.label, 2].rate / rates[ep.label, 1].rate
        print(f"  {ep.label:<22}{ratio:>8.2f}x")
    errors = any(r.errors for r in [*latency.values(), *rates.values()])
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
