"""`trust check` on 1 CAM HA pair + N CAS HA pairs vs raw cryptography verifier calls.

Prints verifications/s for ccapki's deployment-wide check (every channel, every appliance,
through :func:`ccapki.lifecycle.trustops.check_deployment`), the rate of raw
``cryptography.x509.verification`` calls on the same chains measured in the same run, their
ratio (goal >= 0.7) and the peak memory (tracemalloc) of the check.

Then the whole of what ``ccapki trust check`` does after reading the store, as it does it:
the client root store of ``--clients installed`` (the OS roots plus every identity's anchor:
the same root once per identity), the check, the text table and the ``--json`` document,
each timed, and the total against the raw verifier doing the same number of verifications
(ratio ccapki/raw in time: lower is better; walk 15 found 38.7 s for 2,000 CAS, 40x the
``trust plan`` of the same store, from a per-verification re-hash of the trust store and
the client store's duplicate roots).

    python benchmarks/bench_trust.py [--pairs 5000] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import ipaddress
import json
import time
import tracemalloc

from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from ccapki.lifecycle.trustops import (
    Inventory,
    check_deployment,
    client_trust_roots,
    required_trust,
)
from ccapki.pki.issue import Issuer, issue_identity, make_intermediate_ca, make_root_ca
from ccapki.pki.keys import KeyType, generate_key
from ccapki.store import CertSource, StoredIdentity
from ccapki.topology.loader import parse_deployment
from ccapki.topology.plan import make_plan

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)


def deployment_text(pairs: int) -> str:
    lines = [
        '[deployment]\nname = "bench"\nrelease = "4.9.1"\nsource = "internal"\n',
        '[cam]\nname = "cam"\nvirtual_hostname = "cam.bench.test"\nservice_ip = "10.0.0.10"',
        'primary = { name = "cam-a", hostname = "cam-a.bench.test", ip = "10.0.0.11" }',
        'secondary = { name = "cam-b", hostname = "cam-b.bench.test", ip = "10.0.0.12" }\n',
    ]
    for i in range(pairs):
        base = int(ipaddress.ip_address("10.1.0.0")) + i * 4
        ip = [str(ipaddress.ip_address(base + k)) for k in range(3)]
        lines.append(
            f'[[cas]]\nname = "cas{i}"\nvirtual_hostname = "cas{i}.bench.test"\n'
            f'service_ip = "{ip[0]}"\n'
            f'primary = {{ name = "cas{i}-a", hostname = "cas{i}-a.bench.test", '
            f'ip = "{ip[1]}" }}\n'
            f'secondary = {{ name = "cas{i}-b", hostname = "cas{i}-b.bench.test", '
            f'ip = "{ip[2]}" }}\n'
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=5000)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    pairs = 200 if args.quick else args.pairs
    dep = parse_deployment(deployment_text(pairs), "bench.toml")
    plan = make_plan(dep)
    rkey = generate_key(KeyType.ECDSA_P256)
    root = make_root_ca("Bench Root", rkey, now=NOW, days=3650)
    ikey = generate_key(KeyType.ECDSA_P256)
    inter = make_intermediate_ca(
        Issuer(root, rkey), "Bench CA", ikey.public_key(), now=NOW, days=3650
    )
    issuer = Issuer(inter, ikey)
    t0 = time.perf_counter()
    idents = {}
    for p in plan.identities:
        key = generate_key(KeyType.ECDSA_P256)
        cert = issue_identity(p.request, key.public_key(), now=NOW, days=397, issuer=issuer)
        idents[p.name] = StoredIdentity(
            p.name, 1, cert, (inter, root), CertSource.INTERNAL, "", "", NOW
        )
    setup = time.perf_counter() - t0
    inv0 = Inventory(dep, idents, {}, frozenset(), frozenset(), (root, inter))
    inv = Inventory(dep, idents, required_trust(inv0), frozenset(), frozenset(), (root, inter))
    clients = [root]

    store = Store([root])
    chains = [(i.certificate, [inter]) for i in idents.values()]

    def raw_run(n: int) -> float:
        """The same number of verifications with cryptography alone, reusing one verifier
        per (purpose, name) as a careful hand-written loop would."""
        t0 = time.perf_counter()
        done = 0
        client_v = PolicyBuilder().store(store).time(NOW).build_client_verifier()
        while done < n:
            for leaf, inter_list in chains:
                if done >= n:
                    break
                if done % 2:
                    client_v.verify(leaf, inter_list)
                else:
                    name = leaf.extensions.get_extension_for_class(
                        x509.SubjectAlternativeName
                    ).value.get_values_for_type(x509.DNSName)[0]
                    PolicyBuilder().store(store).time(NOW).build_server_verifier(
                        x509.DNSName(name)
                    ).verify(leaf, inter_list)
                done += 1
        return time.perf_counter() - t0

    # machines here are shared: raw before and after ccapki, and the mean of the two
    raw_before = raw_run(4 * len(chains))
    t0 = time.perf_counter()
    matrix = check_deployment(inv, NOW, clients)  # the first run: nothing cached yet
    ours = time.perf_counter() - t0
    assert matrix.ok, [c for c in matrix.cells if not c.ok][:3]
    n = matrix.verifications
    raw_after = raw_run(4 * len(chains))
    raw = (raw_before + raw_after) / 2 * n / (4 * len(chains))
    # peak memory in another run: tracemalloc slows every allocation, so it must not run
    # while the time is taken
    tracemalloc.start()
    check_deployment(inv, NOW, clients)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    ours_rate = n / ours
    raw_rate = n / raw
    print(f"bench_trust: 1 CAM pair + {pairs} CAS pairs = {len(dep.appliances)} appliances")
    print(f"  setup (issuing {len(idents)} identities): {setup:.1f}s")
    print(
        f"  ccapki trust check: {n} verifications (+ memo hits, {len(matrix.cells)} cells) in "
        f"{ours:.2f}s = {ours_rate:,.0f} verifications/s, peak memory {peak / 1048576:.0f} MiB"
    )
    print(f"  raw cryptography verifier: {n} calls in {raw:.2f}s = {raw_rate:,.0f}/s")
    print(f"  ratio ccapki/raw = {ours_rate / raw_rate:.2f} (goal >= 0.7)")
    whole_command(dep, inv, raw_rate)


def whole_command(dep: object, inv: Inventory, raw_rate: float) -> None:
    """``trust check`` (text, then ``--json``) on the inventory, as the CLI runs it."""
    from ccapki.cli.trust import render_matrix

    t0 = time.perf_counter()
    roots, public = client_trust_roots("installed", inv)
    t1 = time.perf_counter()
    matrix = check_deployment(inv, NOW, roots, public_fingerprints=public)
    t2 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()) as text:
        render_matrix(matrix, dep)  # type: ignore[arg-type]
    t3 = time.perf_counter()
    doc = json.dumps(matrix.to_json(), indent=2, default=str)
    t4 = time.perf_counter()
    n = matrix.verifications
    raw = n / raw_rate
    total = t4 - t0
    print(
        f"  trust check --clients installed ({len(roots)} client roots, "
        f"{len(text.getvalue().splitlines())} lines of text, {len(doc) // 1024} KiB of JSON):"
    )
    print(
        f"    client roots {t1 - t0:.2f}s + check {t2 - t1:.2f}s ({n} verifications) + "
        f"table {t3 - t2:.2f}s + JSON {t4 - t3:.2f}s = {total:.2f}s"
    )
    print(
        f"    raw verifier, {n} calls: {raw:.2f}s; ratio ccapki/raw time = {total / raw:.2f} "
        "(lower is better)"
    )


if __name__ == "__main__":
    main()
