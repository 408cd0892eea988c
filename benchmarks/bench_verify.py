"""Micro-benchmark (not a test): TrustContext.verify against raw cryptography verifier calls.

Run: ``.venv/bin/python benchmarks/bench_verify.py [N_CAS] [--quick]``.

N CAS identities (ECDSA P-256, internal root -> intermediate -> leaf) are each verified
twice, as a TLS server by name and as a TLS client (CAM <-> CAS mutual TLS): 2*N
verifications. "raw" builds the cryptography verifiers the way a careful caller would
(one Store, one PolicyBuilder, one server verifier per name, one client verifier) and
calls ``verify``; "ccapki" calls ``TrustContext.verify`` and gets a ``Verdict``. The
same chains, the same process, alternating rounds; best of 3.
"""

from __future__ import annotations

import datetime as dt
import sys
import time

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import PolicyBuilder, Store

from ccapki.pki.issue import (
    IdentityRequest,
    Issuer,
    issue_identity,
    make_intermediate_ca,
    make_root_ca,
)
from ccapki.trust import TrustContext

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def main(n_cas: int = 5000) -> None:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = make_root_ca("Bench Root", root_key, now=NOW, days=3650)
    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter = make_intermediate_ca(
        Issuer(root, root_key), "Bench Issuing CA", inter_key.public_key(), now=NOW, days=1825
    )
    issuer = Issuer(inter, inter_key)
    leaf_key = ec.generate_private_key(ec.SECP256R1())  # one key: only verification is timed
    leaves = [
        issue_identity(
            IdentityRequest(f"cas{i}.example.edu", (f"cas{i}.example.edu",)),
            leaf_key.public_key(),
            now=NOW,
            days=397,
            issuer=issuer,
        )
        for i in range(n_cas)
    ]
    names = [f"cas{i}.example.edu" for i in range(n_cas)]
    ints = [inter]

    def raw() -> float:
        t = time.perf_counter()
        builder = PolicyBuilder().store(Store([root])).time(NOW)
        client = builder.build_client_verifier()
        for leaf, name in zip(leaves, names, strict=True):
            builder.build_server_verifier(x509.DNSName(name)).verify(leaf, ints)
            client.verify(leaf, ints)
        return time.perf_counter() - t

    def ours() -> float:
        t = time.perf_counter()
        ctx = TrustContext([root])
        for leaf, name in zip(leaves, names, strict=True):
            assert ctx.verify(leaf, ints, peer_name=name, at=NOW).ok
            assert ctx.verify(leaf, ints, purpose="client", at=NOW).ok
        return time.perf_counter() - t

    raw_best = ours_best = float("inf")
    for _ in range(3):
        raw_best = min(raw_best, raw())
        ours_best = min(ours_best, ours())
    total = 2 * n_cas
    raw_rate, our_rate = total / raw_best, total / ours_best
    print(f"verifications: {total} ({n_cas} CAS x server+client)")
    print(f"raw cryptography verifier: {raw_rate:,.0f}/s")
    print(f"TrustContext.verify:       {our_rate:,.0f}/s")
    print(f"ratio: {our_rate / raw_rate:.3f} (goal >= 0.7)")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--quick"]
    main(int(args[0]) if args else (500 if "--quick" in sys.argv else 5000))
