"""Arguments of the wrong type at the Python API's public functions.

``load_deployment(5)`` raised a bare ``TypeError`` ("expected str, bytes or os.PathLike
object, not int") from inside, as did ``open_store(None)``, ``read_files(5)``,
``check_trust(..., clients=None)`` or ``create_backup(store, None, ...)``; a name where a
``Store`` goes, ``make_plan("campus")``, ``commit_renewal(store, dep, 5)`` or
``export(store, "cas-dorm", password=5)`` escaped as ``AttributeError``; and
``service_certificate(store, "host.example.org")`` took the name letter by letter (a
certificate for "h", "o", "s", ...). Each raises ``InputError`` now, naming the parameter,
with a hint, as a string where a time goes always did (walkthrough O).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import ccapki
from kit.certs import NOW
from kit.cli import FAQ


@pytest.fixture
def faq(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ccapki.Deployment]:
    # one per test: under CCAPKI_TEST_BACKEND=postgresql each test has its own schema
    dep = ccapki.load_deployment(FAQ)
    home = tmp_path_factory.mktemp("types") / "home"
    with ccapki.init_store(home, key_file=True, clock=lambda: NOW) as store:
        ccapki.apply(store, dep)
    return home, dep


@pytest.fixture
def opened(faq: tuple[Path, ccapki.Deployment]) -> Iterator[tuple[Any, ccapki.Deployment]]:
    home, dep = faq
    with ccapki.open_store(home, clock=lambda: NOW) as store:
        yield store, dep


def _refused(
    said: str, call: Callable[..., object], *args: Any, **kwargs: Any
) -> ccapki.InputError:
    """``call(*args, **kwargs)`` raises an InputError (never a bare TypeError or
    AttributeError from inside) whose message says ``said``, with a hint."""
    with pytest.raises(ccapki.InputError) as err:
        call(*args, **kwargs)
    assert said in err.value.message, err.value.message
    assert err.value.hint, err.value.message
    assert "\n" not in err.value.message
    return err.value


@pytest.mark.parametrize("bad", [5, None, b"campus.toml", ["campus.toml"], ""])
def test_load_deployment_of_what_is_not_a_path(bad: object) -> None:
    e = _refused("path=", ccapki.load_deployment, bad)
    assert "pathlib.Path" in e.hint


def test_paths_to_a_folder_or_a_missing_file(tmp_path: Path) -> None:
    _refused("is a folder", ccapki.load_deployment, tmp_path)
    _refused("no such file", ccapki.load_deployment, tmp_path / "missing.toml")
    _refused("no such file", ccapki.read_files, tmp_path / "missing.pem")


@pytest.mark.parametrize("bad", [5, None, b"/srv/ccapki"])
def test_a_home_that_is_not_a_path(bad: object, tmp_path: Path) -> None:
    _refused("home=", ccapki.open_store, bad)
    _refused("home=", ccapki.init_store, bad, key_file=True)
    _refused("home=", ccapki.store_exists, bad)
    assert list(tmp_path.iterdir()) == []


def test_a_path_holding_a_nul_is_refused_before_any_system_call(
    tmp_path: Path, opened: tuple[Any, ccapki.Deployment]
) -> None:
    """A NUL in a path made the system's calls raise a bare ValueError ("embedded null
    byte"), which a script catching ccapki.CcapkiError did not catch."""
    store, _ = opened
    bad = f"{tmp_path}/store\0x"
    for call, args, kwargs in (
        (ccapki.load_deployment, ("campus\0.toml",), {}),
        (ccapki.open_store, (bad,), {}),
        (ccapki.init_store, (bad,), {"key_file": True}),
        (ccapki.store_exists, (bad,), {}),
        (ccapki.read_files, (["ok.pem", "bad\0.pem"],), {}),
        (ccapki.create_backup, (store, "night\0.backup", "a long passphrase"), {}),
    ):
        e = _refused("holds a NUL character", call, *args, **kwargs)
        assert isinstance(e, ccapki.CcapkiError)
    assert list(tmp_path.iterdir()) == []


def test_open_and_init_settings_of_the_wrong_type(
    faq: tuple[Path, ccapki.Deployment], tmp_path: Path
) -> None:
    home, _ = faq
    _refused("passphrase", ccapki.open_store, home, 5)
    _refused("wait=", ccapki.open_store, home, wait="60")
    _refused("clock=", ccapki.open_store, home, clock=NOW)
    _refused("deployment=", ccapki.open_store, home, deployment=5)
    _refused("upgrade=", ccapki.open_store, home, upgrade="no")
    new = tmp_path / "new"
    e = _refused("passphrase", ccapki.init_store, new, passphrase=b"long enough")
    assert isinstance(e, ccapki.PasswordError)
    assert not new.exists()


def test_deployment_functions(opened: tuple[Any, ccapki.Deployment]) -> None:
    store, _ = opened
    _refused("text=", ccapki.parse_deployment, b"[deployment]")
    _refused("is not a Deployment", ccapki.make_plan, "faq-campus")
    _refused("is not a Deployment", ccapki.pending_actions, store, None)
    _refused("Deployment", ccapki.rotation_what_if, store, "faq-campus", "cam")
    _refused("is not a Deployment", ccapki.create_cas, store, "faq-campus")
    _refused("is not a Deployment", ccapki.probe_endpoints, store, "faq-campus")


@pytest.mark.parametrize("bad", [None, "/srv/ccapki", 5])
def test_what_is_not_a_store(bad: object, faq: tuple[Path, ccapki.Deployment]) -> None:
    _, dep = faq
    calls: list[tuple[Callable[..., object], tuple[object, ...]]] = [
        (ccapki.apply, (bad, dep)),
        (ccapki.pending_actions, (bad, dep)),
        (ccapki.check_trust, (bad, dep)),
        (ccapki.client_roots, (bad,)),
        (ccapki.estate_status, (bad,)),
        (ccapki.store_revision, (bad,)),
        (ccapki.export, (bad, "cas-dorm")),
        (ccapki.stored_deployment, (bad,)),
        (ccapki.inspect_identity, (bad, dep, "cas-dorm")),
    ]
    for call, args in calls:
        e = _refused("is not a Store", call, *args)
        assert e.message.startswith("store="), e.message
        assert "open_store" in e.hint


def test_store_functions(opened: tuple[Any, ccapki.Deployment], tmp_path: Path) -> None:
    store, dep = opened
    for bad in (5, None, b"roots.pem"):
        _refused("clients=", ccapki.check_trust, store, dep, clients=bad)
        _refused("paths=", ccapki.read_files, bad)
        _refused("paths=", ccapki.import_files, store, dep, bad)
        _refused("path=", ccapki.create_backup, store, bad, "backup passphrase 1")
        _refused("identity=", ccapki.export, store, bad)
        _refused("identity=", ccapki.inspect_identity, store, dep, bad)
    _refused("is a folder", ccapki.check_trust, store, dep, clients=tmp_path)
    _refused("paths=5", ccapki.read_files, [tmp_path / "a.pem", 5])
    _refused("password", ccapki.read_files, tmp_path, password=5)
    _refused("materials=", ccapki.import_materials, store, dep, "cert.pem")
    _refused("materials=5", ccapki.import_materials, store, dep, [5])
    _refused("password", ccapki.export, store, "cas-dorm", "pkcs12", password=5)
    _refused("identities=", ccapki.make_csrs, store, dep, 5)
    # the FAQ file has no third-party identity: said so, in the API's words (a walkthrough
    # got "no identity named" and a hint to "pass --all")
    e = _refused("has no third-party identity", ccapki.make_csrs, store, dep)
    assert "--all" not in (e.hint or "")
    e = _refused("no identity named (an empty list)", ccapki.make_csrs, store, dep, [])
    assert "--all" not in (e.hint or "")
    _refused("names=", ccapki.plan_renewal, store, dep, names=5)
    _refused("started=", ccapki.plan_renewal, store, dep, started="2026-11-29")
    plan = ccapki.plan_renewal(store, dep)
    _refused("plan=", ccapki.commit_renewal, store, dep, 5)
    _refused("deliver=", ccapki.commit_renewal, store, dep, plan, deliver=5)
    _refused("deployments=", ccapki.estate_status, store, deployments=5)
    _refused("limit=", ccapki.inventory_page, store, dep, limit="10")
    _refused("cursor=", ccapki.inventory_page, store, dep, cursor=5)
    _refused("name=", ccapki.stored_deployment, store, 5)
    _refused("dry_run=", ccapki.apply, store, dep, dry_run="no")
    _refused("prune=", ccapki.plan_trust, store, dep, prune="yes")
    _refused("names=", ccapki.service_certificate, store, 5)
    _refused("days=", ccapki.service_certificate, store, ["h"], days="30")
    # names that are no DNS name (a walkthrough got a certificate naming "", "bad name!",
    # "1.2.3.4.5" and "*.*.x"); nothing issued
    for bad in ("", "bad name!", "1.2.3.4.5", "*.*.x", "a..b", "-x.example.org"):
        _refused("is neither a DNS name nor an IP address", ccapki.service_certificate,
                 store, ["ok.example.org", bad])  # fmt: skip
    assert list(tmp_path.iterdir()) == []  # no backup file, nothing half-written


def test_one_name_is_one_name_for_the_service_certificate(
    opened: tuple[Any, ccapki.Deployment],
) -> None:
    from cryptography import x509

    store, _ = opened
    chain, _key = ccapki.service_certificate(store, "ccapki.example.org", now=NOW)
    names = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["ccapki.example.org"]


def test_the_right_types_still_work(opened: tuple[Any, ccapki.Deployment]) -> None:
    store, dep = opened
    assert ccapki.export(store, "cas-dorm", "cert").startswith(b"-----BEGIN CERTIFICATE")
    assert ccapki.estate_status(store, deployments="faq-campus").items
    assert ccapki.plan_renewal(store, dep, names="cas-dorm", due=False).items
    assert ccapki.make_plan(dep).certificates_needed == 6
    if os.environ.get("CCAPKI_TEST_BACKEND") != "postgresql":  # a SQLite file in the home
        assert ccapki.store_exists(Path(store.home))


def test_a_wrong_typed_password_is_a_password_error(
    opened: tuple[Any, ccapki.Deployment], tmp_path: Path
) -> None:
    """docs/api.md: "a wrong-typed passphrase, password or PIN: PasswordError". The
    passwords of ``read_files``, ``import_files`` and ``export``, and the passphrase of
    ``create_backup``, raised a plain InputError (walkthrough U)."""
    store, dep = opened
    for e in (
        _refused("password", ccapki.read_files, tmp_path, password=5),
        _refused("password", ccapki.import_files, store, dep, [tmp_path], password=5),
        _refused("password", ccapki.export, store, "cas-dorm", "pkcs12", password=5),
        _refused("passphrase", ccapki.create_backup, store, tmp_path / "b", b"passphrase 1"),
    ):
        assert isinstance(e, ccapki.PasswordError), e.message
    assert list(tmp_path.iterdir()) == []


def test_a_passphrase_function_returning_no_str_is_a_password_error(tmp_path: Path) -> None:
    """A passphrase function is called when the store first needs its keys: what it returns
    is checked there (a walkthrough's ``lambda: 5`` gave AttributeError: 'int' object has
    no attribute 'encode', from inside the key derivation)."""
    home = tmp_path / "locked"
    ccapki.init_store(home, passphrase="a long passphrase").close()
    for wrong in (lambda: 5, lambda: None, lambda: b"a long passphrase"):
        with ccapki.open_store(home, wrong) as store:
            e = _refused("the passphrase function returned", store.unlock)
        assert isinstance(e, ccapki.PasswordError), e.message
    with ccapki.open_store(home, lambda: "a long passphrase") as store:
        store.unlock()


def test_the_names_docs_api_md_uses_are_importable() -> None:
    """docs/api.md names ``StoreBusy`` (a ``StoreError``) and ``ImportResult.held``'s
    ``Held``: both were missing from ``ccapki`` (a walkthrough's AttributeError)."""
    from ccapki import Held, StoreBusy
    from ccapki.errors import StoreBusy as Busy
    from ccapki.lifecycle.importing import Held as Kept

    assert (Held, StoreBusy) == (Kept, Busy)
    assert issubclass(StoreBusy, ccapki.StoreError)
    assert {"Held", "StoreBusy"} <= set(ccapki.__all__)


def test_init_store_refuses_a_passphrase_with_key_file(tmp_path: Path) -> None:
    """Both given: which seals the keys? A walkthrough's store was made with data.key and the
    passphrase silently ignored. Nothing is made."""
    home = tmp_path / "both"
    e = _refused("both a passphrase and key_file=True", ccapki.init_store, home,
                 passphrase="a long passphrase", key_file=True)  # fmt: skip
    assert "key_file=True without a passphrase" in (e.hint or "")
    assert not home.exists()
