"""Benchmark: signing through a PKCS#11 token (SoftHSM2) against the same operation with a
key in memory, issue 14.

A SoftHSM2 token is made for the run in a temporary folder (SOFTHSM2_CONF written here,
``softhsm2-util --init-token``). For ECDSA P-256 and RSA 2048, both in the same run:

1. **signatures/s**: ``TokenKey.sign`` (``CKM_ECDSA`` over the SHA-256 digest, re-encoded
   as DER; ``CKM_SHA256_RSA_PKCS``) of a 1 KiB message, against cryptography's ``sign`` with
   a key of the same type in memory;
2. **certificates/s**: ``issue_identity`` of an appliance certificate signed by a CA whose
   key is in the token (stand-in TBS, token signature, asn1crypto assembly, signature
   checked) against the same CA key in memory (the leaf key made once, outside the timing).

Printed: each rate and the ratio token / memory (1.0: the token costs nothing).

    .venv/bin/python benchmarks/bench_pkcs11.py [-n 2000] [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "bench-pin-1234"


def make_token(folder: Path) -> None:
    """A fresh SoftHSM2 token ``bench`` in ``folder`` (SOFTHSM2_CONF set for this process)."""
    (folder / "tokens").mkdir()
    conf = folder / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\n"
        "log.level = ERROR\n",
        encoding="utf-8",
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            "bench",
            "--pin",
            PIN,
            "--so-pin",
            "bench-so-5678",
        ],
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )


def rate(n: int, work: Callable[[], object]) -> float:
    """Operations per second of ``work`` over ``n`` calls (after 10 warm-up calls)."""
    for _ in range(10):
        work()
    start = time.perf_counter()
    for _ in range(n):
        work()
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=2000, help="signatures per measurement")
    ap.add_argument("--quick", action="store_true", help="200 signatures (a smoke run)")
    args = ap.parse_args(argv)
    n = 200 if args.quick else args.n
    if shutil.which("softhsm2-util") is None or not Path(MODULE).is_file():
        print("SoftHSM2 is not installed (apt-get install softhsm2): nothing measured")
        return 0

    from ccapki.hsm.token import close_all, open_token_key
    from ccapki.hsm.uri import parse_pkcs11_uri
    from ccapki.pki.issue import IdentityRequest, Issuer, issue_identity, make_root_ca
    from ccapki.pki.keys import KeyType, generate_key

    now = dt.datetime.now(dt.UTC)
    message = os.urandom(1024)
    sha = hashes.SHA256()
    leaf_key = generate_key(KeyType.ECDSA_P256)
    request = IdentityRequest("cas.bench.example.org", ("cas.bench.example.org",))
    rows: list[tuple[str, str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="ccapki-bench-pkcs11-") as tmp:
        make_token(Path(tmp))
        try:
            for kind in (KeyType.ECDSA_P256, KeyType.RSA_2048):
                token_key = open_token_key(
                    parse_pkcs11_uri(f"pkcs11:token=bench;object={kind.value}"),
                    module=MODULE,
                    pin=lambda _token: PIN,
                    create=kind,
                )
                memory = generate_key(kind)

                def sign_memory(memory: object = memory) -> bytes:
                    if isinstance(memory, rsa.RSAPrivateKey):
                        return memory.sign(message, padding.PKCS1v15(), sha)
                    assert isinstance(memory, ec.EllipticCurvePrivateKey)
                    return memory.sign(message, ec.ECDSA(sha))

                tok = rate(n, lambda token_key=token_key: token_key.sign(message, sha))
                mem = rate(n, sign_memory)
                rows.append((kind.value, "signatures/s", tok, mem))

                in_token = Issuer(make_root_ca("Bench CA", token_key, now=now, days=30), token_key)
                in_memory = Issuer(make_root_ca("Bench CA", memory, now=now, days=30), memory)

                def issue(issuer: Issuer) -> object:
                    return issue_identity(
                        request, leaf_key.public_key(), now=now, days=30, issuer=issuer
                    )

                tok = rate(n // 2, lambda in_token=in_token: issue(in_token))
                mem = rate(n // 2, lambda in_memory=in_memory: issue(in_memory))
                rows.append((kind.value, "certificates/s", tok, mem))
        finally:
            close_all()
    print(f"PKCS#11 signing: SoftHSM2 {MODULE} vs the same key type in memory (n={n})")
    print(f"{'key':<12} {'what':<15} {'token':>10} {'memory':>10} {'token/memory':>13}")
    for key, what, tok, mem in rows:
        print(f"{key:<12} {what:<15} {tok:>10,.0f} {mem:>10,.0f} {tok / mem:>13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
