"""End to end: `ccapki import` of N CA-returned certificates against N pending CSR keys.

Sets up a store with a deployment of N standalone third-party CAS, makes N CSRs (N keys
sealed, pending), has a test CA sign them, and writes each certificate (with the CA) as a
PEM file. Then times, in the same run:

- ccapki: parse_files over the folder + import_materials (chain sorting, fit checks against
  the plan, key matching by fingerprint against the store's pending keys, one transaction);
- cryptography alone: reading and parsing the same files (load_pem_x509_certificates).

    python benchmarks/bench_import_store.py [--n 1000] [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ccapki.lifecycle.certfiles import make_csrs
from ccapki.lifecycle.importing import import_materials
from ccapki.pki.formats import parse_files
from ccapki.pki.issue import IdentityRequest, Issuer, issue_identity, make_root_ca
from ccapki.pki.keys import KeyType, generate_key, public_key_fingerprint
from ccapki.store import KeyState, Store
from ccapki.topology.loader import parse_deployment

NOW = dt.datetime.now(dt.UTC)


def deployment(n: int) -> str:
    out = [
        '[deployment]\nname = "bench"\nrelease = "4.9.1"\nsource = "third-party"\n',
        '[cam]\nname = "cam"\nhostname = "cam.bench.test"\nip = "10.0.0.1"\n',
    ]
    for i in range(n):
        ip = ipaddress.ip_address(int(ipaddress.ip_address("10.1.0.0")) + i)
        out.append(f'[[cas]]\nname = "cas{i}"\nhostname = "cas{i}.bench.test"\nip = "{ip}"\n')
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n = 100 if args.quick else args.n
    tmp = Path(tempfile.mkdtemp(prefix="ccapki-bench-import-"))
    dep = parse_deployment(deployment(n), "bench.toml")
    with Store.init(tmp / "home", key_file=True) as store:
        store.deployments.record(dep.name, dep.source_text, None)
        t0 = time.perf_counter()
        csrs = make_csrs(store, dep, [s.name for s in dep.cas])
        csr_time = time.perf_counter() - t0
        ca_key = generate_key(KeyType.ECDSA_P256)
        ca = make_root_ca("Bench Public CA", ca_key, now=NOW, days=3650)
        issuer = Issuer(ca, ca_key)
        folder = tmp / "returned"
        folder.mkdir()
        ca_pem = ca.public_bytes(serialization.Encoding.PEM)
        for r in csrs:
            spec = dep.identity(r.identity)
            req = IdentityRequest(spec.common_name, spec.dns_names, spec.ip_addresses)
            cert = issue_identity(req, r.csr.public_key(), now=NOW, days=397, issuer=issuer)  # type: ignore[arg-type]
            (folder / f"{r.identity}.pem").write_bytes(
                cert.public_bytes(serialization.Encoding.PEM) + ca_pem
            )
        files = sorted(folder.iterdir())

        t0 = time.perf_counter()
        for f in files:
            x509.load_pem_x509_certificates(f.read_bytes())
        raw = time.perf_counter() - t0

        # cryptography doing the core of the same work by hand: parse, read the fields, check
        # the signature, look the key up by SPKI fingerprint (no store, no errors, no checks)
        pending = {k.fingerprint for k in store.keys.list(state=KeyState.PENDING)}
        t0 = time.perf_counter()
        matched = 0
        for f in files:
            leaf, top = x509.load_pem_x509_certificates(f.read_bytes())
            _ = (leaf.subject, leaf.not_valid_after_utc)
            _ = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            leaf.verify_directly_issued_by(top)
            matched += public_key_fingerprint(leaf.public_key()) in pending
        by_hand = time.perf_counter() - t0
        assert matched == n

        t0 = time.perf_counter()
        materials = parse_files([folder])
        result = import_materials(store, dep, materials, NOW)
        ours = time.perf_counter() - t0
        assert len(result.identities) == n
        assert len(store.keys.list(state=KeyState.PENDING)) == 0
    print(f"bench_import_store: {n} certificates against {n} pending keys (store on SQLite)")
    print(f"  csr for {n} identities (key gen + seal + CSR): {csr_time:.2f}s")
    print(f"  cryptography alone, parse the files: {raw:.3f}s")
    print(f"  ccapki import (parse, chain, fit, match, persist): {ours:.3f}s")
    print(f"  cryptography by hand (parse, fields, signature, key lookup): {by_hand:.3f}s")
    print(f"  ratio (cryptography parse / ccapki import) = {raw / ours:.2f}")
    print(f"  ratio (by hand / ccapki import) = {by_hand / ours:.2f}")


if __name__ == "__main__":
    main()
