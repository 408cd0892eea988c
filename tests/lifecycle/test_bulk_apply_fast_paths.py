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
import datetime as dt
import ipaddress
from pathlib import Path
from typing import Any

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
from kit.pgmode import BACKEND

#: SQLite tells a connection whether another one committed (PRAGMA data_version);
#: PostgreSQL has no such mark: apply reads the identities back every time there
MARKED = BACKEND != "postgresql"


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
                (stored,) = store.identities.add([other])
            assert _still_current(store, held, {}) is None
            # had this apply issued it, what add returned is the current version
            mine = _still_current(store, held, {"cas1": stored})
            now_held = store.identities.current()
    assert mine is not None
    assert mine["cas1"].certificate is other.certificate
    assert {n: (i.version, i.fingerprint, i.spki, i.source) for n, i in mine.items()} == {
        n: (i.version, i.fingerprint, i.spki, i.source) for n, i in now_held.items()
    }
    assert mine["cas1"].chain == now_held["cas1"].chain
    assert dataclasses.astuple(stored) == dataclasses.astuple(now_held["cas1"])


def test_add_returns_what_the_store_reads_back(tmp_path: Path) -> None:
    dep = _deployment(3, "internal")
    plan = make_plan(dep)
    with Store.init(tmp_path / "home", key_file=True, clock=lambda: NOW) as store:
        apply_plan(store, dep, NOW)
        with store.scoped(dep.name):
            issuers, _ = ensure_issuers(store, plan, NOW, needed={"internal-ca"})
            again = [issue_one(plan.get(n), "internal-ca", issuers, NOW) for n in ("cam", "cas2")]
            with store.transaction():
                stored = store.identities.add(again)
            back = store.identities.current()
    assert [s.name for s in stored] == ["cam", "cas2"]
    assert [s.version for s in stored] == [2, 2]
    for s in stored:
        assert dataclasses.astuple(s) == dataclasses.astuple(back[s.name])


def test_change_mark_moves_with_other_connections_commits_only(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Store.init(home, key_file=True, clock=lambda: NOW) as store:
        with store.transaction():
            mark = store.change_mark()
            store.audit.record("test", "own")  # this connection's own write
        if not MARKED:
            assert mark is None
            return
        assert mark is not None
        with store.transaction():
            assert store.change_mark() == mark
        with Store.open(home) as other, other.transaction():
            other.audit.record("test", "other")
        with store.transaction():
            assert store.change_mark() != mark


@pytest.mark.parametrize("other_write", ["audit", "issue"])
def test_apply_reads_identities_again_once_another_connection_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, other_write: str
) -> None:
    """While nobody else writes, apply fills the trust stores from what it holds in memory
    and reads nothing back; a commit by another connection while it issues (an audit row,
    or a version of the CAM another writer issued) sends it back to the store."""
    import ccapki.lifecycle.apply as apply_module

    dep = _deployment(PARALLEL_MIN + 4, "internal")
    plan = make_plan(dep)
    reads: list[bool] = []  # per read back: whether this apply's identities were current
    real = apply_module._still_current

    def counted(*args: Any) -> Any:
        got = real(*args)
        reads.append(got is not None)
        return got

    monkeypatch.setattr(apply_module, "_still_current", counted)
    with Store.init(tmp_path / "alone", key_file=True, clock=lambda: NOW) as store:
        apply_plan(store, dep, NOW)
    assert reads == ([] if MARKED else [True])  # nobody else wrote: nothing read back
    reads.clear()

    home = tmp_path / "home"
    interfered: list[str] = []

    def progress(done: int, _total: int) -> None:
        if not done or interfered:
            return
        with Store.open(home, clock=lambda: NOW) as other, other.scoped(dep.name):
            if other_write == "audit":
                other.audit.record("test", "cam")
            else:
                p = plan.get("cam")
                issuers, _ = ensure_issuers(other, plan, NOW, needed={signer_for(p, dep)})
                with other.transaction():
                    other.identities.add([issue_one(p, signer_for(p, dep), issuers, NOW)])
        interfered.append(other_write)

    with Store.init(home, key_file=True, clock=lambda: NOW) as store:
        result = apply_plan(store, dep, NOW, progress=progress)
        with store.scoped(dep.name):
            inv = load_inventory(store, dep)
            assert len(inv.identities) == PARALLEL_MIN + 5
            assert trust_changes(inv) == []  # every trust store complete all the same
    assert interfered == [other_write]
    # the CAM another writer issued before this apply committed its own is left to it
    assert result.issued_elsewhere == (("cam",) if other_write == "issue" else ())
    # an audit row: read back and found as this apply left them; a new version of the
    # CAM: not this apply's, so every identity is read again
    assert reads == [other_write == "audit"]


def test_batches_read_no_versions_back_while_nobody_else_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch apply commits is checked against the store's newest versions only once
    another connection has committed: alone, it neither asks which versions are newest nor
    reads their numbers, and stores the same versions and audit rows all the same."""
    from ccapki.store.identities import IdentityRepository

    dep = _deployment(PARALLEL_MIN + 4, "internal")
    asked: list[int] = []
    real = IdentityRepository.newest_fingerprints

    def counted(self: IdentityRepository, names: Any) -> Any:
        asked.append(len(names))
        return real(self, names)

    monkeypatch.setattr(IdentityRepository, "newest_fingerprints", counted)
    with Store.init(tmp_path / "home", key_file=True, clock=lambda: NOW) as store:
        first = apply_plan(store, dep, NOW)
        assert len(first.issued) == PARALLEL_MIN + 5
        assert (asked == []) == MARKED
        asked.clear()
        # a second apply days before they expire renews every identity: version 2 of
        # each, the keys of version 1 superseded, one audit row each that says so
        later = NOW + dt.timedelta(days=390)
        again = apply_plan(store, dep, later)
        assert len(again.issued) == PARALLEL_MIN + 5
        assert (asked == []) == MARKED
        with store.scoped(dep.name):
            held = store.identities.current()
            log = [e for e in store.audit.log(limit=10_000) if e.action == "issue"]
        assert {i.version for i in held.values()} == {2}
        assert store.count("keys") == 2 * (PARALLEL_MIN + 5) + 2
        states = {k.state for k in store.keys.list() if k.identity is not None}
    assert {str(s) for s in states} == {"active", "superseded"}
    assert len(log) == 2 * (PARALLEL_MIN + 5)
    newest = {e.subject: e for e in log if e.detail["version"] == 2}
    assert set(newest) == set(held)
    for name, e in newest.items():
        assert e.detail["fingerprint"] == held[name].fingerprint
        assert e.detail["source"] == "internal"


def test_apply_result_holds_the_identities_the_store_reads_back(tmp_path: Path) -> None:
    """What apply hands the CLI (so it says what it issued without reading every
    identity back) is what the store holds, version for version; a renewal's previous
    and new subject DNs are read from the stored columns alike."""
    dep = _deployment(PARALLEL_MIN + 4, "internal")
    with Store.init(tmp_path / "home", key_file=True, clock=lambda: NOW) as store:
        result = apply_plan(store, dep, NOW)
        assert result.stored is not None
        with store.scoped(dep.name):
            back = store.identities.current()
            assert sorted(result.stored) == sorted(back)
            for name, held in back.items():
                assert dataclasses.astuple(result.stored[name]) == dataclasses.astuple(held)
            changes = store.identities.subject_changes(["cam", "cas3", "nobody"])
        assert changes == {
            n: (None, back[n].certificate.subject.rfc4514_string()) for n in ("cam", "cas3")
        }
        # renewed twice: the version before the newest and the newest
        plan = make_plan(dep)
        p = plan.get("cas3")
        issuers, _ = ensure_issuers(store, plan, NOW, needed={signer_for(p, dep)})
        with store.scoped(dep.name):
            for _ in range(2):
                with store.transaction():
                    store.identities.add([issue_one(p, signer_for(p, dep), issuers, NOW)])
            versions = store.identities.history("cas3")
            assert [v.version for v in versions] == [1, 2, 3]
            assert store.identities.subject_changes(["cas3"]) == {
                "cas3": tuple(v.certificate.subject.rfc4514_string() for v in versions[1:])
            }
    # a dry run holds nothing
    with Store.open(tmp_path / "home", clock=lambda: NOW) as store:
        assert apply_plan(store, dep, NOW, dry_run=True).stored is None
