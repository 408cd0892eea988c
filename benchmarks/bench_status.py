"""Benchmark: ``ccapki status`` on a store of N identities (default 10,000), issue 12.

The store (made once, outside the timed regions): ``apply_plan`` of a small deployment (the
internal root and CA, real certificates, trust stores), then N-1 more identities inserted as
certificate rows beside them (each its own certificate, one key signing them all, with an
expiry spread over a year: ``status`` reads columns and checks each PEM's hash, never
parses one), every appliance's trust store (the root), one
probe result per appliance (``store.probes.add``), and the deployment file of all N
identities kept as applied (``status`` parses it for warn_days, the release and the
appliances).

What is timed (median of R runs each, after one warm-up):

1. **estate_status**: a fresh ``Store.open`` + :func:`ccapki.lifecycle.status.estate_status`
   (what ``ccapki status`` runs): parse the stored deployment file, read the columns, the
   trust entries and the last probes, judge every item. Goal (issue 12): **<= 0.5 s**.
2. **raw sqlite3**: the plainest reading of the same rows with the ``sqlite3`` module (the
   current version of each identity, the live trust entries, the last probe of each
   endpoint) and nothing else: no deployment file, no judging. Printed: ccapki / raw.
3. **the command**: ``ccapki status`` (the table, piped), ``--json`` and ``--nagios`` as
   processes of the installed ``.venv/bin/ccapki`` with their bytecode cached (as an installed
   ccapki has it), against ``python -c "import cryptography.x509"`` (a Python start-up that
   loads the library), time ratio. Goal (issue 12): **<= 0.5 s**.

    .venv/bin/python benchmarks/bench_status.py [-n 10000] [--quick] [--runs 7] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import os
import pstats
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import insert, select

from ccapki.lifecycle import status
from ccapki.lifecycle.apply import apply_plan
from ccapki.lifecycle.status import estate_status, settings_json
from ccapki.store import Store
from ccapki.store import schema as t
from ccapki.store.records import ProbeRecord, ProbeVerdict
from ccapki.topology.loader import parse_deployment

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
CCAPKI = Path(sys.executable).parent / "ccapki"


def deployment_text(n: int) -> str:
    """A deployment of one CAM and ``n`` standalone CAS (internal CA), named "bench"."""
    lines = [
        "[deployment]",
        'name = "bench"',
        'release = "4.9.1"',
        'organization = "Bench Org"',
        'source = "internal"',
        "",
        "[cam]",
        'name = "cam"',
        'hostname = "cam.bench.example"',
        'ip = "10.255.255.1"',
    ]
    for i in range(n):
        lines += [
            "[[cas]]",
            f'name = "cas{i}"',
            f'hostname = "cas{i}.bench.example"',
            f'ip = "10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256 + 1 if i % 256 < 255 else 1}"'
            if i % 256 < 255
            else f'ip = "11.{i // 65536 % 256}.{i // 256 % 256}.1"',
        ]
    return "\n".join(lines) + "\n"


def build(home: Path, n: int) -> None:
    """The store of ``n`` identities described in the module docstring."""
    full = deployment_text(n - 1)
    small = parse_deployment(deployment_text(1), "<bench>")
    with Store.init(home, key_file=True, clock=lambda: NOW) as store:
        result = apply_plan(store, small, NOW)  # cam, cas0: real certificates, CAs, trust
        assert len(result.issued) == 2
        with store.scoped("bench"), store.transaction() as c:
            row = dict(
                c.execute(select(t.certificates).where(t.certificates.c.identity == "cas0"))
                .one()
                ._mapping
            )
            root = c.execute(select(t.trust_entries).limit(1)).one()._mapping
            row.pop("id")
            rows = []
            # each row its own real certificate (status checks each newest row's PEM
            # against its fingerprint): one key signs them all, for speed
            key = ec.generate_private_key(ec.SECP256R1())
            for i in range(1, n - 1):
                name = f"cas{i}"
                not_after = NOW + dt.timedelta(days=i % 400 - 5, hours=i % 24)
                subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
                cert = (
                    x509.CertificateBuilder()
                    .subject_name(subject)
                    .issuer_name(subject)
                    .public_key(key.public_key())
                    .serial_number(x509.random_serial_number())
                    .not_valid_before(NOW - dt.timedelta(days=400))
                    .not_valid_after(not_after)
                    .sign(key, hashes.SHA256())
                )
                rows.append(
                    {
                        **row,
                        "identity": name,
                        "fingerprint": cert.fingerprint(hashes.SHA256()).hex(),
                        "pem": cert.public_bytes(serialization.Encoding.PEM).decode(),
                        "not_after": not_after,
                    }
                )
            c.execute(insert(t.certificates), rows)
            have = {r[0] for r in c.execute(select(t.trust_entries.c.appliance))}
            trust = [
                {
                    "appliance": f"cas{i}",
                    "fingerprint": root["fingerprint"],
                    "label": root["label"],
                    "pem": root["pem"],
                    "added_at": NOW,
                    "deployment": "bench",
                    "not_after": root["not_after"],
                }
                for i in range(n - 1)
                if f"cas{i}" not in have
            ]
            c.execute(insert(t.trust_entries), trust)
            # kept as `apply` keeps a file: with its facts (what status reads of it)
            full_dep = parse_deployment(full, "bench.toml")
            store.deployments.record("bench", full, "bench.toml", settings_json(full_dep))
            facts = store.identities.current_facts()
            assert len(facts) == n, len(facts)
            store.probes.add(
                [
                    ProbeRecord(
                        f.identity,
                        "control",
                        f"127.0.0.1:{1024 + k % 60000}",
                        NOW,
                        ProbeVerdict.EXPECTED,
                        leaf_sha256=f.fingerprint,
                        identity=f.identity,
                        version=f.version,
                        latency_ms=3,
                    )
                    for k, f in enumerate(facts)
                ]
            )


def _cpu() -> float:
    """CPU seconds of this process and its finished children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def median_time(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds of ``fn`` (after one warm-up run). CPU
    seconds are disturbed much less by other jobs on a shared machine."""
    fn()  # warm-up: imports, file cache
    walls, cpus = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), _cpu()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(_cpu() - c0)
    return statistics.median(walls), statistics.median(cpus)


def raw_read(db: Path) -> int:
    """The same rows with sqlite3 alone: current identities, live trust entries, the last
    probe of each endpoint."""
    con = sqlite3.connect(db)
    try:
        rows = con.execute(
            "SELECT c.identity, c.version, c.fingerprint, c.not_after, c.source "
            "FROM certificates c JOIN (SELECT deployment, identity, max(version) v "
            "FROM certificates WHERE deployment = 'bench' GROUP BY deployment, identity) l "
            "ON c.deployment = l.deployment AND c.identity = l.identity AND c.version = l.v"
        ).fetchall()
        trust = con.execute(
            "SELECT appliance, label, fingerprint FROM trust_entries "
            "WHERE deployment = 'bench' AND removed_at IS NULL"
        ).fetchall()
        probes = con.execute(
            "SELECT p.* FROM probe_results p JOIN (SELECT max(id) id FROM probe_results "
            "WHERE deployment = 'bench' GROUP BY appliance, kind) l ON p.id = l.id"
        ).fetchall()
        return len(rows) + len(trust) + len(probes)
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=10_000, help="identities (default 10,000)")
    ap.add_argument("--quick", action="store_true", help="2,000 identities, 3 runs")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--profile", action="store_true", help="cProfile of one estate_status")
    args = ap.parse_args(argv)
    n, runs = (2_000, 3) if args.quick else (args.n, args.runs)

    with tempfile.TemporaryDirectory(prefix="ccapki-bench-") as tmp:
        home = Path(tmp) / "store"
        t0 = time.perf_counter()
        build(home, n)
        print(f"store of {n:,} identities made in {time.perf_counter() - t0:.1f} s")

        def ours() -> int:
            status._SETTINGS.clear()  # as a fresh `ccapki status`: the file read again
            with Store.open(home) as store:
                return len(estate_status(store, now=NOW).items)

        items = ours()
        with Store.open(home) as store:  # every row is its own certificate: none damaged
            assert estate_status(store, now=NOW).counts()["damaged"] == 0
        raw_n = raw_read(home / "ccapki.db")
        raw_before = median_time(lambda: raw_read(home / "ccapki.db"), runs)
        ccapki_s, ccapki_cpu = median_time(ours, runs)
        raw_after = median_time(lambda: raw_read(home / "ccapki.db"), runs)
        raw_s = (raw_before[0] + raw_after[0]) / 2
        raw_cpu = (raw_before[1] + raw_after[1]) / 2
        print(f"estate_status: {items:,} items (identities, CAs, trust roots), median of {runs}")
        print("                               wall        CPU")
        print(
            f"  ccapki estate_status     {ccapki_s * 1000:8.1f} ms {ccapki_cpu * 1000:8.1f} ms"
            "   goal <= 500 ms"
        )
        print(
            f"  raw sqlite3              {raw_s * 1000:8.1f} ms {raw_cpu * 1000:8.1f} ms"
            f"   ({raw_n:,} rows)"
        )
        print(f"  ratio ccapki / raw       {ccapki_s / raw_s:8.1f}x {ccapki_cpu / raw_cpu:8.1f}x")

        if args.profile:
            prof = cProfile.Profile()
            status._SETTINGS.clear()
            with Store.open(home) as store:
                prof.enable()
                estate_status(store, now=NOW)
                prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(25)

        env = {k: v for k, v in os.environ.items() if not k.startswith("CCAPKI_")}
        env.update(CCAPKI_HOME=str(home), CCAPKI_NOW=NOW.isoformat())
        # compiled bytecode cached, as in an installed ccapki (see bench_commands.py)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")

        def command(*args: str) -> Callable[[], None]:
            def run() -> None:
                proc = subprocess.run(
                    [str(CCAPKI), "status", *args], env=env, capture_output=True, check=False
                )
                if proc.returncode not in (0, 1, 2):
                    raise SystemExit(f"ccapki status exited {proc.returncode}: {proc.stderr!r}")

            return run

        base_cmd = [sys.executable, "-c", "import cryptography.x509"]

        def baseline() -> None:
            subprocess.run(base_cmd, check=True, capture_output=True, env=env)

        command()()  # the bytecode cache filled
        base_before = median_time(baseline, runs)
        measured = [
            (f"ccapki status {' '.join(a)}".strip(), median_time(command(*a), runs))
            for a in ((), ("--json",), ("--nagios",))
        ]
        base_after = median_time(baseline, runs)
        base_s = (base_before[0] + base_after[0]) / 2
        base_cpu = (base_before[1] + base_after[1]) / 2
        print(f"the command, median of {runs} processes      wall        CPU")
        for label, (cmd_s, cmd_cpu) in measured:
            print(f"  {label:<34}{cmd_s * 1000:8.1f} ms {cmd_cpu * 1000:8.1f} ms   goal <= 500 ms")
        print(
            f"  python -c 'import cryptography.x509' {base_s * 1000:7.1f} ms "
            f"{base_cpu * 1000:8.1f} ms"
        )
        for label, (cmd_s, cmd_cpu) in measured:
            print(f"  ratio {label:<28}{cmd_s / base_s:8.1f}x {cmd_cpu / base_cpu:8.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
