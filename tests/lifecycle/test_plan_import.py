"""``plan_import`` decides an import without a store: what ``Known`` holds drives every
decision (key from the store or the batch, already held, refused, CAs and keys kept).

The certificates are minted at test time by an outside CA answering the plan's names; the
same batches through the CLI are in test_csr_import.py and test_reimport_and_keys.py.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from ccapki.errors import InputError, KeyNotFoundError
from ccapki.lifecycle.importing import Known, plan_import
from ccapki.pki.certs import fingerprint
from ccapki.pki.formats import Kind, Material, PrivateKey
from ccapki.pki.issue import build_name
from ccapki.pki.keys import KeyType, generate_key, public_key_fingerprint
from ccapki.store.records import KeyRecord, KeyState, StoredCA
from ccapki.topology.loader import parse_deployment
from ccapki.topology.model import Source
from kit.certs import NOW, OutsideCA

from .conftest import THIRD_PARTY_DEP, tp_names

DEP = parse_deployment(THIRD_PARTY_DEP)
SUBJECT = build_name("cas-tp.example.org", "Workflow Org")


def batch(
    certs: tuple[x509.Certificate, ...] = (), keys: tuple[PrivateKey, ...] = ()
) -> list[Material]:
    return [
        Material(
            "returned.pem",
            certificates=certs,
            certificate_kinds=(Kind.PEM_CERTIFICATE,) * len(certs),
            keys=keys,
            key_kinds=(Kind.PKCS8,) * len(keys),
        )
    ]


def pending_key(spki: str, identity: str | None = "cas-tp") -> KeyRecord:
    made = NOW - dt.timedelta(days=3)
    return KeyRecord(spki, "ecdsa-p256", identity, KeyState.PENDING, made)


def test_a_certificate_and_its_key_from_the_batch(outside: OutsideCA) -> None:
    key = generate_key(KeyType.ECDSA_P256)
    leaf = outside.sign(SUBJECT, key.public_key(), **tp_names())
    plan = plan_import(batch((leaf, *outside.chain), (key,)), DEP, Known.empty(), NOW)
    [imp] = plan.imported
    assert (imp.identity, imp.key_from, imp.warnings) == ("cas-tp", "batch", ())
    assert imp.chain == outside.chain
    [record] = plan.records
    assert (record.key, record.source) == (key, Source.THIRD_PARTY)
    assert plan.activate == ()
    assert plan.new_keys == ()
    assert plan.new_cas == ()  # a chain sent with its identity is stored with it


def test_a_stored_pending_key_is_used_and_activated(outside: OutsideCA) -> None:
    key = generate_key(KeyType.ECDSA_P256)
    spki = public_key_fingerprint(key)
    leaf = outside.sign(SUBJECT, key.public_key(), **tp_names())
    known = Known({spki: pending_key(spki)}, {}, {}, ())
    # the batch carries the key again: the store's is used, the batch's is held already
    plan = plan_import(batch((leaf, *outside.chain), (key,)), DEP, known, NOW)
    assert [i.key_from for i in plan.imported] == ["store"]
    assert plan.records[0].key is None
    assert plan.activate == (spki,)
    assert (plan.new_keys, plan.held_keys) == ((), (spki,))


def test_what_the_store_holds_is_left_alone(outside: OutsideCA) -> None:
    key, spare = generate_key(KeyType.ECDSA_P256), generate_key(KeyType.ECDSA_P256)
    spki, spare_spki = public_key_fingerprint(key), public_key_fingerprint(spare)
    leaf = outside.sign(SUBJECT, key.public_key(), **tp_names())
    known = Known(
        {spki: pending_key(spki), spare_spki: pending_key(spare_spki, None)},
        {fingerprint(leaf): [("cas-tp", 2)]},
        {"cas-tp": 3},
        (),
    )
    plan = plan_import(batch((leaf, *outside.chain), (key, spare)), DEP, known, NOW)
    assert (plan.imported, plan.records) == ((), ())
    assert [h.describe() for h in plan.held] == ["cas-tp v2 (the current version is v3)"]
    assert plan.held_keys == (spare_spki,)
    assert plan.new_keys == ()


def test_ca_files_alone_are_kept_unless_held(outside: OutsideCA) -> None:
    root = outside.root
    known = Known({}, {}, {}, (StoredCA("Outside Root", "external", root, fingerprint(root), ""),))
    plan = plan_import(batch(outside.chain), DEP, known, NOW)
    assert plan.held_cas == ("Outside Root",)
    assert [fingerprint(c) for c in plan.new_cas] == [fingerprint(outside.inter)]


def test_a_key_with_no_certificate_is_kept_pending() -> None:
    key = generate_key(KeyType.ECDSA_P256)
    plan = plan_import(batch(keys=(key,)), DEP, Known.empty(), NOW)
    assert plan.new_keys == (key,)
    assert plan.imported == ()


def test_an_unfit_certificate_refuses_the_batch_unless_forced(outside: OutsideCA) -> None:
    key = generate_key(KeyType.ECDSA_P256)
    leaf = outside.sign(SUBJECT, key.public_key(), dns=["cas-tp.example.org"])  # no IP
    materials = batch((leaf, *outside.chain), (key,))
    with pytest.raises(InputError) as refused:
        plan_import(materials, DEP, Known.empty(), NOW)
    assert str(refused.value) == (
        "refused (nothing was imported): returned.pem for cas-tp: names missing from the "
        "SANs: 10.6.0.1"
    )
    assert refused.value.hint.endswith("or import anyway with --force")
    forced = plan_import(materials, DEP, Known.empty(), NOW, force=True)
    assert forced.imported[0].warnings == ("names missing from the SANs: 10.6.0.1",)


def test_an_incomplete_chain_is_refused(outside: OutsideCA) -> None:
    key = generate_key(KeyType.ECDSA_P256)
    leaf = outside.sign(SUBJECT, key.public_key(), **tp_names())
    with pytest.raises(InputError, match="the chain is incomplete: no certificate of issuer"):
        plan_import(batch((leaf,), (key,)), DEP, Known.empty(), NOW)


def test_no_key_names_the_pending_keys_and_csrs_on_record(outside: OutsideCA) -> None:
    key, other = generate_key(KeyType.ECDSA_P256), generate_key(KeyType.ECDSA_P256)
    other_spki = public_key_fingerprint(other)
    leaf = outside.sign(SUBJECT, key.public_key(), **tp_names())
    known = Known(
        {other_spki: pending_key(other_spki)},
        {},
        {},
        (),
        {"cas-tp": [NOW - dt.timedelta(days=9), NOW - dt.timedelta(days=3)]},
    )
    with pytest.raises(KeyNotFoundError) as missing:
        plan_import(batch((leaf, *outside.chain)), DEP, known, NOW)
    text = str(missing.value)
    assert f"pending keys: cas-tp made 2026-11-24 00:00 key {other_spki[:16]}" in text
    assert "cas-tp has 2 CSRs on record, the last from 2026-11-24" in text


def test_store_commands_that_need_no_trust_do_not_load_it(
    deployed: Callable[[str], Path], home: Path, tmp_path: Path
) -> None:
    """``export``, ``export-roots``, ``keys list``, ``inspect ID`` and ``plan`` on a store never
    import the trust engine (the package loads whole); ``check-ha`` does."""
    deployed(THIRD_PARTY_DEP)
    runs = {
        "export": ["export", "cam", "--format", "cert", "--out", str(tmp_path / "cam.pem")],
        "export-roots": ["export-roots", "--out", str(tmp_path / "roots")],
        "keys list": ["keys", "list"],
        "inspect": ["inspect", "cam"],
        "plan": ["plan"],
        "check-ha": ["check-ha", "cam"],
    }
    env = {**os.environ, "CCAPKI_HOME": str(home)}
    loaded, errors = {}, {}
    for label, argv in runs.items():
        code = (
            "import sys\n"
            "from ccapki.cli import main\n"
            f"code = main({argv!r})\n"
            "print(code, 'ccapki.trust' in sys.modules)\n"
        )
        r = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
        )
        assert r.returncode == 0, r.stderr
        loaded[label] = r.stdout.splitlines()[-1]
        errors[label] = r.stderr
    assert loaded == {
        "export": "0 False",
        "export-roots": "0 False",
        "keys list": "0 False",
        "inspect": "0 False",
        "plan": "0 False",
        "check-ha": "0 True",
    }, errors
