"""Schema 0012: a trust-store entry of a CA the store holds keeps no copy of its PEM (the
``cas`` row's is read); a bulk apply wrote the same root ~850 bytes at a time into
thousands of stores (a third of what its last transaction wrote). Every reader sees the
certificate as before; an entry of a certificate the store holds no CA of (added by hand)
keeps its PEM; an entry whose CA row is gone reads as a damaged entry (``doctor`` names
it), never a traceback."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, select

from ccapki.lifecycle.apply import apply_plan
from ccapki.pki.certs import fingerprint
from ccapki.store import Store
from ccapki.store import schema as t
from ccapki.store.health import iter_trust
from ccapki.topology.loader import parse_deployment
from kit.certs import NOW, OutsideCA
from kit.cli import FAQ, Cli, ok


def _raw(store: Store) -> list[tuple[str, str, str]]:
    e = t.trust_entries.c
    with store.connection() as c:
        return [tuple(r) for r in c.execute(select(e.appliance, e.fingerprint, e.pem))]


def test_entries_of_a_stored_ca_refer_to_it_and_read_as_ever(
    store: Store, outside: OutsideCA
) -> None:
    dep = parse_deployment(FAQ.read_text(), str(FAQ))
    apply_plan(store, dep, now=NOW)
    cas = {c.fingerprint: c for c in store.cas.list()}
    rows = _raw(store)
    assert rows
    assert all(fp in cas and pem == "" for _, fp, pem in rows), rows
    # what every reader sees: the CA's certificate
    with store.scoped(dep.name):
        held = store.trust.all()
        assert held
        for appliance, certs in held.items():
            assert certs
            for cert in certs:
                assert fingerprint(cert) in cas
            assert [e.fingerprint for e in store.trust.entries(appliance)] == [
                fingerprint(c) for c in certs
            ]
        # a certificate the store holds no CA of: its entry keeps its PEM
        store.trust.add("cam", outside.root, "added from outside-root.pem")
    hand = [(fp, pem) for a, fp, pem in _raw(store) if fp == fingerprint(outside.root)]
    assert hand
    assert hand[0][1].startswith("-----BEGIN CERTIFICATE-----")
    assert {row.fingerprint for row in iter_trust(store)} == {fp for _, fp, _ in rows} | {
        hand[0][0]
    }
    for row in iter_trust(store):
        assert row.pem.startswith("-----BEGIN CERTIFICATE-----"), row


def test_an_entry_whose_ca_row_is_gone_is_a_damaged_entry(cli: Cli, keyfile_store: Path) -> None:
    ok(cli("apply", FAQ))
    with Store.open(keyfile_store, clock=lambda: NOW) as store:
        root = next(c for c in store.cas.list() if c.kind == "internal-root")
        with store.transaction() as c:
            c.execute(delete(t.cas).where(t.cas.c.fingerprint == root.fingerprint))
    r = cli("doctor")
    assert r.code != 0
    assert "Traceback" not in r.both
    assert f"the trusted certificate {root.fingerprint[:16]} cannot be read" in r.out, r.both
