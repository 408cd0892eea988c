"""``apply`` with nothing to do answers from what the last such apply remembered (the file's
digest, the store's revision, the first renewal due) without reading every identity again,
and gives exactly the result (and the output) a full decision gives; anything that could
change that result makes it decide anew: another file, a write to the store (a key
retired, an identity added), time reaching a renewal window, another ccapki version."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import ccapki
from ccapki.lifecycle import apply as apply_mod
from ccapki.lifecycle.apply import ApplyResult, apply_plan
from ccapki.pki.certs import renewal_window
from ccapki.store import Store
from ccapki.topology.fastload import parse_deployment
from kit.certs import NOW
from kit.cli import Cli, ok, standalone, write
from lifecycle.conftest import PASSPHRASE, deployment, open_store

TEXT = deployment(
    cas=[
        standalone("cas1", "10.1.0.1"),
        standalone("cas2", "10.2.0.1", source="self-signed"),
        standalone("cas-tp", "10.6.0.1", source="third-party"),
    ]
)


def full(store: Store, text: str, now: dt.datetime) -> ApplyResult:
    """What deciding anew gives (a dry run decides the same; its result says dry_run)."""
    r = apply_plan(store, parse_deployment(text), now, dry_run=True)
    return ApplyResult(r.actions, (), (), False, (), r.not_in_file, r.renamed_from)


def known(store: Store, text: str, now: dt.datetime) -> ApplyResult | None:
    dep = parse_deployment(text)
    with store.scoped(dep.name):
        return apply_mod._known_nothing_to_do(store, dep, now, None)


@pytest.fixture
def applied(cli: Cli, home: Path, tmp_path: Path) -> Path:
    """A store that applied TEXT and then applied it again (nothing to do, remembered)."""
    path = write(tmp_path / "dep.toml", TEXT)
    ok(cli("init"))
    ok(cli("apply", path))
    ok(cli("apply", path))
    return home


def test_a_second_apply_with_nothing_to_do_is_answered_as_a_full_one(
    applied: Path, cli: Cli, tmp_path: Path
) -> None:
    with open_store(applied) as store:
        remembered = known(store, TEXT, NOW)
        assert remembered is not None
        assert remembered == full(store, TEXT, NOW)
        # the third-party identity waits for its CSR: said as ever
        kinds = {a.identity: a.kind.value for a in remembered.actions}
        assert kinds == {"cam": "nothing", "cas1": "nothing", "cas2": "nothing", "cas-tp": "csr"}
        # later, before any renewal: the days left are counted from the new time
        later = NOW + dt.timedelta(days=40)
        assert known(store, TEXT, later) == full(store, TEXT, later)
    # the command prints the same, JSON included
    path = tmp_path / "dep.toml"
    fast_json = ok(cli("apply", path, "--json")).out
    fast_text = ok(cli("apply", path))
    assert '"action": "nothing"' in fast_json
    assert fast_text.out.endswith("cas-tp: make a CSR (ccapki csr) and send it to the CA\n")


def test_the_command_prints_the_same_remembered_or_not(
    applied: Path, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "dep.toml"
    fast = [ok(cli("apply", path, *extra)) for extra in ((), ("--json",))]
    monkeypatch.setattr(apply_mod, "remembered_nothing_to_do", lambda *a: None)
    slow = [ok(cli("apply", path, *extra)) for extra in ((), ("--json",))]
    assert [(r.out, r.err) for r in fast] == [(r.out, r.err) for r in slow]


def test_a_changed_file_decides_anew(applied: Path, tmp_path: Path) -> None:
    grown = TEXT + "\n[[cas]]\n" + standalone("cas3", "10.3.0.1")
    shrunk = TEXT.replace("[[cas]]\n" + standalone("cas2", "10.2.0.1", source="self-signed"), "")
    assert "cas2" not in shrunk
    with open_store(applied) as store:
        for text in (grown, shrunk):
            assert known(store, text, NOW) is None
        # an identity removed from the file: the full decision says it is not in the file
        assert full(store, shrunk, NOW).not_in_file == ("cas2",)


def test_a_write_to_the_store_decides_anew(applied: Path, cli: Cli, tmp_path: Path) -> None:
    ok(cli("csr", "cas-tp", "--out", tmp_path / "csrs"))  # a pending key: waiting for the CA
    with open_store(applied) as store:
        assert known(store, TEXT, NOW) is None
        assert {a.identity: a.kind.value for a in full(store, TEXT, NOW).actions}[
            "cas-tp"
        ] == "await-ca"
    ok(cli("apply", tmp_path / "dep.toml"))  # remembered again
    with open_store(applied) as store:
        assert known(store, TEXT, NOW) == full(store, TEXT, NOW)
        (key,) = [k for k in store.keys.list() if k.state.value == "pending"]
    ok(cli("keys", "retire", key.fingerprint))
    with open_store(applied) as store:
        assert known(store, TEXT, NOW) is None
        assert full(store, TEXT, NOW).actions[-1].kind.value == "csr"


def test_time_reaching_a_renewal_window_decides_anew(applied: Path) -> None:
    with open_store(applied) as store:
        # the self-signed (temporary) certificate is due first
        due = min(
            i.certificate.not_valid_after_utc - renewal_window(i.certificate)
            for i in store.identities.current().values()
        )
        before, at = due - dt.timedelta(minutes=1), due
        assert known(store, TEXT, before) == full(store, TEXT, before)
        assert known(store, TEXT, at) is None
        assert "renew" in {a.kind.value for a in full(store, TEXT, at).actions}
        # and a clock before the remembered decision: decided anew too
        assert known(store, TEXT, NOW - dt.timedelta(seconds=1)) is None


def test_another_ccapki_version_decides_anew(
    applied: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ccapki, "__version__", "0.0.0-other")
    with open_store(applied) as store:
        assert known(store, TEXT, NOW) is None


def test_other_rules_of_the_same_version_decide_anew(
    applied: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a build of the same version whose planning code differs (a walkthrough saw an
    # upgraded checkout answer "nothing to do" where its plan said "would reissue")
    with open_store(applied) as store:
        assert known(store, TEXT, NOW) == full(store, TEXT, NOW)
        with monkeypatch.context() as m:  # (monkeypatch itself holds the backend's patches)
            m.setattr(apply_mod, "_rules_digest", lambda: "other planning code")
            assert known(store, TEXT, NOW) is None
        apply_mod._rules_digest.cache_clear()  # this code's modules, read again
        assert known(store, TEXT, NOW) == full(store, TEXT, NOW)


def test_the_rules_digest_reads_the_planning_code() -> None:
    import hashlib
    import importlib.util

    h = hashlib.sha256()
    for name in apply_mod._RULE_MODULES:
        spec = importlib.util.find_spec(name)
        assert spec is not None
        assert spec.origin is not None
        h.update(name.encode() + b"\0" + Path(spec.origin).read_bytes())
    assert apply_mod._rules_digest() == h.hexdigest()
    assert "ccapki.topology.plan" in apply_mod._RULE_MODULES


def test_a_wrong_passphrase_still_fails(applied: Path, cli: Cli, tmp_path: Path) -> None:
    r = cli("apply", tmp_path / "dep.toml", env={"CCAPKI_PASSPHRASE": PASSPHRASE + "x"})
    assert r.code == 2, r.both
    assert "error:" in r.err


def test_the_command_does_not_parse_a_remembered_file(
    applied: Path, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "dep.toml"
    expected = ok(cli("apply", path))
    from ccapki.topology import fastload, loader

    def refuse(*_args: object) -> None:
        raise AssertionError("parsed")

    for module in (fastload, loader):
        monkeypatch.setattr(module, "parse_deployment", refuse)
    again = ok(cli("apply", path))
    assert (again.out, again.err) == (expected.out, expected.err)


def test_the_command_on_another_deployment_or_file_decides_anew(
    applied: Path, cli: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "dep.toml"
    r = cli("--deployment", "other", "apply", path)
    assert r.code == 2, r.both
    assert "names 'other'" in r.err
    # the same name, another text: issues what it adds
    write(path, TEXT + "\n[[cas]]\n" + standalone("cas3", "10.3.0.1"))
    assert "issued cas3 v1" in ok(cli("apply", path)).out


@pytest.mark.sqlite_only  # a read-only SQLite file (PostgreSQL: the server's rights)
def test_a_read_only_store_still_says_so(applied: Path, tmp_path: Path) -> None:
    from kit.readonly import run_read_only

    r = run_read_only(applied, "apply", str(tmp_path / "dep.toml"))
    assert r.code == 2, r.both
    assert "is read-only" in r.err, r.both


def test_the_apply_that_issued_remembers_there_is_nothing_left(
    cli: Cli, home: Path, tmp_path: Path
) -> None:
    """The apply after the one that issued everything answers from memory too (10,000
    identities: 2 s of reading every certificate back, before): the issuing apply knows
    what the store then holds and remembers what applying the file again gives."""
    path = write(tmp_path / "dep.toml", TEXT)
    ok(cli("init"))
    first = ok(cli("apply", path))
    assert "cas1" in first.out
    with open_store(home) as store:
        remembered = known(store, TEXT, NOW)
        assert remembered is not None
        assert remembered == full(store, TEXT, NOW)
        kinds = {a.identity: a.kind.value for a in remembered.actions}
        assert kinds == {"cam": "nothing", "cas1": "nothing", "cas2": "nothing", "cas-tp": "csr"}
    second = ok(cli("apply", path))
    assert second.out == "cas-tp: make a CSR (ccapki csr) and send it to the CA\n"
    # any write since (here the third-party identity's CSR) makes it decide anew
    ok(cli("csr", "cas-tp", "--out", tmp_path / "csrs"))
    with open_store(home) as store:
        assert known(store, TEXT, NOW) is None


def test_after_a_bulk_apply_the_next_one_decides_and_remembers(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deciding what applying again gives reads each new certificate (a third of a bulk
    apply's cost): an apply that issued more than REMEMBER_AT_MOST leaves it to the next
    apply, which decides in full and remembers it for the one after."""
    from ccapki.cli import main

    monkeypatch.setattr(apply_mod, "REMEMBER_AT_MOST", 2)  # TEXT issues three
    monkeypatch.setenv("CCAPKI_HOME", str(home))
    monkeypatch.setenv("CCAPKI_PASSPHRASE", PASSPHRASE)
    assert main(["init"]) == 0
    with open_store(home) as store:
        dep = parse_deployment(TEXT)
        with store.scoped(dep.name):
            assert len(apply_plan(store, dep, NOW).issued) == 3
        assert known(store, TEXT, NOW) is None
        with store.scoped(dep.name):
            assert apply_plan(store, dep, NOW).issued == ()
        assert known(store, TEXT, NOW) == full(store, TEXT, NOW)
