"""Lab benchmark: start-up time and probe handshake rate.

    .venv/bin/python benchmarks/bench_lab.py [--handshakes 3000] [--json]

1. Lab start-up (``Lab.start``: contexts built, every endpoint bound, every link run once)
   for generated deployments of 5, 10 (the FAQ example: 1 CAM pair, 3 CAS pairs, 2
   standalone CAS) and 200 appliances; plus ``start_background`` (the ``ccapki lab up``
   path, a separate daemon process) for the FAQ example.
2. ``probe_many`` handshakes/s against the raw asyncio TLS handshake rate
   (``asyncio.open_connection(ssl=...)`` with a prebuilt context, same concurrency, same
   endpoints), measured in the same run against a lab running in its own daemon process.
   Goal: ratio >= 0.7.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import ipaddress
import json
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from ccapki.lab import ApplianceSpec, EndpointMaterial, Lab, LabSpec
from ccapki.lab.daemon import start_background, stop_background
from ccapki.pki.issue import (
    IdentityRequest,
    Issuer,
    issue_identity,
    make_intermediate_ca,
    make_root_ca,
)
from ccapki.pki.keys import KeyType, generate_key
from ccapki.probe import ProbeTarget, probe_many

NOW = dt.datetime.now(dt.UTC)
CONCURRENCY = 64
ROUNDS = 3


def _pem(c: object) -> bytes:
    return c.public_bytes(serialization.Encoding.PEM)  # type: ignore[attr-defined,no-any-return]


def make_spec(cas_pairs: int, standalone: int, *, cam_pair: bool) -> LabSpec:
    rk = generate_key(KeyType.ECDSA_P256)
    root = make_root_ca("Bench Root CA", rk, now=NOW, days=3650)
    ik = generate_key(KeyType.ECDSA_P256)
    inter = make_intermediate_ca(
        Issuer(root, rk), "Bench Issuing CA", ik.public_key(), now=NOW, days=1825
    )
    issuer = Issuer(inter, ik)
    trust = _pem(root)

    def material(*names: str) -> EndpointMaterial:
        key = generate_key(KeyType.ECDSA_P256)
        req = IdentityRequest(
            names[0], dns_names=names, ip_addresses=(ipaddress.ip_address("127.0.0.1"),)
        )
        cert = issue_identity(req, key.public_key(), now=NOW, days=365, issuer=issuer)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return EndpointMaterial(_pem(cert) + _pem(inter), key_pem, trust)

    apps: list[ApplianceSpec] = []
    if cam_pair:
        m = material("cam.bench", "cam-a.bench", "cam-b.bench")
        apps += [
            ApplianceSpec("cam-a", "cam", m, hostname="cam-a.bench", pair="cam", ha_role="primary"),
            ApplianceSpec(
                "cam-b", "cam", m, hostname="cam-b.bench", pair="cam", ha_role="secondary"
            ),
        ]
    else:
        apps.append(ApplianceSpec("cam", "cam", material("cam.bench"), hostname="cam.bench"))
    for i in range(cas_pairs):
        m = material(f"cas{i}.bench", f"cas{i}a.bench", f"cas{i}b.bench")
        apps += [
            ApplianceSpec(
                f"cas{i}a", "cas", m, hostname=f"cas{i}a.bench", pair=f"cas{i}", ha_role="primary"
            ),
            ApplianceSpec(
                f"cas{i}b", "cas", m, hostname=f"cas{i}b.bench", pair=f"cas{i}", ha_role="secondary"
            ),
        ]
    for i in range(standalone):
        apps.append(
            ApplianceSpec(
                f"cas-s{i}", "cas", material(f"cas-s{i}.bench"), hostname=f"cas-s{i}.bench"
            )
        )
    return LabSpec(tuple(apps), link_interval=3600, link_timeout=10)


async def time_start(spec: LabSpec) -> tuple[float, float, int, int, bool]:
    """(seconds until every endpoint serves, seconds until every link was checked, ...)."""
    lab = Lab(spec)
    t0 = time.perf_counter()
    await lab.start(check_links=False)
    serving = time.perf_counter() - t0
    try:
        while lab.rounds == 0:
            await asyncio.sleep(0.005)
        checked = time.perf_counter() - t0
        st = lab.status()
        return serving, checked, len(st.endpoints), len(st.links), st.all_ok
    finally:
        await lab.stop()


async def raw_rate(addrs: list[tuple[str, int]], trust: bytes, n: int) -> tuple[float, float]:
    """(handshakes/s, client CPU seconds per handshake) for bare asyncio TLS connects."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=trust.decode())
    ctx.check_hostname = False
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        host, port = addrs[i % len(addrs)]
        async with sem:
            _, w = await asyncio.open_connection(host, port, ssl=ctx)
            w.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await w.wait_closed()

    c0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.perf_counter() - t0), (time.process_time() - c0) / n


async def probe_rate(
    addrs: list[tuple[str, int]], trust: bytes, n: int
) -> tuple[float, float, int]:
    """(handshakes/s, client CPU seconds per handshake, probes ok) for probe_many."""
    targets = [
        ProbeTarget(host, port, None, trust, purpose="gui", confirm_seconds=0)
        for host, port in (addrs[i % len(addrs)] for i in range(n))
    ]
    c0, t0 = time.process_time(), time.perf_counter()
    results = await probe_many(targets, concurrency=CONCURRENCY)
    rate = n / (time.perf_counter() - t0)
    return rate, (time.process_time() - c0) / n, sum(1 for r in results if r.ok)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--handshakes", type=int, default=1500)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    out: dict[str, object] = {}

    sizes = {
        "5 appliances (CAM + CAS pair + 2 CAS)": make_spec(1, 2, cam_pair=False),
        "10 appliances (FAQ example)": make_spec(3, 2, cam_pair=True),
        "200 appliances (CAM pair + 99 CAS pairs)": make_spec(99, 0, cam_pair=True),
    }
    for label, spec in sizes.items():
        serving, checked, eps, links, ok = asyncio.run(time_start(spec))
        out[f"start: {label}"] = {
            "serving_s": round(serving, 3),
            "links_checked_s": round(checked, 3),
            "endpoints": eps,
            "links": links,
            "all_links_up": ok,
        }
        print(
            f"lab start, {label}: every endpoint serving after {serving:.3f} s, every link "
            f"checked after {checked:.3f} s ({eps} endpoints, {links} mutual-TLS links, "
            f"all up: {ok})"
        )

    faq = sizes["10 appliances (FAQ example)"]
    with tempfile.TemporaryDirectory() as tmp:
        state_dir = Path(tmp) / "lab"
        t0 = time.perf_counter()
        state = start_background(state_dir, spec=faq)
        up = time.perf_counter() - t0
        try:
            print(f"lab up (daemon process, FAQ example): {up:.3f} s")
            out["daemon up: FAQ example"] = round(up, 3)
            assert state.status is not None
            addrs = [(e.host, e.port) for e in state.status.endpoints if e.kind == "gui"]
            trust = faq.appliances[0].identity.trust_pem
            n = args.handshakes

            async def rounds() -> tuple[list[tuple[float, float]], list[tuple[float, float]], int]:
                await raw_rate(addrs, trust, 200)  # warm-up
                raws, probes, ok = [], [], 0
                for _ in range(ROUNDS):  # alternate, so machine noise hits both alike
                    raws.append(await raw_rate(addrs, trust, n))
                    prb, cpu, ok = await probe_rate(addrs, trust, n)
                    probes.append((prb, cpu))
                return raws, probes, ok

            raws, probes, ok = asyncio.run(rounds())
        finally:
            stop_background(state_dir)
    raw = statistics.median(r for r, _ in raws)
    prb = statistics.median(p for p, _ in probes)
    raw_cpu = statistics.median(c for _, c in raws)
    prb_cpu = statistics.median(c for _, c in probes)
    ratio = prb / raw
    out["handshakes"] = {
        "n_per_round": n,
        "rounds": ROUNDS,
        "raw_per_s": round(raw, 1),
        "probe_per_s": round(prb, 1),
        "ratio": round(ratio, 3),
        "probes_ok_last_round": ok,
        "raw_client_cpu_ms": round(raw_cpu * 1000, 3),
        "probe_client_cpu_ms": round(prb_cpu * 1000, 3),
    }
    print(
        f"handshakes against the lab daemon, {ROUNDS} alternating rounds of {n}, "
        f"concurrency {CONCURRENCY} (medians):"
    )
    print(f"  raw asyncio TLS:  {raw:.0f}/s, client CPU {raw_cpu * 1000:.2f} ms/handshake")
    print(
        f"  probe_many:       {prb:.0f}/s, client CPU {prb_cpu * 1000:.2f} ms/handshake "
        f"({ok}/{n} ok)"
    )
    print(
        f"  ratio: {ratio:.2f} (goal >= 0.7); client CPU ratio raw/probe: {raw_cpu / prb_cpu:.2f}"
    )
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
