"""The shortcuts of a bulk ``apply`` store exactly what the slow paths store.

- A worker computes each certificate's facts from what it has at hand (the key's SPKI, the
  CA's name once): they are :func:`certificate_facts` of the certificate, whatever signs it.
- After issuing, apply fills the trust stores from the identities it holds in memory: the
  entries are those the identities read back from the store require.
- Those identities in memory are used only while the store's newest versions are exactly
  them: once another writer issued a version, apply reads them again.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path

import pytest

from ccapki.lifecycle.apply import (
    PARALLEL_MIN,
    _still_current,
    apply_plan,
    ensure_issuers,
    issue_many,
    issue_one,
    signer_for,
)
from ccapki.lifecycle.trustops import load_inventory, trust_changes
from ccapki.store import Store
from ccapki.store.records import certificate_facts
from ccapki.topology.loader import parse_deployment
from ccapki.topology.model import Deployment
from ccapki.topology.plan import make_plan
from kit.certs import NOW


def _deployment(n: int, source: str) -> Deployment:
    """A CAM and ``n`` standalone CAS on P-256 keys, every identity from ``source``."""
    out = [
        '[deployment]\nname = "bulk"\nrelease = "4.9.1"\norganization = "Bulk Org"\n'
        f'source = "{source}"\nkey = "ecdsa-p256"\n',
        '[cam]\nname = "cam"\nhostname = "cam.bulk.test"\nip = "10.0.0.1"\n',
    ]
    for i in range(n):
        ip = ipaddress.ip_address(int(ipaddress.ip_address("10.1.0.0")) + i)
        out.append(f'[[cas]]\nname = "cas{i}"\nhostname = "cas{i}.bulk.test"\nip = "{ip}"\n')
    return parse_deployment("\n".join(out), "bulk.toml")


@pytest.mark.parametrize("source", ["internal", "self-signed", "perfigo"])
def test_worker_facts_are_the_certificates_facts(tmp_path: Path, source: str) -> None:
    dep = _deployment(PARALLEL_MIN, source)
    plan = make_plan(dep)
    with Store.init(tmp_path / "home", key_file=True, clock=lambda: NOW) as store:
        jobs = [(p, signer_for(p, dep)) for p in plan.identities]
        issuers, _ = ensure_issuers(store, plan, NOW, needed={s for _, s in jobs})
        records = issue_many(jobs, issuers, NOW, workers=2)
    assert [r.identity for r in records] == [p.name for p, _ in jobs]
    for r in records:
        assert r.key is None  # made by a worker
        assert r.facts is not None
        assert r.facts == certificate_facts(r.certificate)


def test_trust_stores_filled_from_memory_are_those_the_store_requires(tmp_path: Path) -> None:
    dep = _deployment(PARALLEL_MIN + 4, "internal")
    with Store.init(tmp_path / "home", key_file=True, clock=lambda: NOW) as store:
        result = apply_plan(store, dep, NOW)
        assert len(result.issued) == PARALLEL_MIN + 5
        with store.scoped(dep.name):
            inv = load_inventory(store, dep)  # the identities read back from the store
            assert len(inv.identities) == PARALLEL_MIN + 5
            # what the trust stores need, from empty: what apply should have added
            wanted = trust_changes(dataclasses.replace(inv, trust={}))
            assert wanted
            assert trust_changes(inv) == []  # nothing left to add
            stored = {
                (a.name, e.fingerprint, e.label)
                for a in dep.appliances
                for e in store.trust.entries(a.name)
            }
    assert stored == {(c.appliance, c.fingerprint, c.description) for c in wanted}
    assert sorted(result.trust_added) == sorted(str(c) for c in wanted)


def test_identities_in_memory_are_dropped_once_another_writer_issued(tmp_path: Path) -> None:
    dep = _deployment(3, "internal")
    plan = make_plan(dep)
    with Store.init(tmp_path / "home", key_file=True, clock=lambda: NOW) as store:
        apply_plan(store, dep, NOW)
        with store.scoped(dep.name):
            held = store.identities.current()
            same = _still_current(store, held, {})
            assert same == held  # nothing changed: the same objects
            # another writer issues a new version of cas1
            p = plan.get("cas1")
            issuers, _ = ensure_issuers(store, plan, NOW, needed={signer_for(p, dep)})
            other = issue_one(p, signer_for(p, dep), issuers, NOW)
            with store.transaction():
                store.identities.add([other])
            assert _still_current(store, held, {}) is None
            # had this apply issued it, its record is the current version
            mine = _still_current(store, held, {"cas1": other})
            now_held = store.identities.current()
    assert mine is not None
    assert mine["cas1"].certificate is other.certificate
    assert {n: (i.version, i.fingerprint, i.spki, i.source) for n, i in mine.items()} == {
        n: (i.version, i.fingerprint, i.spki, i.source) for n, i in now_held.items()
    }
    assert mine["cas1"].chain == now_held["cas1"].chain
