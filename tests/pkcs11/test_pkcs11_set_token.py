"""Walkthrough: no command changed where the store says a CA key in a PKCS#11 token is
(the key object relabelled or the token re-initialised, the module moved): `ccapki ca
set-token CA --pkcs11-uri URI [--pkcs11-module PATH]` records the new place once the key
it names is reached with the PIN, is the CA's (public key, and a signature the CA
certificate verifies), audited; a key that is not the CA's is an error + hint with
nothing changed. A real SoftHSM2 token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pkcs11_softhsm import LABEL, SoftHsm
from test_pkcs11_token import _check_chain, _current, _faq_in_token

from ccapki.store.session import Store
from kit.cli import FAQ, Cli, error_with_hint, ok


def _relabel(hsm: SoftHsm, old: str, new: str) -> None:
    """Every object (private and public key) labelled ``old`` relabelled ``new``."""
    from pkcs11 import Attribute

    session: Any = hsm.session()
    try:
        for obj in list(session.get_objects({Attribute.LABEL: old})):
            obj[Attribute.LABEL] = new
    finally:
        session.close()
    from ccapki.hsm import token

    token.close_all()


def _places(cli: Cli) -> dict[str, Any]:
    return {p["kind"]: p for p in ok(cli("ca", "list", "--json")).json()}


def _audit(home: Path) -> list[Any]:
    with Store.open(home) as store:
        return [e for e in store.audit.log(1000) if e.action == "ca-set-token"]


def test_set_token_after_the_key_was_relabelled(
    softhsm: SoftHsm, cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", _faq_in_token(tmp_path)))
    before = _places(cli)
    _relabel(softhsm, "campus appliance ca", "appliance-ca-2")
    # the stored URI no longer finds it: signing stops
    r = error_with_hint(cli("renew", "cam", "--commit"))
    assert "is not in the token" in r.err, r.both
    new_uri = f"pkcs11:token={LABEL};object=appliance-ca-2"
    r = ok(cli("ca", "set-token", "internal-ca", "--pkcs11-uri", new_uri))
    name = before["internal-ca"]["name"]
    assert f"CA {name} (internal-ca): its key is now recorded at {new_uri};id=" in r.out, r.out
    assert before["internal-ca"]["uri"] in r.out  # the old place, said
    after = _places(cli)
    assert after["internal-ca"]["uri"].startswith(new_uri + ";id=")
    assert after["internal-root"] == before["internal-root"]
    (entry,) = _audit(keyfile_store)
    assert entry.subject == name
    assert entry.detail["old_uri"] == before["internal-ca"]["uri"]
    assert entry.detail["uri"] == after["internal-ca"]["uri"]
    assert softhsm.pin not in str(entry.detail)
    # signing works again, with the key at its new label
    ok(cli("renew", "cam", "--commit"))
    cam = _current(keyfile_store)["cam"]
    assert cam.version == 2
    _check_chain(tmp_path, cam.certificate, cam.chain)
    # the same again: nothing changed, nothing logged
    r = ok(cli("ca", "set-token", name, "--pkcs11-uri", after["internal-ca"]["uri"]))
    assert "nothing changed" in r.out, r.out
    assert len(_audit(keyfile_store)) == 1


def test_set_token_refuses_a_key_that_is_not_the_cas(
    softhsm: SoftHsm, cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", _faq_in_token(tmp_path)))
    before = _places(cli)
    other = f"pkcs11:token={LABEL};object=campus%20appliance%20ca"  # the intermediate's key
    r = error_with_hint(cli("ca", "set-token", "internal-root", "--pkcs11-uri", other))
    assert "is not CA" in r.err, r.both
    assert "differs from the CA certificate's" in r.err, r.both
    assert "nothing was changed" in r.err, r.both
    # no such object, a wrong PIN, an unknown CA: each one error, nothing changed
    r = error_with_hint(
        cli("ca", "set-token", "internal-root", "--pkcs11-uri", f"pkcs11:token={LABEL};object=x")
    )
    assert "not in the token" in r.err, r.both
    from ccapki.hsm import token

    token.close_all()  # one login per token and process: log in again, with a wrong PIN
    r = error_with_hint(
        cli(
            "ca",
            "set-token",
            "internal-root",
            "--pkcs11-uri",
            f"pkcs11:token={LABEL};object=campus-root",
            env={"CCAPKI_PKCS11_PIN": "not-the-pin"},
        )
    )
    assert "wrong user PIN" in r.err, r.both
    assert "not-the-pin" not in r.both
    r = error_with_hint(cli("ca", "set-token", "no-such-ca", "--pkcs11-uri", other))
    assert "no CA named 'no-such-ca'" in r.err, r.both
    assert before["internal-root"]["name"] in r.err  # the CAs there are
    assert _places(cli) == before
    assert _audit(keyfile_store) == []


def test_set_token_records_a_moved_module(
    softhsm: SoftHsm, cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", _faq_in_token(tmp_path)))
    moved = tmp_path / "vendor" / "libsofthsm2.so"
    moved.parent.mkdir()
    moved.symlink_to(softhsm.module)
    no_env = {"CCAPKI_PKCS11_MODULE": None}
    from ccapki.hsm import token

    token.close_all()  # python-pkcs11 loads one module per process (a new CLI run's state)
    for kind, place in _places(cli).items():  # the module moved for both CA keys
        r = ok(cli("ca", "set-token", kind, "--pkcs11-uri", place["uri"], "--pkcs11-module", moved))
        assert f"(module {moved})" in r.out, r.out
        assert f"was {place['uri']}" in r.out, r.out
    assert {p["module"] for p in _places(cli).values()} == {str(moved)}
    # without CCAPKI_PKCS11_MODULE the recorded module is used
    ok(cli("renew", "cam", "--commit", env=no_env))
    assert _current(keyfile_store)["cam"].version == 2


def test_set_token_of_a_key_in_the_store_is_refused(cli: Cli, keyfile_store: Path) -> None:
    ok(cli("apply", FAQ))  # CA keys sealed in the store
    r = error_with_hint(
        cli("ca", "set-token", "internal-root", "--pkcs11-uri", "pkcs11:token=t;object=o")
    )
    assert "sealed in the store, not in a PKCS#11 token" in r.err, r.both
