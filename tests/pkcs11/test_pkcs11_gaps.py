"""Issue 14 part 2, the gaps closed after it was built: `keys list` shows the CA keys in a
token without reaching it, the Python API creates CAs in a token, and what a new
administrator ran into on a real SoftHSM2 token (a PIN in a URI however spelt, an empty PIN
variable, a folder as the module, a token label typo, a slot number that changes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pkcs11_softhsm import LABEL, MODULE, SoftHsm

import ccapki
from ccapki.store.session import Store
from kit.certs import NOW
from kit.cli import FAQ, Cli, db_bytes, error_with_hint, ok

ROOT_URI = f"pkcs11:token={LABEL};object=campus-root"
CA_URI = f"pkcs11:token={LABEL};object=campus%20appliance%20ca"
ROOT_NAME = "Example University Clean Access Root CA"
CA_NAME = "Example University Clean Access Appliance CA"
SECRET = "SECRET-4711-pin"


def _faq_in_token(tmp_path: Path, root: str = ROOT_URI, ca: str = CA_URI) -> Path:
    text = FAQ.read_text(encoding="utf-8")
    text += f'\n[ca]\nroot_pkcs11_uri = "{root}"\nintermediate_pkcs11_uri = "{ca}"\n'
    path = tmp_path / "faq-hsm.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _nothing_written(home: Path) -> None:
    with Store.open(home) as store:
        assert store.cas.list() == []
        assert store.token_keys.list() == []
        assert store.identities.current() == {}


# ---------------------------------------------------------------------------- keys list


def test_keys_list_shows_the_token_keys_without_reaching_the_token(
    softhsm: SoftHsm, cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", _faq_in_token(tmp_path)))
    from ccapki.hsm import token

    token.close_all()
    # no PIN, and no module that loads: listing reads the store only
    away = {"CCAPKI_PKCS11_PIN": None, "CCAPKI_PKCS11_MODULE": "/nope/libp11.so"}
    rows: list[dict[str, Any]] = ok(cli("keys", "list", "--json", env=away)).json()
    in_token = [r for r in rows if r["where"] != "store"]
    assert sorted((r["ca"], r["key_type"], r["where"], r["state"]) for r in in_token) == [
        (CA_NAME, "ecdsa-p256", f"token {LABEL}", "ca"),
        (ROOT_NAME, "ecdsa-p384", f"token {LABEL}", "ca"),
    ]
    with Store.open(keyfile_store) as store:
        recorded = {r.fingerprint: r.uri for r in store.token_keys.list()}
    assert {r["fingerprint"]: r["uri"] for r in in_token} == recorded
    assert all(r["token"] == LABEL and r["identity"] is None for r in in_token)
    identities = [r for r in rows if r["where"] == "store"]
    assert len(identities) == 6
    assert all(r["ca"] is None for r in identities)
    assert token._LIBS == {}  # no module was loaded
    text = ok(cli("keys", "list", env=away)).out.splitlines()
    assert text[0].split() == ["fingerprint", "state", "type", "identity", "created", "where"]
    assert len(text) == 1 + len(rows)
    assert sum(line.endswith(f"token {LABEL}: CA {ROOT_NAME}") for line in text) == 1
    assert sum(line.endswith(f"token {LABEL}: CA {CA_NAME}") for line in text) == 1
    assert softhsm.pin not in "\n".join(text)


def test_keys_list_names_the_ca_of_a_key_sealed_in_the_store(
    softhsm: SoftHsm, cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """Only the root in the token: the intermediate's key is sealed in the store."""
    text = FAQ.read_text(encoding="utf-8") + f'\n[ca]\nroot_pkcs11_uri = "{ROOT_URI}"\n'
    (tmp_path / "root-only.toml").write_text(text, encoding="utf-8")
    ok(cli("apply", tmp_path / "root-only.toml"))
    rows: list[dict[str, Any]] = ok(cli("keys", "list", "--json")).json()
    cas = {r["ca"]: r["where"] for r in rows if r["state"] == "ca"}
    assert cas == {ROOT_NAME: f"token {LABEL}", CA_NAME: "store"}


# ---------------------------------------------------------------------------- the API


def test_the_api_creates_the_cas_in_the_token(
    softhsm: SoftHsm, keyfile_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CCAPKI_PKCS11_PIN")  # the PIN comes from the caller
    dep = ccapki.load_deployment(FAQ)
    asked: list[str] = []

    def pin(label: str) -> str:
        asked.append(label)
        return softhsm.pin

    with ccapki.open_store(keyfile_store, clock=lambda: NOW) as store:
        with pytest.raises(ccapki.InputError) as bad:
            ccapki.create_cas(store, dep, root_pkcs11_uri=f"{ROOT_URI};pin-value={SECRET}")
        assert SECRET not in bad.value.message + bad.value.hint
        with pytest.raises(ccapki.TokenError) as wrong:
            ccapki.create_cas(store, dep, root_pkcs11_uri=ROOT_URI, pin="not-the-pin")
        assert "wrong user PIN" in wrong.value.message
        assert store.token_keys.list() == []
        from ccapki.hsm import token

        token.close_all()
        made = ccapki.create_cas(
            store, dep, root_pkcs11_uri=ROOT_URI, intermediate_pkcs11_uri=CA_URI, pin=pin
        )
        assert asked == [LABEL]  # once per token
        assert [(p.kind, p.name, p.where) for p in made] == [
            ("internal-root", ROOT_NAME, "token"),
            ("internal-ca", CA_NAME, "token"),
        ]
        assert all(p.uri is not None and p.uri.startswith(f"pkcs11:token={LABEL};") for p in made)
        assert ccapki.create_cas(store, dep) == []  # both there: nothing made
        with pytest.raises(ccapki.InputError, match="has its internal root CA already"):
            ccapki.create_cas(store, dep, root_pkcs11_uri=ROOT_URI)
        result = ccapki.apply(store, dep)  # signs with the token keys, logged in already
        assert len(result.issued) == 6
    assert softhsm.pin.encode() not in db_bytes(keyfile_store)


# ---------------------------------------------------------------------------- walkthrough


@pytest.mark.parametrize(
    "uri",
    [
        f"{ROOT_URI};pin%2Dvalue={SECRET}",
        f"{ROOT_URI};PIN-VALUE={SECRET}",
        f"{ROOT_URI}?pin-value={SECRET}",
        f"{ROOT_URI};x-vendor-pin={SECRET}",
        f"pkcs:token={LABEL};pin-value={SECRET}",
    ],
)
def test_a_pin_in_a_uri_is_never_repeated_however_spelt(
    softhsm: SoftHsm, cli: Cli, keyfile_store: Path, tmp_path: Path, uri: str
) -> None:
    r = error_with_hint(cli("ca", "create", FAQ, "--root-pkcs11-uri", uri))
    assert "bad PKCS#11 URI" in r.err
    assert SECRET not in r.both
    r = error_with_hint(cli("apply", _faq_in_token(tmp_path, root=uri)))
    assert SECRET not in r.both
    _nothing_written(keyfile_store)


def test_an_empty_pin_variable_says_so(
    softhsm: SoftHsm, cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    r = error_with_hint(cli("apply", _faq_in_token(tmp_path), env={"CCAPKI_PKCS11_PIN": ""}))
    assert "CCAPKI_PKCS11_PIN is set but empty" in r.err
    assert "unset it to be asked in a terminal" in r.err
    _nothing_written(keyfile_store)


def test_a_folder_as_the_module_is_named_a_folder(
    softhsm: SoftHsm, cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    env = {"CCAPKI_PKCS11_MODULE": str(MODULE.parent)}
    r = error_with_hint(cli("apply", _faq_in_token(tmp_path), env=env))
    assert f"the PKCS#11 module {MODULE.parent} is a folder, not a library" in r.err
    _nothing_written(keyfile_store)


def test_a_token_label_typo_lists_the_tokens_there(
    softhsm: SoftHsm, cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    typo = "pkcs11:token=ccapki-tset;object=campus-root"
    r = error_with_hint(cli("apply", _faq_in_token(tmp_path, root=typo)))
    assert f"no PKCS#11 token matches {typo}" in r.err
    assert f"tokens there: token={LABEL} (serial=" in r.err
    _nothing_written(keyfile_store)


def test_a_slot_number_is_not_what_the_store_remembers(
    softhsm: SoftHsm, cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """Slot numbers change when tokens are added or re-initialised; the store names the
    token by its label and serial number instead."""
    from ccapki.hsm import token

    held = token.load_module(str(MODULE)).get_token(token_label=LABEL)
    slot, serial = held.slot.slot_id, bytes(held.serial).decode("ascii").strip()
    token.close_all()
    r = ok(cli("ca", "create", FAQ, "--root-pkcs11-uri", f"pkcs11:slot-id={slot};object=r"))
    assert "slot-id" not in r.out
    with Store.open(keyfile_store) as store:
        (rec,) = store.token_keys.list()
    assert rec.uri.startswith(f"pkcs11:token={LABEL};serial={serial};object=r;id=")
    assert "slot-id" not in rec.uri
    token.close_all()
    ok(cli("apply", FAQ))  # signs through the recorded URI
    rows: list[dict[str, Any]] = ok(cli("keys", "list", "--json")).json()
    assert [r["where"] for r in rows if r["state"] == "ca"] == [f"token {LABEL}", "store"]


def test_doctor_while_a_renewal_commits_sees_it_whole_or_not_at_all(
    softhsm: SoftHsm, cli: Cli, keyfile_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Walkthrough: `ccapki doctor` run while `ccapki renew --commit` signed with the token
    reported the new certificate as having no private key (it read the keys, then the
    certificates after the renewal had committed). Here a real renewal, through a second
    store connection, commits between the two reads."""
    dep_path = _faq_in_token(tmp_path)
    ok(cli("apply", dep_path))
    from ccapki.store import health

    read_keys = health.key_index
    renewed: list[int] = []

    def keys_then_a_renewal(store: Store) -> dict[str, health.KeyMeta]:
        index = read_keys(store)
        if not renewed:
            with ccapki.open_store(keyfile_store, clock=lambda: NOW) as other:
                dep = ccapki.load_deployment(dep_path)
                plan = ccapki.plan_renewal(other, dep, names=["cam"], due=False)
                result = ccapki.commit_renewal(other, dep, plan)
                renewed.append(len(result.renewed))
        return index

    monkeypatch.setattr(health, "key_index", keys_then_a_renewal)
    r = cli("doctor")
    assert renewed == [1]
    assert "holds no private key" not in r.both
    assert r.code == 0, r.both
    assert "6 certificate versions, 6 sealed keys" in r.out  # as it was when it began
    monkeypatch.setattr(health, "key_index", read_keys)
    after = ok(cli("doctor"))  # and the next run sees the renewal
    assert "7 certificate versions, 7 sealed keys" in after.out
    assert "0 errors" in after.out
    with Store.open(keyfile_store) as store:
        assert store.identities.current()["cam"].version == 2


def _private_keys(hsm: SoftHsm) -> set[str]:
    """The labels of the private keys in the token."""
    from pkcs11 import Attribute, ObjectClass

    session: Any = hsm.session()
    try:
        return {o.label for o in session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})}
    finally:
        session.close()


@pytest.mark.parametrize(
    ("ca", "error"),
    [
        ("pkcs11:token=ccapki-tset;object=campus-ca", "no PKCS#11 token matches"),
        (ROOT_URI, "the intermediate CA's key in the PKCS#11 token is the root CA's key"),
    ],
)
def test_a_failure_for_the_intermediate_leaves_no_root_key_in_the_token(
    softhsm: SoftHsm, cli: Cli, keyfile_store: Path, tmp_path: Path, ca: str, error: str
) -> None:
    """Walkthrough: the root's key was generated in the token before the intermediate's
    token turned out to be misspelt; the store kept nothing, the token an orphan key."""
    r = error_with_hint(cli("apply", _faq_in_token(tmp_path, ca=ca)))
    assert error in r.err
    _nothing_written(keyfile_store)
    assert _private_keys(softhsm) == set()
    r = error_with_hint(
        cli("ca", "create", FAQ, "--root-pkcs11-uri", ROOT_URI, "--intermediate-pkcs11-uri", ca)
    )
    assert error in r.err
    _nothing_written(keyfile_store)
    assert _private_keys(softhsm) == set()


def _at_the_pin_prompt(home: Path, answer: bytes | None) -> tuple[int, bytes]:
    """``ccapki ca create FAQ`` (root in the token) in a terminal without
    CCAPKI_PKCS11_PIN: waits for the PIN prompt, then types ``answer`` (None: Ctrl-C, a
    SIGINT). Returns the exit code and everything the terminal showed."""
    import os
    import pty
    import select
    import signal
    import subprocess
    import sys
    import termios
    import time

    env = {k: v for k, v in os.environ.items() if k != "CCAPKI_PKCS11_PIN"}
    master, slave = pty.openpty()
    argv = [sys.executable, "-m", "ccapki", "--home", str(home), "ca", "create", str(FAQ)]
    proc = subprocess.Popen(
        [*argv, "--root-pkcs11-uri", ROOT_URI],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    shown = b""
    deadline = time.monotonic() + 120  # a bound on a broken run, not a timed assertion
    try:
        while b"User PIN of the PKCS#11 token" not in shown and time.monotonic() < deadline:
            if select.select([master], [], [], 1)[0]:
                shown += os.read(master, 4096)
        assert b"User PIN of the PKCS#11 token ccapki-test: " in shown, shown
        # the prompt is drawn before echo is turned off: type once the terminal hides it
        while termios.tcgetattr(master)[3] & termios.ECHO and time.monotonic() < deadline:
            time.sleep(0.01)
        if answer is None:
            proc.send_signal(signal.SIGINT)
        else:
            os.write(master, answer + b"\r")
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(master)
    return proc.wait(timeout=120), shown


def test_the_pin_prompt_hides_the_pin_and_ctrl_c_there_writes_nothing(
    softhsm: SoftHsm, keyfile_store: Path
) -> None:
    code, shown = _at_the_pin_prompt(keyfile_store, None)
    assert code == 130, shown
    text = shown.decode()
    assert "Traceback" not in text
    # the error starts its own line, not after the prompt
    assert "ccapki-test: \r\nerror: interrupted" in text, text
    assert "\r\nhint: " in text
    _nothing_written(keyfile_store)
    code, shown = _at_the_pin_prompt(keyfile_store, softhsm.pin.encode())
    assert code == 0, shown
    assert softhsm.pin.encode() not in shown  # typed, never echoed
    assert b"created internal-root CA" in shown


def test_ca_create_says_when_the_token_held_the_key_already(
    softhsm: SoftHsm, cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """Walkthrough: a second store given the same object= label silently took the first
    store's CA key; `ca create` now says which keys it found rather than generated."""
    other = tmp_path / "other"
    ok(cli("init", "--key-file", home_dir=other))
    first = ok(cli("ca", "create", FAQ, "--root-pkcs11-uri", ROOT_URI, home_dir=other))
    assert "note:" not in first.out
    r = ok(cli("ca", "create", FAQ, "--root-pkcs11-uri", ROOT_URI, "--json"))
    (reused,) = r.json()["reused"]
    assert reused.startswith(f"{ROOT_URI};id=")
    with Store.open(keyfile_store) as store:
        (rec,) = store.token_keys.list()
    assert rec.uri == reused
    text = FAQ.read_text(encoding="utf-8").replace('name = "faq-campus"', 'name = "annex"')
    (tmp_path / "annex.toml").write_text(text, encoding="utf-8")
    again = ok(cli("ca", "create", tmp_path / "annex.toml", "--root-pkcs11-uri", ROOT_URI))
    assert f"note: the token held the key {reused} already" in again.out
