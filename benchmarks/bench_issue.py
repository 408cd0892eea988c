"""Benchmark: issuing identities end to end into a fresh SQLite store, against raw cryptography.

What it measures (foundation issue, "Performance"; benchmarks/README.md explains the output):

1. **raw**: in memory with cryptography alone, per identity: a P-256 key, a CertificateBuilder
   with the same extensions ccapki puts on an appliance identity (SKI, AKI, critical
   basicConstraints CA:FALSE, critical keyUsage, SAN, EKU serverAuth+clientAuth), signed by a
   P-256 CA, then PEM of the certificate and PKCS#8 PEM of the key.
2. **apply_plan**: the real ``ccapki.lifecycle.apply.apply_plan`` on a generated deployment
   of the CAM + N-1 standalone CAS into a fresh store: plan, pending actions, key generation,
   issuing by the internal CA, each key sealed with AES-256-GCM, certificates, sealed keys
   and audit rows persisted in SQLite, trust stores filled, all in one transaction.
3. **issue path**: ``issue_one`` + ``store.identities.add`` (what apply_plan calls to issue and
   persist), in batches of 1,000.
4. **the command**: ``ccapki apply FILE`` as a process into a fresh store (parsing and all it
   says included).

It prints identities/s (wall clock, and per CPU second of this process) and the ratios to
raw (issue 9's goals: >= 1.0x in wall time on 2 cores, >= 0.6x per CPU second), then the
cold start of ``ccapki --version`` against
``python -c "import cryptography.x509"`` (median of 15 runs, goal within 1.5x).

    .venv/bin/python benchmarks/bench_issue.py [-n 10000] [--quick] [--profile] [--runs 15]
        [--rounds 3]
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import ipaddress
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ccapki.lifecycle.apply import apply_plan, ensure_issuers, issue_one, signer_for
from ccapki.store import Store
from ccapki.topology.loader import parse_deployment
from ccapki.topology.plan import make_plan

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
REPO = Path(__file__).resolve().parents[1]


def deployment_text(n: int) -> str:
    """A deployment of one CAM and ``n`` standalone CAS, all from the internal CA."""
    lines = [
        "[deployment]",
        'name = "bench"',
        'release = "4.9.1"',
        'organization = "Bench Org"',
        'source = "internal"',
        'key = "ecdsa-p256"',
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
            f'ip = "10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256 or 1}"'
            if i % 256
            else f'ip = "10.{(i // 65536) % 256 + 100}.{i // 256 % 256}.1"',
        ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Timing:
    """A timed run: wall-clock seconds and CPU seconds (this process and its worker
    processes: apply_plan issues on every core in bulk) for ``n`` identities."""

    n: int
    wall: float
    cpu: float
    #: of ``cpu``, this process's own (the rest: its worker processes')
    own_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.n / self.wall

    @property
    def cpu_rate(self) -> float:
        return self.n / self.cpu


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system


class _Clock:
    def __enter__(self) -> _Clock:
        self.wall0, self.cpu0, self.own0 = time.perf_counter(), _cpu(), _own_cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = _cpu() - self.cpu0
        self.own = _own_cpu() - self.own0


def raw_issue(n: int) -> Timing:
    """Cryptography alone, in memory: key, builder with the same extensions, sign, PEM."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Raw Bench CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    ku = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    bc = x509.BasicConstraints(ca=False, path_length=None)
    sink = 0
    with _Clock() as clock:
        for i in range(n):
            key = ec.generate_private_key(ec.SECP256R1())
            pub = key.public_key()
            host = f"cas{i}.bench.example"
            cert = (
                x509.CertificateBuilder()
                .subject_name(
                    x509.Name(
                        [
                            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bench Org"),
                            x509.NameAttribute(NameOID.COMMON_NAME, host),
                        ]
                    )
                )
                .issuer_name(ca_name)
                .public_key(pub)
                .serial_number(x509.random_serial_number())
                .not_valid_before(NOW - dt.timedelta(minutes=5))
                .not_valid_after(NOW + dt.timedelta(days=397))
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
                .add_extension(aki, critical=False)
                .add_extension(bc, critical=True)
                .add_extension(ku, critical=True)
                .add_extension(
                    x509.SubjectAlternativeName(
                        [
                            x509.DNSName(host),
                            x509.IPAddress(
                                ipaddress.ip_address(f"10.0.{i // 256 % 256}.{i % 256}")
                            ),
                        ]
                    ),
                    critical=False,
                )
                .add_extension(eku, critical=False)
                .sign(ca_key, hashes.SHA256())
            )
            sink += len(cert.public_bytes(serialization.Encoding.PEM))
            sink += len(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
    assert sink > 0
    return Timing(n, clock.wall, clock.cpu)


def raw_on_every_core(n: int, cpus: int) -> Timing:
    """:func:`raw_issue` of ``n`` identities shared by ``cpus`` forked processes at once, as
    apply_plan shares its issuing between forked workers: the same loop, under the same
    conditions (the cores busy together, the processes' start). Wall time from the first
    fork to the last exit; CPU of the worker processes."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    share = [n // cpus + (1 if k < n % cpus else 0) for k in range(cpus)]
    with _Clock() as clock:
        procs = [ctx.Process(target=raw_issue, args=(m,)) for m in share]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
            assert proc.exitcode == 0, proc.exitcode
    return Timing(n, clock.wall, clock.cpu)


def ccapki_apply(n: int, *, profile: bool = False) -> tuple[Timing, dict[str, float]]:
    """``apply_plan`` of a deployment with ``n`` identities into a fresh store."""
    text = deployment_text(n - 1)  # the CAM plus n-1 CAS: n identities
    t0 = time.perf_counter()
    dep = parse_deployment(text, "<bench>")
    parse_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="ccapki-bench-") as tmp:
        home = Path(tmp) / "store"
        prof = cProfile.Profile() if profile else None
        with Store.init(home, key_file=True, clock=lambda: NOW) as store:
            with _Clock() as clock:
                if prof:
                    prof.enable()
                result = apply_plan(store, dep, NOW)
                if prof:
                    prof.disable()
            assert len(result.issued) == n, (len(result.issued), n)
            assert store.count("certificates") == n
            assert store.count("keys") == n + 2  # identities + internal root and CA
            with _Clock() as again:  # idempotent: the second run issues nothing
                assert apply_plan(store, dep, NOW).issued == ()
            assert store.count("certificates") == n
        # as a second `ccapki apply` runs: a fresh store object, nothing parsed yet
        with Store.open(home, clock=lambda: NOW) as store, _Clock() as fresh:
            assert apply_plan(store, dep, NOW).issued == ()
        command_s = apply_command(home, text)
        db_mb = (home / "ccapki.db").stat().st_size / 1e6
        floor = sqlite_floor(home / "ccapki.db", Path(tmp) / "floor.db")
    if prof:
        stats = pstats.Stats(prof)
        stats.sort_stats("cumulative").print_stats(25)
        stats.sort_stats("tottime").print_stats(15)
    return Timing(n, clock.wall, clock.cpu, clock.own), {
        "parse_s": parse_s,
        "db_mb": db_mb,
        "again_s": again.wall,
        "again_fresh_s": fresh.wall,
        "command_s": command_s,
        "floor_cpu": floor.cpu,
        "floor_rows": floor.n,
    }


#: The tables a bulk apply writes rows into, per identity.
_BULK_TABLES = ("keys", "certificates", "audit", "trust_entries")


def sqlite_floor(source: Path, target: Path, batch: int = 200) -> Timing:
    """The same rows the apply wrote (keys, certificates, audit, trust entries), written
    again with the plain ``sqlite3`` module into an empty database of the same schema and
    pragmas (WAL, synchronous=NORMAL, 16 KiB pages), ``batch`` identities a transaction as
    apply commits them: what persisting costs with this schema and no ccapki code at all.
    ``Timing.n`` is the number of rows."""
    import sqlite3

    src = sqlite3.connect(source)
    schema = [
        sql
        for (sql,) in src.execute(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND type IN ('table', 'index')"
            " ORDER BY type = 'index'"
        )
    ]
    tables = {}
    for name in _BULK_TABLES:
        cols = [r[1] for r in src.execute(f"PRAGMA table_info({name})")]
        rows = src.execute(f"SELECT {', '.join(cols)} FROM {name} ORDER BY id").fetchall()
        tables[name] = (cols, rows)
    src.close()
    dst = sqlite3.connect(target, isolation_level=None)
    dst.execute("PRAGMA page_size=16384")
    dst.execute("PRAGMA journal_mode=WAL")
    dst.execute("PRAGMA synchronous=NORMAL")
    for sql in schema:
        dst.execute(sql)
    # each table's rows cut in as many slices as apply commits batches
    slices = max(1, len(tables["certificates"][1]) // batch)
    rows_total = sum(len(r) for _, r in tables.values())
    with _Clock() as clock:
        for k in range(slices):
            dst.execute("BEGIN IMMEDIATE")
            for name, (cols, rows) in tables.items():
                step = -(-len(rows) // slices)
                marks = ", ".join("?" * len(cols))
                dst.executemany(
                    f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({marks})",
                    rows[k * step : (k + 1) * step],
                )
            dst.execute("COMMIT")
    dst.close()
    return Timing(rows_total, clock.wall, clock.cpu)


def apply_command(home: Path, text: str, runs: int = 3) -> float:
    """Median wall seconds of ``ccapki apply FILE`` (the command, a process) with nothing to
    do on the store in ``home``, after one warm-up run (the real clock: the certificates
    were issued at NOW, two days before it at most a year ago)."""
    exe = REPO / ".venv" / "bin" / "ccapki"
    path = home.parent / "deployment.toml"
    path.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCAPKI_")}
    env["CCAPKI_HOME"] = str(home)
    cmd = [str(exe), "apply", str(path)]
    times = []
    for i in range(runs + 1):
        t = time.perf_counter()
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        if i:
            times.append(time.perf_counter() - t)
    assert "nothing to do" in out, out
    return statistics.median(times)


def command_apply(n: int) -> Timing:
    """``ccapki apply FILE`` of a deployment of ``n`` identities into a fresh store (made
    with ``ccapki init --key-file`` first, not timed), the command as a process: reading
    and parsing the file, apply_plan, and all it says after (versions, the DNs the CAM must
    allow, the roots clients need). Wall time, and the CPU of the process and its workers."""
    exe = REPO / ".venv" / "bin" / "ccapki"
    with tempfile.TemporaryDirectory(prefix="ccapki-bench-") as tmp:
        path = Path(tmp) / "deployment.toml"
        path.write_text(deployment_text(n - 1))
        env = {k: v for k, v in os.environ.items() if not k.startswith("CCAPKI_")}
        env["CCAPKI_HOME"] = str(Path(tmp) / "store")
        subprocess.run([str(exe), "init", "--key-file"], env=env, check=True, capture_output=True)
        before = os.times()
        t = time.perf_counter()
        subprocess.run([str(exe), "apply", str(path)], env=env, check=True, capture_output=True)
        wall = time.perf_counter() - t
        after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return Timing(n, wall, cpu)


def issue_path(n: int, batch: int = 1000) -> Timing:
    """The issuing path alone: ``issue_one`` + ``store.identities.add``, in batches of ``batch``.

    The same functions ``apply_plan`` calls, without the plan comparison and the
    trust-store filling that ``apply_plan`` adds around them.
    """
    dep = parse_deployment(deployment_text(n - 1), "<bench>")
    plan = make_plan(dep)
    with (
        tempfile.TemporaryDirectory(prefix="ccapki-bench-") as tmp,
        Store.init(Path(tmp) / "store", key_file=True, clock=lambda: NOW) as store,
    ):
        jobs = [(p, signer_for(p, dep)) for p in plan.identities]
        issuers, _ = ensure_issuers(store, plan, NOW, needed={s for _, s in jobs})
        with _Clock() as clock:
            for i in range(0, len(jobs), batch):
                with store.transaction():
                    store.identities.add(
                        [issue_one(p, s, issuers, NOW) for p, s in jobs[i : i + batch]]
                    )
        assert store.count("certificates") == n
    return Timing(n, clock.wall, clock.cpu)


def cold_start(runs: int) -> tuple[float, float]:
    """Median wall time of ``ccapki --version`` and of ``python -c 'import cryptography.x509'``."""
    exe = REPO / ".venv" / "bin" / "ccapki"
    ccapki_cmd = (
        [str(exe), "--version"] if exe.exists() else [sys.executable, "-m", "ccapki", "--version"]
    )
    base_cmd = [sys.executable, "-c", "import cryptography.x509"]

    def median(cmd: list[str]) -> float:
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    median(ccapki_cmd[:1] + ccapki_cmd[1:])  # warm the file cache once
    median(base_cmd)
    return median(ccapki_cmd), median(base_cmd)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("-n", type=int, default=10_000, help="identities to issue (default 10000)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 1000 identities, 5 runs")
    ap.add_argument("--profile", action="store_true", help="cProfile the apply_plan run")
    ap.add_argument("--runs", type=int, default=15, help="cold-start runs (default 15)")
    ap.add_argument(
        "--rounds", type=int, default=3, help="rounds of raw, apply, raw (default 3; median)"
    )
    args = ap.parse_args(argv)
    n = 1000 if args.quick else args.n
    runs = 5 if args.quick else args.runs
    if args.quick:
        args.rounds = 1
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")

    print(f"bench_issue: {n} ECDSA P-256 identities, internal CA, fresh SQLite store")
    # warm up: imports and first-use caches are paid once, outside every timed region
    raw_issue(50)
    raw_on_every_core(50, 2)
    ccapki_apply(50)
    issue_path(50)

    cpus = min(os.cpu_count() or 1, 8)  # as apply_plan's pool
    # the machine's speed drifts by a fifth and more within a minute (a shared host): each
    # round brackets the apply with the raw loops (before and after, their mean) and gives
    # its own ratios; the median round's are the result
    rounds = []
    for r in range(args.rounds):
        raw_before = raw_issue(n)
        par_before = raw_on_every_core(n, cpus)
        ours, extra = ccapki_apply(n, profile=args.profile and r == 0)
        par_after = raw_on_every_core(n, cpus)
        raw_after = raw_issue(n)
        raw = Timing(
            n, (raw_before.wall + raw_after.wall) / 2, (raw_before.cpu + raw_after.cpu) / 2
        )
        par = Timing(
            n, (par_before.wall + par_after.wall) / 2, (par_before.cpu + par_after.cpu) / 2
        )
        wall_ratio, cpu_ratio = ours.rate / raw.rate, ours.cpu_rate / par.cpu_rate
        rounds.append((wall_ratio, cpu_ratio, raw, par, ours, extra, raw_before, raw_after))
        print(
            f"  round {r + 1}: apply_plan/raw {wall_ratio:.2f} in wall time, CPU {cpu_ratio:.2f}"
            f" (raw {raw.rate:.0f}/s, on every core {par.rate:.0f}/s; apply_plan "
            f"{ours.rate:.0f}/s)"
        )
    path = issue_path(n)
    by_wall = sorted(rounds, key=lambda x: x[0])
    wall_med = statistics.median(x[0] for x in rounds)
    cpu_med = statistics.median(x[1] for x in rounds)
    _, _, raw, par, ours, extra, raw_before, raw_after = by_wall[len(by_wall) // 2]
    print(f"  (the median round, by its wall-time ratio, of {len(rounds)}:)")
    print("                                                 identities/s   (per CPU second)")
    print(
        f"  raw cryptography (key + build + sign + PEM)  : {raw.rate:10.0f}   "
        f"({raw.cpu_rate:.0f}; before {raw_before.rate:.0f}, after {raw_after.rate:.0f})"
    )
    print(
        f"  the same on every core ({cpus} processes)       : {par.rate:10.0f}   "
        f"({par.cpu_rate:.0f})"
    )
    print(
        f"  ccapki apply_plan, end to end                : {ours.rate:10.0f}   "
        f"({ours.cpu_rate:.0f}; {ours.wall:.1f} s; db {extra['db_mb']:.1f} MB; parsing "
        f"the file took {extra['parse_s']:.1f} s more)"
    )
    us = 1e6 / n
    print(
        f"    (CPU per identity: {ours.own_cpu * us:.0f} us in this process (plan, sealing "
        f"the rows, SQLite, trust stores), {(ours.cpu - ours.own_cpu) * us:.0f} us in the "
        f"workers (keys, signing, facts); raw {raw.cpu * us:.0f} us alone, "
        f"{par.cpu * us:.0f} us on every core)"
    )
    floor_us = extra["floor_cpu"] * us
    best = raw.cpu / (raw.cpu + extra["floor_cpu"])
    print(
        f"    (the floor: the same {extra['floor_rows']:.0f} rows written with plain sqlite3 into "
        f"the same schema, {floor_us:.0f} us CPU per identity; raw cryptography plus that "
        f"alone would be {best:.2f}x raw per CPU second)"
    )
    fresh, again = extra["again_fresh_s"], extra["again_s"]
    print(
        f"    (apply_plan again, nothing to do: {again:.2f} s on the same store, right after "
        f"issuing (deciding in full after a bulk apply); {fresh:.2f} s on a fresh open, goal "
        f"<= 0.3 s: {'meets' if fresh <= 0.3 else 'MISSES'}; the command `ccapki apply FILE`: "
        f"{extra['command_s']:.2f} s)"
    )
    print(
        f"  ccapki issue_one + store.identities.add     : {path.rate:10.0f}   "
        f"({path.cpu_rate:.0f}; {path.wall:.1f} s)"
    )
    # issue 9: >= 1.0x raw in wall time on 2 cores (raw: the one-process loop), >= 0.6x
    # per CPU second, all processes counted: against raw on as many cores as apply_plan
    # uses (a CPU second on a core whose neighbour is busy does less work, for raw too)
    lo_w, hi_w = min(x[0] for x in rounds), max(x[0] for x in rounds)
    lo_c, hi_c = min(x[1] for x in rounds), max(x[1] for x in rounds)
    print(
        f"  ratio apply_plan/raw, median of {len(rounds)} rounds    : {wall_med:10.2f}   "
        f"(goal >= 1.0: {'meets' if wall_med >= 1.0 else 'MISSES'}; rounds {lo_w:.2f}-"
        f"{hi_w:.2f}; CPU {cpu_med:.2f}, goal >= 0.6: "
        f"{'meets' if cpu_med >= 0.6 else 'MISSES'}; rounds {lo_c:.2f}-{hi_c:.2f})"
    )
    print(
        f"  ratio issue path/raw (the median round's raw) : {path.rate / raw.rate:10.2f}   "
        f"(CPU {path.cpu_rate / raw.cpu_rate:.2f})"
    )
    # the command as an administrator runs it, bracketed by raw loops of its own
    cmd_before, par_cmd = raw_issue(n), raw_on_every_core(n, cpus)
    cmd = command_apply(n)
    cmd_raw = Timing(n, (cmd_before.wall + raw_issue(n).wall) / 2, cmd_before.cpu)
    print(
        f"  the command `ccapki apply FILE`, fresh store : {cmd.rate:10.0f}   "
        f"({cmd.cpu_rate:.0f}; {cmd.wall:.1f} s, parsing and all it says included): "
        f"/raw {cmd.rate / cmd_raw.rate:.2f} in wall time, "
        f"CPU {cmd.cpu_rate / par_cmd.cpu_rate:.2f}"
    )

    ours_cs, base_cs = cold_start(runs)
    cs_ratio = ours_cs / base_cs
    goal = "meets" if cs_ratio <= 1.5 else "MISSES"
    print(f"cold start, median of {runs} runs")
    print(f"  ccapki --version                             : {ours_cs * 1000:10.1f} ms")
    print(f"  python -c 'import cryptography.x509'         : {base_cs * 1000:10.1f} ms")
    print(
        f"  ratio                                        : {cs_ratio:10.2f}   (goal <= 1.5: {goal})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
