"""Benchmark: import and match N returned certificates against N pending keys.

Mints N P-256 keys and N certificates (issued by one intermediate) at start-up, writes each
certificate with its intermediate as a PEM file and each key as a PKCS#8 PEM file into a temp
folder, then times, in the same run:

- ccapki: parse_files over every file (read, parse, force-parse every field ccapki uses),
  KeyIndex over the keys, then per certificate file sort_chain + one KeyIndex lookup;
- cryptography alone: read the same files and call load_pem_x509_certificates /
  load_pem_private_key (lazy: no field read, no matching, no chain building).

- cryptography doing the same work by hand: load, read the same fields, verify the leaf's
  signature, match by SPKI fingerprint (no error handling).

It prints the times and both ratios (cryptography time / ccapki time; 1.0 = no overhead).

    .venv/bin/python benchmarks/bench_import_match.py [--n 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ccapki.pki.chain import KeyIndex, sort_chain
from ccapki.pki.formats import parse_files
from ccapki.pki.issue import (
    IdentityRequest,
    Issuer,
    issue_identity,
    make_intermediate_ca,
    make_root_ca,
)
from ccapki.pki.keys import KeyType, generate_key, public_key_fingerprint

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)


def mint(folder: Path, n: int) -> tuple[list[Path], list[Path]]:
    root_key = generate_key(KeyType.ECDSA_P256)
    root = make_root_ca("Bench Root", root_key, now=NOW, days=3650)
    inter_key = generate_key(KeyType.ECDSA_P256)
    inter = make_intermediate_ca(
        Issuer(root, root_key), "Bench Issuing", inter_key.public_key(), now=NOW, days=1825
    )
    issuer = Issuer(inter, inter_key)
    inter_pem = inter.public_bytes(serialization.Encoding.PEM)
    (folder / "certs").mkdir()
    (folder / "keys").mkdir()
    cert_files, key_files = [], []
    for i in range(n):
        key = generate_key(KeyType.ECDSA_P256)
        name = f"cas{i:05d}.example.org"
        cert = issue_identity(
            IdentityRequest(name, dns_names=(name,)),
            key.public_key(),
            now=NOW,
            days=365,
            issuer=issuer,
        )
        c = folder / "certs" / f"{name}.pem"
        c.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + inter_pem)
        k = folder / "keys" / f"{name}.key"
        k.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        cert_files.append(c)
        key_files.append(k)
    return cert_files, key_files


def run_ccapki(folder: Path) -> int:
    keys = [k for m in parse_files([folder / "keys"]) for k in m.keys]
    index = KeyIndex.from_keys(keys)
    matched = 0
    for material in parse_files([folder / "certs"]):
        chain = sort_chain(material.certificates)
        if index.match(chain.leaf) is not None:
            matched += 1
    return matched


def run_cryptography(cert_files: list[Path], key_files: list[Path]) -> int:
    loaded = 0
    for k in key_files:
        serialization.load_pem_private_key(k.read_bytes(), None)
        loaded += 1
    for c in cert_files:
        loaded += len(x509.load_pem_x509_certificates(c.read_bytes()))
    return loaded


def run_cryptography_same_work(cert_files: list[Path], key_files: list[Path]) -> int:
    """The same job hand-written on cryptography: load, read the fields, verify the leaf
    against the intermediate, match by SPKI fingerprint. No error handling, no messages."""
    index = {}
    for k in key_files:
        key = serialization.load_pem_private_key(k.read_bytes(), None)
        index[public_key_fingerprint(key)] = key
    matched = 0
    for c in cert_files:
        leaf, inter = x509.load_pem_x509_certificates(c.read_bytes())
        for cert in (leaf, inter):
            _ = cert.subject, cert.issuer, list(cert.extensions), cert.public_key()
            _ = cert.not_valid_before_utc, cert.not_valid_after_utc, cert.signature_hash_algorithm
        leaf.verify_directly_issued_by(inter)
        if public_key_fingerprint(leaf.public_key()) in index:
            matched += 1
    return matched


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        cert_files, key_files = mint(folder, args.n)
        print(f"minted {args.n} keys + {args.n} certificates in {time.perf_counter() - t0:.2f} s")
        best_ccapki = best_raw = best_same = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            raw = run_cryptography(cert_files, key_files)
            best_raw = min(best_raw, time.perf_counter() - t0)
            t0 = time.perf_counter()
            same = run_cryptography_same_work(cert_files, key_files)
            best_same = min(best_same, time.perf_counter() - t0)
            t0 = time.perf_counter()
            matched = run_ccapki(folder)
            best_ccapki = min(best_ccapki, time.perf_counter() - t0)
            assert matched == same == args.n, (matched, same)
            assert raw == 3 * args.n, raw
        files = 2 * args.n
        print(
            f"ccapki parse + sort + match:     {best_ccapki:.3f} s "
            f"({files / best_ccapki:,.0f} files/s, {args.n} of {args.n} matched)"
        )
        print(
            f"cryptography lazy parse only:    {best_raw:.3f} s ({files / best_raw:,.0f} files/s)"
        )
        print(
            f"cryptography, same work by hand: {best_same:.3f} s ({files / best_same:,.0f} files/s)"
        )
        print(f"ratio vs lazy parse (cryptography / ccapki):     {best_raw / best_ccapki:.2f}")
        print(f"ratio vs same work by hand (cryptography / ccapki): {best_same / best_ccapki:.2f}")


if __name__ == "__main__":
    main()
