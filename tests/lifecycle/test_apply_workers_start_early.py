"""A bulk ``apply`` starts its issuing workers as soon as it knows what to issue and with
which CAs: they issue while the deciding transaction ends and commits. Nothing they issue
is kept unless the decision commits: an error after the workers started stops them, and
the store holds none of it. The deployment file's version is recorded before the CAs are
found or made (what it says of a CA shared with other deployments decides which)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import multiprocessing
from pathlib import Path

import pytest

from ccapki.lifecycle import apply as apply_mod
from ccapki.lifecycle.apply import PARALLEL_MIN, apply_plan
from ccapki.store import Store
from ccapki.store.cas import CARepository
from ccapki.topology.loader import parse_deployment
from ccapki.topology.model import Deployment
from kit.certs import NOW


def _deployment(n: int, *, shared: bool = False) -> Deployment:
    out = [
        '[deployment]\nname = "bulk"\nrelease = "4.9.1"\norganization = "Bulk Org"\n'
        'source = "internal"\nkey = "ecdsa-p256"\n' + ('ca = "shared"\n' if shared else ""),
        '[cam]\nname = "cam"\nhostname = "cam.bulk.test"\nip = "10.0.0.1"\n',
    ]
    for i in range(n):
        ip = ipaddress.ip_address(int(ipaddress.ip_address("10.1.0.0")) + i)
        out.append(f'[[cas]]\nname = "cas{i}"\nhostname = "cas{i}.bulk.test"\nip = "{ip}"\n')
    return parse_deployment("\n".join(out), "bulk.toml")


def test_workers_issue_while_the_decision_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dep = _deployment(PARALLEL_MIN)
    seen: list[int] = []  # workers alive when apply lists the CAs it made (in the decision)
    listed = CARepository.list

    def watched(self: CARepository, *args: object, **kwargs: object) -> object:
        seen.append(len(multiprocessing.active_children()))
        return listed(self, *args, **kwargs)  # type: ignore[arg-type]

    with Store.init(tmp_path / "s", key_file=True, clock=lambda: NOW) as store:
        monkeypatch.setattr(CARepository, "list", watched)
        result = apply_plan(store, dep, NOW)
        monkeypatch.undo()
        assert len(result.issued) == PARALLEL_MIN + 1
        assert len(store.identities.current()) == PARALLEL_MIN + 1
    assert seen, "the CAs made were never listed"
    assert max(seen) >= 2, "the workers were not at work yet"
    assert multiprocessing.active_children() == []


def test_an_error_after_the_workers_started_stops_them_and_keeps_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dep = _deployment(PARALLEL_MIN)

    def broken(self: CARepository, *args: object, **kwargs: object) -> object:
        if multiprocessing.active_children():  # the workers are at work: fail now
            raise OSError("the disk is full")
        return CARepository.__dict__["_real_list"](self, *args, **kwargs)

    with Store.init(tmp_path / "s", key_file=True, clock=lambda: NOW) as store:
        monkeypatch.setattr(CARepository, "_real_list", CARepository.list, raising=False)
        monkeypatch.setattr(CARepository, "list", broken)
        with pytest.raises(OSError, match="disk is full"):
            apply_plan(store, dep, NOW)
        monkeypatch.undo()
        assert multiprocessing.active_children() == []  # stopped and reaped
        assert store.identities.current() == {}
        assert store.cas.list() == []  # the CAs made for it: rolled back with the decision
        assert store.deployments.names() == []  # the file's version too
    assert apply_mod._FORK_JOBS == []  # what the workers inherited is let go


def _kept_facts(store: Store) -> list[str | None]:
    from sqlalchemy import select

    from ccapki.store import schema as t

    with store.connection() as c:
        return [r.facts for r in c.execute(select(t.deployments.c.facts))]


@pytest.mark.parametrize("shared", [False, True], ids=["own-cas", "shared-cas"])
def test_the_files_whole_facts_are_made_while_the_workers_issue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared: bool
) -> None:
    """Before the workers start, the file's version is kept with only what deciding
    reads of it (its name, whether it shares the store's CAs); its whole facts (the
    names of every identity: ~0.1 s at 10,000) are made while they issue. What the store
    keeps in the end is the whole, and a shared deployment's CAs are the shared ones."""
    from ccapki.lifecycle.status import settings_json
    from ccapki.store.records import SHARED_CAS

    dep = _deployment(PARALLEL_MIN, shared=shared)
    alive: list[int] = []  # workers at work when the whole facts are made
    made = apply_mod.settings_json

    def watched(*args: object, whole: bool = True, **kwargs: object) -> str:
        if whole:
            alive.append(len(multiprocessing.active_children()))
        return made(*args, whole=whole, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(apply_mod, "settings_json", watched)
    with Store.init(tmp_path / "s", key_file=True, clock=lambda: NOW) as store:
        apply_plan(store, dep, NOW)
        assert alive, "the whole facts were never made"
        assert min(alive) >= 2, alive
        assert _kept_facts(store) == [settings_json(dep)]
        cas = store.cas.list()
        assert len(cas) == 2
        assert {c.deployment for c in cas} == {SHARED_CAS if shared else dep.name}
        # the same file again, every identity come due: its kept facts stay whole
        alive.clear()
        later = NOW + dt.timedelta(days=800)
        again = apply_plan(store, dep, later)
        assert len(again.issued) == PARALLEL_MIN + 1
        assert alive, "the whole facts were never made"
        assert min(alive) >= 2, alive
        assert _kept_facts(store) == [settings_json(dep)]
