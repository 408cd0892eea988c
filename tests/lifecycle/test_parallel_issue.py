"""Bulk issuing on every core (forked workers) gives exactly what serial issuing gives."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.x509.verification import PolicyBuilder
from cryptography.x509.verification import Store as VerifyStore

from ccapki.lifecycle.apply import PARALLEL_MIN, apply_plan, ensure_issuers, issue_many, signer_for
from ccapki.pki.keys import public_key_fingerprint
from ccapki.store import Store
from ccapki.topology.loader import parse_deployment
from ccapki.topology.plan import make_plan
from kit.certs import NOW


def deployment(n: int) -> str:
    out = [
        '[deployment]\nname = "bulk"\nrelease = "4.9.1"\nsource = "internal"\n',
        '[cam]\nname = "cam"\nhostname = "cam.bulk.test"\nip = "10.0.0.1"\n',
    ]
    for i in range(n):
        ip = ipaddress.ip_address(int(ipaddress.ip_address("10.1.0.0")) + i)
        out.append(f'[[cas]]\nname = "cas{i}"\nhostname = "cas{i}.bulk.test"\nip = "{ip}"\n')
    return "\n".join(out)


def test_bulk_apply_uses_workers_and_every_key_matches(tmp_path: Path) -> None:
    n = PARALLEL_MIN + 40
    dep = parse_deployment(deployment(n), "bulk.toml")
    with Store.init(tmp_path / "home", key_file=True, clock=lambda: NOW) as store:
        result = apply_plan(store, dep, NOW)
        assert len(result.issued) == n + 1
        idents = store.identities.current()
        assert len(idents) == n + 1
        root = store.cas.list("internal-root")[0].certificate
        verify_store = VerifyStore([root])
        for name, ident in idents.items():
            key = store.keys.private_key(ident.spki)  # sealed key opens, and is the cert's
            assert public_key_fingerprint(key) == public_key_fingerprint(
                ident.certificate.public_key()
            )
            assert ident.spki == public_key_fingerprint(ident.certificate.public_key())
            verifier = (
                PolicyBuilder()
                .store(verify_store)
                .time(NOW)
                .build_server_verifier(x509.DNSName(f"{name}.bulk.test"))
            )
            chain = verifier.verify(ident.certificate, list(ident.chain[:-1]))
            assert chain[-1] == root
        assert len({i.spki for i in idents.values()}) == n + 1  # no key issued twice
        assert store.count("audit") >= n + 1
        # idempotent afterwards
        again = apply_plan(store, dep, NOW)
        assert again.issued == ()


def test_parallel_and_serial_issue_the_same_names(tmp_path: Path) -> None:
    dep = parse_deployment(deployment(PARALLEL_MIN), "bulk.toml")
    plan = make_plan(dep)
    with Store.init(tmp_path / "home", key_file=True, clock=lambda: NOW) as store:
        jobs = [(p, signer_for(p, dep)) for p in plan.identities]
        issuers, _ = ensure_issuers(store, plan, NOW, needed={s for _, s in jobs})
        parallel = issue_many(jobs, issuers, NOW, workers=2)
        serial = issue_many(jobs[:3], issuers, NOW)  # below PARALLEL_MIN: in process
    assert [r.identity for r in parallel] == [p.name for p, _ in jobs]
    for r in parallel:
        assert r.key is None  # made by a worker ...
        assert r.key_der is not None  # ... and sealed by the store
        assert r.certificate.subject == plan.get(r.identity).request.subject
    for a, b in zip(serial, parallel[:3], strict=True):
        assert a.certificate.subject == b.certificate.subject
        assert a.chain == b.chain
        assert [e.oid for e in a.certificate.extensions] == [
            e.oid for e in b.certificate.extensions
        ]
        assert a.certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ) == b.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_workers_seal_each_key_with_the_store_key(tmp_path: Path) -> None:
    """Given the store's data key, each worker seals the keys it makes: none comes back over
    the pool's pipe as plain PKCS#8, and each opens with the store's key to the key of its
    certificate (a worker's nonce is its own: none repeats across workers)."""
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    from ccapki.lifecycle.apply import issue_batches

    dep = parse_deployment(deployment(PARALLEL_MIN), "bulk.toml")
    plan = make_plan(dep)
    with Store.init(tmp_path / "home", key_file=True, clock=lambda: NOW) as store:
        jobs = [(p, signer_for(p, dep)) for p in plan.identities]
        issuers, _ = ensure_issuers(store, plan, NOW, needed={s for _, s in jobs})
        keyring = store.keyring
        records = [
            r
            for batch in issue_batches(jobs, issuers, NOW, workers=2, keyring=keyring)
            for r in batch
        ]
    assert len(records) == len(jobs)
    nonces = set()
    for r in records:
        assert r.key is None
        assert r.key_der is None
        assert r.key_sealed is not None
        assert r.facts is not None
        nonce, sealed = r.key_sealed
        nonces.add(nonce)
        key = load_der_private_key(keyring.open(nonce, sealed, r.facts.spki), None)
        assert public_key_fingerprint(key.public_key()) == r.facts.spki
        assert r.facts.spki == public_key_fingerprint(r.certificate.public_key())
    assert len(nonces) == len(records)


def test_worker_facts_are_the_certificates_own(tmp_path: Path) -> None:
    """What a worker reports of each certificate (the subject and issuer texts, the
    fingerprints, dates, PEM) is what the certificate itself says, also for names whose
    text needs RFC 4514 escaping (a comma, a plus sign, quotes, a leading '#', non-ASCII):
    the worker writes the subject it signed, not the one parsed back."""
    from ccapki.lifecycle.apply import issue_batches
    from ccapki.store.records import certificate_facts

    text = deployment(PARALLEL_MIN).replace(
        'source = "internal"\n',
        'source = "internal"\norganization = "#1 Société, R+D \\"Labs\\" <x>; a=b"\n'
        '[deployment.subject]\norganizational_unit = "Clinic\\\\North=1"\n',
        1,
    )
    dep = parse_deployment(text, "bulk.toml")
    plan = make_plan(dep)
    with Store.init(tmp_path / "home", key_file=True, clock=lambda: NOW) as store:
        jobs = [(p, signer_for(p, dep)) for p in plan.identities]
        issuers, _ = ensure_issuers(store, plan, NOW, needed={s for _, s in jobs})
        records = [r for batch in issue_batches(jobs, issuers, NOW, workers=2) for r in batch]
    assert len(records) == len(jobs)
    # every record one CA signed holds the same chain object (the trust stores' anchors
    # are worked out once per chain, not once per identity), its CA then its root
    (chain,) = {id(r.chain): r.chain for r in records}.values()
    assert [c.subject for c in chain] == [
        issuers["internal-ca"].certificate.subject,
        issuers["internal-root"].certificate.subject,
    ]
    for r in records:
        assert r.facts == certificate_facts(r.certificate)
        assert "\\," in r.facts.subject  # escaped
        assert "\\+" in r.facts.subject
