"""Benchmark: ``backup create`` and ``backup restore`` of a store of N identities, against
raw AES-GCM over the same bytes and SQLite's own online backup, in the same run.

1. A fresh SQLite store is filled with ``apply_plan`` (as bench_issue.py does): the CAM and
   N-1 CAS, internal CA, ECDSA P-256.
2. **create**: ``ccapki.lifecycle.backups.create_backup`` (what ``ccapki backup create`` runs:
   one read snapshot, every key unsealed and streamed into the encrypted archive), in a
   subprocess of its own: wall time, peak RSS (``VmHWM``) and the RSS before the work.
3. **restore**: ``restore_backup`` into a fresh store (every key re-sealed, one
   transaction), in a subprocess of its own, measured the same way.
4. **baselines**: AES-256-GCM of the store's database file in 64 KiB chunks (what any
   encrypted copy costs at least), its decryption, and ``sqlite3`` ``.backup`` of the
   database (an unencrypted page copy).

    .venv/bin/python benchmarks/bench_backup.py [-n 10000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HERE = Path(__file__).resolve().parent
PASS = "bench backup passphrase"


def _status_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (the peak) of this process, MB (Linux). Unlike
    ``ru_maxrss``, which a child inherits from its parent across fork and exec, these
    count this process's own memory only."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1e3  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def phase(kind: str, home: Path, file: Path) -> None:
    """One measured phase, in this (fresh) process: prints a JSON line."""
    from bench_issue import NOW

    from ccapki.lifecycle.backups import create_backup, read_backup, restore_backup
    from ccapki.store import Store

    with Store.open(home, clock=lambda: NOW) as store:
        store.unlock()
        before = _status_mb("VmRSS")
        t0 = time.perf_counter()
        if kind == "create":
            create_backup(store, file, PASS)
        else:
            fh, reader = read_backup(file, PASS)
            with fh:
                restore_backup(store, reader, source=str(file))
        took = time.perf_counter() - t0
        certs = store.count("certificates")
    peak = _status_mb("VmHWM")
    print(json.dumps({"seconds": took, "peak_mb": peak, "before_mb": before, "certs": certs}))


def run_phase(kind: str, home: Path, file: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", kind, "--home", str(home), "--file", str(file)],
        capture_output=True,
        text=True,
        check=True,
        cwd=HERE.parent,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def fill(home: Path, n: int) -> float:
    from bench_issue import NOW, deployment_text

    from ccapki.lifecycle.apply import apply_plan
    from ccapki.store import Store
    from ccapki.topology.loader import parse_deployment

    dep = parse_deployment(deployment_text(n - 1), "<bench>")
    t0 = time.perf_counter()
    with Store.init(home, key_file=True, clock=lambda: NOW) as store:
        result = apply_plan(store, dep, NOW)
        assert len(result.issued) == n
    return time.perf_counter() - t0


def raw_aes(src: Path, dst: Path) -> tuple[float, float]:
    """AES-256-GCM of ``src`` in 64 KiB chunks into ``dst``, then back: (enc s, dec s)."""
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    prefix = os.urandom(8)
    t0 = time.perf_counter()
    with src.open("rb") as fi, dst.open("wb") as fo:
        i = 0
        while chunk := fi.read(65536):
            fo.write(aead.encrypt(prefix + i.to_bytes(4, "big"), chunk, None))
            i += 1
    enc = time.perf_counter() - t0
    t0 = time.perf_counter()
    with dst.open("rb") as fi:
        i = 0
        while chunk := fi.read(65536 + 16):
            aead.decrypt(prefix + i.to_bytes(4, "big"), chunk, None)
            i += 1
    return enc, time.perf_counter() - t0


def sqlite_backup(src: Path, dst: Path) -> float:
    t0 = time.perf_counter()
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    a.close()
    b.close()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("-n", type=int, default=10_000, help="identities (default 10000)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 1000 identities")
    ap.add_argument("--phase", choices=["create", "restore"], help=argparse.SUPPRESS)
    ap.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.phase:
        phase(args.phase, args.home, args.file)
        return 0
    n = 1000 if args.quick else args.n
    print(f"bench_backup: {n} ECDSA P-256 identities, internal CA, SQLite store")
    with tempfile.TemporaryDirectory(prefix="ccapki-bench-") as tmp:
        root = Path(tmp)
        src, dst = root / "source", root / "target"
        fill_s = fill(src, n)
        from ccapki.store import Store

        Store.init(dst, key_file=True).close()
        with sqlite3.connect(src / "ccapki.db") as con:  # fold the WAL into the file
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
        db = src / "ccapki.db"
        db_mb = db.stat().st_size / 1e6
        archive = root / "store.backup"
        created = run_phase("create", src, archive)
        restored = run_phase("restore", dst, archive)
        assert restored["certs"] == n, restored
        enc, dec = raw_aes(db, root / "raw.aes")
        page_copy = sqlite_backup(db, root / "copy.db")
        size_mb = archive.stat().st_size / 1e6

    print(f"  store filled by apply_plan in {fill_s:.1f} s; database {db_mb:.1f} MB")
    print(
        f"  backup file                      : {size_mb:8.1f} MB "
        f"({size_mb / db_mb:.2f} x the database; {size_mb * 1e6 / n:.0f} bytes/identity)"
    )
    for label, r in (("backup create", created), ("backup restore (fresh store)", restored)):
        print(
            f"  {label:<33}: {r['seconds']:8.2f} s  ({n / r['seconds']:.0f} identities/s); "
            f"peak RSS {r['peak_mb']:.0f} MB ({r['peak_mb'] - r['before_mb']:+.0f} MB over the "
            f"{r['before_mb']:.0f} MB before it; scrypt alone takes 32 MiB)"
        )
    print(f"  baseline AES-256-GCM of the db   : {enc:8.2f} s encrypt, {dec:.2f} s decrypt")
    print(f"  baseline sqlite3 .backup         : {page_copy:8.2f} s (unencrypted page copy)")
    print(
        f"  ratio create / raw encrypt       : {created['seconds'] / enc:8.1f}x; "
        f"create / .backup {created['seconds'] / page_copy:.1f}x; "
        f"restore / raw decrypt {restored['seconds'] / dec:.1f}x"
    )
    growth = max(
        created["peak_mb"] - created["before_mb"], restored["peak_mb"] - restored["before_mb"]
    )
    print(
        f"  memory: the work grew RSS by at most {growth:.0f} MB (scrypt n=2^15 r=8 is 34 MB of "
        f"it) for a {db_mb:.0f} MB store; the goal is a growth that does not follow the "
        "store's size (compare -n 1000 with -n 10000)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
