"""The FAQ's four CAM/CAS cases, required anchors and trust-store changes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ccapki.errors import InputError
from ccapki.trust import (
    CAM_TRUST_PATH,
    CAS_TRUST_PATH,
    CaseKind,
    Change,
    Code,
    TrustContext,
    cert_fingerprint,
    classify_link,
    required_anchor,
    rotation_plan,
    trust_store_changes,
)
from kit.certs import Minted

from .conftest import NOW, mint


@dataclass
class Link:
    """A CAM and a CAS identity chain (leaf first) plus what makes each case."""

    cam: tuple[x509.Certificate, ...]
    cas: tuple[x509.Certificate, ...]
    cas_name: str = "cas-dorm.example.edu"
    perfigo: frozenset[str] = frozenset()
    internal: frozenset[str] = frozenset()


def _ids(issuer: Minted | None) -> tuple[Minted, Minted]:
    cam = mint("cam.example.edu", issuer=issuer, days=1825 if issuer is None else 397)
    cas = mint("cas-dorm.example.edu", issuer=issuer, days=1825 if issuer is None else 397)
    return cam, cas


def make_link(kind: CaseKind) -> Link:
    if kind is CaseKind.SELF_SIGNED:
        cam, cas = _ids(None)
        return Link((cam.cert,), (cas.cert,))
    if kind is CaseKind.PERFIGO:
        root = mint("Perfigo Root", ca=True, days=7300)
        cam, cas = _ids(root)
        return Link(
            (cam.cert, root.cert), (cas.cert, root.cert), perfigo=frozenset(
                {cert_fingerprint(root.cert)})
        )  # fmt: skip
    root = mint(
        "Campus Root CA" if kind is CaseKind.INTERNAL else "Public Trust Root", ca=True, days=7300
    )
    inter = mint(
        "Campus Issuing CA" if kind is CaseKind.INTERNAL else "Public DV CA",
        issuer=root,
        ca=True,
        path_length=0,
        days=1825,
    )
    cam, cas = _ids(inter)
    internal = (
        frozenset({cert_fingerprint(root.cert), cert_fingerprint(inter.cert)})
        if kind is CaseKind.INTERNAL
        else frozenset()
    )
    return Link(
        (cam.cert, inter.cert, root.cert), (cas.cert, inter.cert, root.cert), internal=internal
    )


@pytest.mark.parametrize("kind", list(CaseKind))
def test_each_faq_case_is_classified(kind: CaseKind) -> None:
    link = make_link(kind)
    for chain in (link.cam, link.cas):
        case = classify_link(
            chain,
            [],
            perfigo_fingerprints=link.perfigo,
            internal_fingerprints=link.internal,
        )
        assert case.kind is kind
        assert case.name == kind.value
        assert case.anchor == required_anchor(chain)
        assert not case.satisfied
        trusted = classify_link(
            chain,
            [required_anchor(chain)],
            perfigo_fingerprints=link.perfigo,
            internal_fingerprints=link.internal,
        )
        assert trusted.satisfied


def test_case_requirements_in_the_faqs_words() -> None:
    self_signed = classify_link(make_link(CaseKind.SELF_SIGNED).cas, [])
    assert self_signed.requires.startswith(
        "take the CAM certificate and place it in the Trusted Certificate Authorities on the CAS"
    )
    perfigo_link = make_link(CaseKind.PERFIGO)
    perfigo = classify_link(perfigo_link.cas, [], perfigo_fingerprints=perfigo_link.perfigo)
    assert "Perfigo root certificate (Perfigo Root) exists" in perfigo.requires
    assert CAM_TRUST_PATH in perfigo.requires
    assert CAS_TRUST_PATH in perfigo.requires
    internal_link = make_link(CaseKind.INTERNAL)
    internal = classify_link(internal_link.cas, [], internal_fingerprints=internal_link.internal)
    assert internal.requires.startswith(
        "take the root CA from your internal setup (Campus Root CA)"
    )
    third = classify_link(make_link(CaseKind.THIRD_PARTY).cas, [])
    assert "root CA which signed the identity certificate (Public Trust Root)" in third.requires


def test_chain_sent_without_root_is_completed_from_the_trust_store() -> None:
    link = make_link(CaseKind.INTERNAL)
    root = link.cas[-1]
    case = classify_link(
        link.cas[:2], [root], internal_fingerprints=link.internal
    )  # appliance sends leaf + intermediate only
    assert case.kind is CaseKind.INTERNAL
    assert case.anchor == root
    assert case.satisfied


def test_unknown_issuer_is_third_party_without_anchor() -> None:
    link = make_link(CaseKind.THIRD_PARTY)
    case = classify_link(link.cas[:1], [])
    assert case.kind is CaseKind.THIRD_PARTY
    assert case.anchor is None
    assert case.anchor_name == "the CA that issued cas-dorm.example.edu"


def test_required_anchor() -> None:
    ss = make_link(CaseKind.SELF_SIGNED)
    assert required_anchor(ss.cam) == ss.cam[0]  # the leaf itself
    internal = make_link(CaseKind.INTERNAL)
    assert required_anchor(internal.cam) == internal.cam[-1]
    # completed from candidates when the chain stops at the leaf
    assert required_anchor(internal.cam[:1], internal.cam[1:]) == internal.cam[-1]
    # nothing known above: the highest certificate known
    assert required_anchor(internal.cam[:2]) == internal.cam[1]
    with pytest.raises(InputError):
        required_anchor([])


def test_change_wording_matches_the_gui() -> None:
    link = make_link(CaseKind.SELF_SIGNED)
    cam_cert, cas_cert = link.cam[0], link.cas[0]
    owners = {cert_fingerprint(cam_cert): "the CAM", cert_fingerprint(cas_cert): "CAS cas-dorm"}
    changes = trust_store_changes(
        {"cam1": [], "cas-dorm": []},
        {"cam1": [cas_cert], "cas-dorm": [cam_cert]},
        cams=["cam1"],
        owners=owners,
    )
    assert [str(c) for c in changes] == [
        "add CAS cas-dorm's certificate (true self-signed) to CAM cam1: "
        "CCA Manager > SSL > Trusted Certificate Authorities",
        "add the CAM's certificate (true self-signed) to CAS cas-dorm: "
        "SSL > Trusted Certificate Authorities",
    ]
    assert changes[1].gui_path == CAS_TRUST_PATH
    assert changes[0].gui_path == CAM_TRUST_PATH


def test_changes_are_minimal_and_idempotent() -> None:
    link = make_link(CaseKind.INTERNAL)
    root, inter = link.cas[-1], link.cas[1]
    reparsed = x509.load_pem_x509_certificate(root.public_bytes(serialization.Encoding.PEM))
    current = {"cam1": [reparsed], "cas-dorm": [inter]}
    required: dict[str, Sequence[x509.Certificate]] = {"cam1": [root], "cas-dorm": [root, root]}
    changes = trust_store_changes(current, required, cams={"cam1"})
    assert [(c.action, c.appliance, c.description) for c in changes] == [
        ("add", "cas-dorm", "root CA Campus Root CA")
    ]
    assert trust_store_changes({"cas-dorm": [root]}, {"cas-dorm": [root]}) == []
    # pruning retires what is no longer required (rotation), after the adds
    pruned = trust_store_changes(current, required, cams={"cam1"}, prune=True)
    assert [(c.action, c.appliance) for c in pruned] == [
        ("add", "cas-dorm"),
        ("remove", "cas-dorm"),
    ]
    assert str(pruned[1]) == (
        "remove intermediate CA Campus Issuing CA from CAS cas-dorm: "
        "SSL > Trusted Certificate Authorities"
    )


def test_perfigo_root_named_in_changes() -> None:
    link = make_link(CaseKind.PERFIGO)
    root = link.cas[-1]
    (change,) = trust_store_changes(
        {}, {"cam1": [root]}, cams=["cam1"], perfigo_fingerprints=link.perfigo
    )
    assert isinstance(change, Change)
    assert change.text == (
        "add the Perfigo root (Perfigo Root) to CAM cam1: "
        "CCA Manager > SSL > Trusted Certificate Authorities"
    )


def _mutual_ok(link: Link, stores: dict[str, list[x509.Certificate]]) -> tuple[bool, list[str]]:
    """CAM <-> CAS mutual TLS: each side verifies the other as server and as client."""
    cam_ctx = TrustContext(stores["cam1"])
    cas_ctx = TrustContext(stores[link.cas_name])
    verdicts = [
        cam_ctx.verify(link.cas[0], link.cas[1:], purpose="server", peer_name=link.cas_name,
                       at=NOW),
        cam_ctx.verify(link.cas[0], link.cas[1:], purpose="client", at=NOW),
        cas_ctx.verify(link.cam[0], link.cam[1:], purpose="server", peer_name="cam.example.edu",
                       at=NOW),
        cas_ctx.verify(link.cam[0], link.cam[1:], purpose="client", at=NOW),
    ]  # fmt: skip
    return all(v.ok for v in verdicts), [c for v in verdicts for c in v.codes]


@pytest.mark.parametrize("kind", list(CaseKind))
def test_each_case_broken_then_repaired_by_the_changes(kind: CaseKind) -> None:
    link = make_link(kind)
    unrelated = mint("Unrelated Root", ca=True, days=3650).cert
    stores: dict[str, list[x509.Certificate]] = {"cam1": [unrelated], link.cas_name: [unrelated]}
    ok, codes = _mutual_ok(link, stores)
    assert not ok
    expected = {
        CaseKind.SELF_SIGNED: Code.UNTRUSTED_SELF_SIGNED,
        CaseKind.PERFIGO: Code.UNTRUSTED_ROOT,
        CaseKind.INTERNAL: Code.UNTRUSTED_ROOT,
        CaseKind.THIRD_PARTY: Code.UNTRUSTED_ROOT,
    }[kind]
    assert expected in codes
    required = {"cam1": [required_anchor(link.cas)], link.cas_name: [required_anchor(link.cam)]}
    changes = trust_store_changes(stores, required, cams=["cam1"])
    # true self-signed: each side gets the other's certificate; one shared root otherwise
    assert len(changes) == 2
    for change in changes:
        stores[change.appliance].append(change.certificate)
    assert _mutual_ok(link, stores) == (True, [])
    assert trust_store_changes(stores, required, cams=["cam1"]) == []


def test_rotation_plan_self_signed_to_internal_on_ha_pair() -> None:
    """Replace an HA pair's true self-signed identity by an internal one, safely."""
    old = make_link(CaseKind.SELF_SIGNED).cas  # (leaf,)
    internal = make_link(CaseKind.INTERNAL)
    new = internal.cas
    root = new[-1]
    other_cas = mint("cas-lib.example.edu", days=1825).cert  # another self-signed CAS
    current: dict[str, list[x509.Certificate]] = {
        "cam1": [old[0], other_cas],
        "cam2": [old[0], other_cas],
        "cas-dorm-a": [old[0]],
        "cas-dorm-b": [old[0]],
    }
    verifiers = ["cam1", "cam2", "cas-dorm-a", "cas-dorm-b"]
    plan = rotation_plan(
        "cas-dorm",
        old,
        new,
        current,
        verifiers=verifiers,
        installed_on=["cas-dorm-a", "cas-dorm-b"],
        cams=["cam1", "cam2"],
        still_needed={"cam1": [other_cas], "cam2": [other_cas]},
    )
    assert plan.breaks == tuple(verifiers)  # nobody trusts the new root yet
    assert [s.phase for s in plan.steps] == ["trust-new", "swap", "retire-old"]
    trust_new, swap, retire = plan.steps
    assert [(c.action, c.appliance) for c in trust_new.changes] == [("add", v) for v in verifiers]
    assert all(c.certificate == root for c in trust_new.changes)
    assert "cas-dorm-a and cas-dorm-b at the same time" in swap.text
    assert [(c.action, c.appliance) for c in retire.changes] == [("remove", v) for v in verifiers]
    assert str(retire.changes[0]).startswith(
        "remove cas-dorm.example.edu's certificate (true self-signed) from CAM cam1"
    )
    # apply the plan: after step 1 the new chain verifies everywhere, before the swap
    for change in trust_new.changes:
        current[change.appliance].append(change.certificate)
    for v in verifiers:
        assert TrustContext(current[v]).verify(new[0], new[1:2], at=NOW).ok
    for change in retire.changes:
        current[change.appliance].remove(change.certificate)
    assert other_cas in current["cam1"]  # still needed by another CAS: kept
    again = rotation_plan(
        "cas-dorm", old, new, current, verifiers=verifiers, installed_on=["cas-dorm-a"]
    )
    assert again.breaks == ()
    assert again.steps[0].changes == ()
    assert again.steps[2].changes == ()
