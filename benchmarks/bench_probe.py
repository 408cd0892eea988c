"""Probe benchmark: ``ccapki probe`` over 1,000 loopback endpoints (issue 12).

    .venv/bin/python benchmarks/bench_probe.py [--endpoints 1000] [--silent 100]
        [--refused 50] [--timeout 3] [--concurrency 256] [--sample 20] [--quick] [--json]

A generated deployment (a CAM and enough standalone CAS, four endpoints each: control,
agent, web-login, gui) is applied to a fresh key-file store; its file names one real
endpoint per appliance and kind on 127.0.1.x .. 127.0.4.x (ports 8443-8446). A server
process (its own interpreter, on the other core) serves them: each healthy endpoint TLS with
its identity's certificate and key from the store, ``--silent`` of them accept and never
answer, ``--refused`` have nothing listening. Spread at random (fixed seed).

1. The whole estate, as the command runs it: ``ccapki probe --json`` (a subprocess, from
   start to exit; the first run, then the next, which starts with the endpoints that were
   unreachable) and :func:`~ccapki.lifecycle.probing.probe_deployment` in process. Goal: it
   ends within ``--timeout`` + 2 s. A silent endpoint steps aside after a second
   (``PARK_AFTER``), but the last endpoints still start only once the ones before them are
   done: a run takes about its timeout plus (endpoints - concurrency) / handshake rate.
2. The healthy endpoints only, rate against raw asyncio TLS handshakes
   (``asyncio.open_connection`` with an unverified ``SSLContext``, read the peer
   certificate, abort the connection: no TLS shutdown round trip; same concurrency, same
   endpoints), alternating rounds, best of
   each: ``observe_many`` (the prober: one handshake, the chain, protocol, timing) and
   ``probe_deployment`` (plus classifying and keeping every result in the store). Goal:
   ratio >= 0.7.
3. Peak memory of a whole run (``tracemalloc`` peak of the Python heap, and the process's
   peak RSS from ``resource.getrusage``).
4. ``sslscan`` (when installed) on ``--sample`` healthy endpoints, one after another as it
   scans, in its quickest mode (protocols and certificate: no cipher suites, groups,
   renegotiation, compression, fallback or heartbleed checks), against ccapki on the same
   endpoints, one at a time and at ``--concurrency``; and whether both saw the same
   certificate subject.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import multiprocessing as mp
import os
import random
import re
import resource
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from ccapki.lab import LabStatus
from ccapki.lifecycle.probing import probe_deployment
from ccapki.lifecycle.verify import real_endpoints_status
from ccapki.probe import ProbeTarget, observe_many
from ccapki.probe.tls import server_context
from ccapki.store.session import Store
from ccapki.topology.loader import load_deployment

REPO = Path(__file__).resolve().parents[1]
CCAPKI = REPO / ".venv" / "bin" / "ccapki"
CAS_KINDS = ("control", "agent", "web-login", "gui")
ROUNDS = 3
PEM = serialization.Encoding.PEM


# ---------------------------------------------------------------------------- the estate


def deployment_text(n_endpoints: int) -> tuple[str, list[tuple[str, str, str, int]]]:
    """A deployment file with ``n_endpoints`` real endpoints, and them as
    (appliance, kind, host, port)."""
    eps: list[tuple[str, str, str, int]] = []
    blocks: list[str] = []
    i = 0
    while len(eps) < n_endpoints:
        name = "cam" if i == 0 else f"cas{i:04d}"
        host = f"127.0.{1 + i // 250}.{1 + i % 250}"
        kinds = ("control", "gui") if i == 0 else CAS_KINDS
        kinds = kinds[: n_endpoints - len(eps)]
        mine = {k: 8443 + CAS_KINDS.index(k) for k in kinds}
        eps += [(name, k, host, p) for k, p in mine.items()]
        inline = ", ".join(f'{k} = "{host}:{p}"' for k, p in mine.items())
        body = (
            f'name = "{name}"\nhostname = "{name}.bench.example"\n'
            f'ip = "10.{i // 250}.{i % 250}.1"\nendpoints = {{ {inline} }}\n'
        )
        blocks.append(("[cam]\n" if i == 0 else "[[cas]]\n") + body)
        i += 1
    head = (
        '[deployment]\nname = "bench"\nrelease = "4.8.0"\norganization = "Bench"\n'
        'source = "internal"\nkey = "ecdsa-p256"\n\n'
    )
    return head + "\n".join(blocks), eps


def materials(home: Path) -> dict[str, tuple[bytes, bytes]]:
    """appliance (= identity) -> (chain PEM, key PEM) from the store."""
    out: dict[str, tuple[bytes, bytes]] = {}
    with Store.open(home) as store:
        for name, ident in store.identities.current().items():
            key = store.keys.private_key(ident.spki)
            key_pem = key.private_bytes(
                PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            chain = b"".join(c.public_bytes(PEM) for c in (ident.certificate, *ident.chain))
            out[name] = (chain, key_pem)
    return out


# ---------------------------------------------------------------------------- the server


def serve(
    plan: list[tuple[str, str, int, str]],
    material: dict[str, tuple[bytes, bytes]],
    conn: Connection,
) -> None:
    """The server process: ``plan`` is (appliance, host, port, mode) with mode tls|silent."""
    asyncio.run(_serve(plan, material, conn))


async def _serve(
    plan: list[tuple[str, str, int, str]],
    material: dict[str, tuple[bytes, bytes]],
    conn: Connection,
) -> None:
    contexts = {name: server_context(c, k) for name, (c, k) in material.items()}

    async def drain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while await reader.read(65536):
                pass
        writer.close()

    servers = []
    try:
        for name, host, port, mode in plan:
            ctx = contexts[name] if mode == "tls" else None
            servers.append(await asyncio.start_server(drain, host, port, ssl=ctx, backlog=512))
    except OSError as exc:
        conn.send(f"cannot listen: {exc}")
        return
    conn.send("ready")
    await asyncio.Event().wait()


# ---------------------------------------------------------------------------- the clients


async def raw_rate(addrs: list[tuple[str, int]], concurrency: int) -> tuple[float, float, int]:
    """(handshakes/s, client CPU s per handshake, certificates seen): bare asyncio TLS."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sem = asyncio.Semaphore(concurrency)
    seen = 0

    async def one(host: str, port: int) -> None:
        nonlocal seen
        async with sem:
            _, w = await asyncio.open_connection(host, port, ssl=ctx)
            if w.get_extra_info("ssl_object").getpeercert(binary_form=True):
                seen += 1
            w.transport.abort()  # no TLS shutdown round trip: the handshake alone

    c0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(h, p) for h, p in addrs))
    took = time.perf_counter() - t0
    return len(addrs) / took, (time.process_time() - c0) / len(addrs), seen


async def observe_rate(targets: list[ProbeTarget], concurrency: int) -> tuple[float, float, int]:
    """(handshakes/s, client CPU s per handshake, chains seen): ``observe_many``."""
    c0, t0 = time.process_time(), time.perf_counter()
    results = await observe_many(targets, concurrency=concurrency)
    took = time.perf_counter() - t0
    n = len(targets)
    return n / took, (time.process_time() - c0) / n, sum(1 for r in results if r.ok)


def sslscan_sample(addrs: list[tuple[str, int]], timeout: float) -> tuple[float, list[str]]:
    """(seconds, the subject sslscan reports per endpoint) for a sequential quick scan."""
    subjects: list[str] = []
    t0 = time.perf_counter()
    for host, port in addrs:
        out = subprocess.run(
            [
                "sslscan",
                "--no-colour",
                "--no-ciphersuites",
                "--no-groups",
                "--no-renegotiation",
                "--no-compression",
                "--no-fallback",
                "--no-heartbleed",
                f"--timeout={max(1, round(timeout))}",
                f"{host}:{port}",
            ],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        m = re.search(r"^Subject:\s*(\S+)", out, re.MULTILINE)
        subjects.append(m.group(1) if m else "")
    return time.perf_counter() - t0, subjects


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoints", type=int, default=1000)
    ap.add_argument("--silent", type=int, default=100)
    ap.add_argument("--refused", type=int, default=50)
    ap.add_argument("--timeout", type=float, default=3.0)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--sample", type=int, default=20, help="endpoints sslscan scans")
    ap.add_argument("--quick", action="store_true", help="200 endpoints, 20 silent, 10 refused")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.endpoints, args.silent, args.refused, args.sample = 200, 20, 10, 5
    out: dict[str, Any] = {}

    with tempfile.TemporaryDirectory(prefix="ccapki-bench-probe-") as tmp:
        home = Path(tmp) / "store"
        text, eps = deployment_text(args.endpoints)
        dep_file = Path(tmp) / "bench.toml"
        dep_file.write_text(text, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CCAPKI_")}
        env["CCAPKI_HOME"] = str(home)
        t0 = time.perf_counter()
        for cmd in (["init", "--key-file"], ["apply", str(dep_file)]):
            subprocess.run([str(CCAPKI), *cmd], env=env, check=True, capture_output=True)
        print(
            f"setup: {len(eps)} endpoints of {len({a for a, *_ in eps})} appliances applied "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        rng = random.Random(12)
        order = list(range(len(eps)))
        rng.shuffle(order)
        silent = set(order[: args.silent])
        refused = set(order[args.silent : args.silent + args.refused])
        plan = [
            (a, h, p, "silent" if i in silent else "tls")
            for i, (a, _k, h, p) in enumerate(eps)
            if i not in refused
        ]
        material = materials(home)
        ctx = mp.get_context("fork")
        parent, child = ctx.Pipe()
        server = ctx.Process(target=serve, args=(plan, material, child), daemon=True)
        server.start()
        try:
            said = parent.recv() if parent.poll(120) else "no answer in 120 s"
            if said != "ready":
                print(f"the server process failed: {said}", file=sys.stderr)
                return 1
            run_all(args, home, dep_file, env, eps, silent, refused, out)
        finally:
            server.terminate()
            server.join(10)
    if args.json:
        print(json.dumps(out))
    return 0


def run_all(
    args: argparse.Namespace,
    home: Path,
    dep_file: Path,
    env: dict[str, str],
    eps: list[tuple[str, str, str, int]],
    silent: set[int],
    refused: set[int],
    out: dict[str, Any],
) -> None:
    dep = load_deployment(str(dep_file))
    status = real_endpoints_status(dep)
    well = {(a, k) for i, (a, k, _h, _p) in enumerate(eps) if i not in silent | refused}
    healthy = replace(
        status, endpoints=tuple(e for e in status.endpoints if (e.appliance, e.kind) in well)
    )
    budget = args.timeout + 2
    c = args.concurrency

    # 1. the whole estate, as `ccapki probe` runs it: the first run (no history), then
    #    the next (the endpoints unreachable last time go first, as under cron or watch)
    cli = [str(CCAPKI), "probe", "--json", "--concurrency", str(c), "--timeout", str(args.timeout)]
    times: list[float] = []
    for label in ("first run", "next run"):
        t0 = time.perf_counter()
        proc = subprocess.run(cli, env=env, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - t0)
        counts = json.loads(proc.stdout)["runs"][0]["counts"]
        print(
            f"ccapki probe --json (subprocess, start to exit), {label}: {len(eps)} endpoints, "
            f"{len(silent)} silent, {len(refused)} refused, --timeout {args.timeout:g} "
            f"--concurrency {c}: {times[-1]:.2f} s (goal <= {budget:g} s: "
            f"{'met' if times[-1] <= budget else 'MISSED'}), exit {proc.returncode}, {counts}"
        )

    def whole(status: LabStatus) -> Any:
        return whole_one(home, dep, status, args.timeout, c)

    run = whole(status)
    print(
        f"probe_deployment (in process, next run), the same estate: {run.seconds:.2f} s "
        f"(goal <= {budget:g} s: {'met' if run.seconds <= budget else 'MISSED'}), {run.counts}"
    )
    out["whole"] = {
        "endpoints": len(eps),
        "silent": len(silent),
        "refused": len(refused),
        "timeout": args.timeout,
        "concurrency": c,
        "cli_first_seconds": round(times[0], 3),
        "cli_next_seconds": round(times[1], 3),
        "in_process_seconds": round(run.seconds, 3),
        "budget_seconds": budget,
        "counts": counts,
    }

    # 2. the healthy endpoints: rate against raw asyncio handshakes
    addrs = [(e.host, e.port) for e in healthy.endpoints]
    targets = [
        ProbeTarget(
            e.host,
            e.port,
            server_name=e.server_name,
            timeout=args.timeout,
            retries=1,
            verify=False,
            confirm_seconds=0,
        )
        for e in healthy.endpoints
    ]

    async def rounds() -> tuple[list[tuple[float, float, int]], list[tuple[float, float, int]]]:
        await raw_rate(addrs[:100], c)  # warm-up
        raws, obs = [], []
        for _ in range(ROUNDS):  # alternate, so machine noise hits both alike
            raws.append(await raw_rate(addrs, c))
            obs.append(await observe_rate(targets, c))
        return raws, obs

    raws, obs = asyncio.run(rounds())
    fulls = []
    for _ in range(ROUNDS):
        r = whole(healthy)
        fulls.append(len(healthy.endpoints) / r.seconds)
    raw = max(r for r, _, _ in raws)
    ob = max(o for o, _, _ in obs)
    full = max(fulls)
    raw_cpu = min(cpu for _, cpu, _ in raws)
    ob_cpu = min(cpu for _, cpu, _ in obs)
    n = len(addrs)
    print(f"healthy endpoints: {n}, concurrency {c}, best of {ROUNDS} alternating rounds:")
    print(f"  raw asyncio TLS handshakes: {raw:7.0f}/s, client CPU {raw_cpu * 1000:.2f} ms each")
    print(
        f"  observe_many (the prober):  {ob:7.0f}/s, client CPU {ob_cpu * 1000:.2f} ms each, "
        f"ratio {ob / raw:.2f} (goal >= 0.7)"
    )
    print(
        f"  probe_deployment (+ classify, store): {full:7.0f}/s, ratio {full / raw:.2f} "
        f"(chains seen: {obs[-1][2]}/{n}, raw: {raws[-1][2]}/{n})"
    )
    out["healthy"] = {
        "endpoints": n,
        "raw_per_s": round(raw, 1),
        "observe_per_s": round(ob, 1),
        "probe_deployment_per_s": round(full, 1),
        "observe_ratio": round(ob / raw, 3),
        "probe_deployment_ratio": round(full / raw, 3),
        "raw_client_cpu_ms": round(raw_cpu * 1000, 3),
        "observe_client_cpu_ms": round(ob_cpu * 1000, 3),
    }

    # 3. memory of a whole run
    tracemalloc.start()
    whole(status)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"memory, a whole run of {len(eps)} endpoints: Python heap peak {peak / 2**20:.1f} MiB "
        f"(tracemalloc); process peak RSS {rss:.0f} MiB (whole benchmark client)"
    )
    out["memory"] = {"tracemalloc_peak_mib": round(peak / 2**20, 2), "peak_rss_mib": round(rss)}

    # 4. sslscan on a sample
    if shutil.which("sslscan") is None:
        print("sslscan: not installed (apt-get install sslscan), comparison skipped")
        return
    sample = healthy.endpoints[: args.sample]
    s_addrs = [(e.host, e.port) for e in sample]
    scan_s, subjects = sslscan_sample(s_addrs, args.timeout)
    one = replace(healthy, endpoints=sample)
    seq = whole_one(home, dep, one, args.timeout, 1)
    par = whole_one(home, dep, one, args.timeout, c)
    ours = {(r.appliance, r.kind): r for r in seq.records}
    agree = sum(
        1
        for e, subj in zip(sample, subjects, strict=True)
        if subj
        and subj == f"{e.appliance}.bench.example"
        and ours[(e.appliance, e.kind)].verdict.value == "expected"
    )
    k = len(sample)
    print(
        f"sslscan 2 (quick mode: protocols + certificate) on {k} healthy endpoints, one after "
        f"another: {scan_s:.2f} s ({scan_s / k * 1000:.0f} ms each); ccapki probe_deployment "
        f"on the same: {seq.seconds:.3f} s at concurrency 1 ({seq.seconds / k * 1000:.1f} ms "
        f"each), {par.seconds:.3f} s at {c}; same certificate subject seen: {agree}/{k}"
    )
    out["sslscan"] = {
        "sample": k,
        "sslscan_seconds": round(scan_s, 3),
        "ccapki_seconds_concurrency_1": round(seq.seconds, 3),
        "ccapki_seconds_concurrent": round(par.seconds, 3),
        "same_subject": agree,
    }


def whole_one(home: Path, dep: Any, status: LabStatus, timeout: float, concurrency: int) -> Any:
    """One ``probe_deployment`` run over ``status``'s endpoints (the store opened for it)."""
    with Store.open(home) as store:
        return probe_deployment(
            store,
            dep,
            status,
            now=dt.datetime.now(dt.UTC),
            concurrency=concurrency,
            timeout=timeout,
            retries=1,
        )


if __name__ == "__main__":
    sys.exit(main())
