"""Walkthrough W (an estate that changes over months), the plan's part:

- the release upgraded from 4.6 to 4.7.2 planned a reissue of each self-signed identity
  whose reason named only the validity: CCA 4.7+ makes true self-signed certificates (the
  FAQ), so the certificate stops being the Perfigo root's and the trust entries on the CAM
  and the CAS change. From 4.6 to 4.8 or 4.9 (five-year temporary certificates) the plan
  said "nothing" at all, and the Perfigo-signed certificates stayed; back from 4.7+ to 4.6
  likewise. The plan now says (and reissues) the change of signer on every transition.
- a pending CSR was a flag: the plan could not tell one made for an older version of the
  file (:func:`csr_differences`).
"""

from __future__ import annotations

import datetime as dt

import pytest

from ccapki.lifecycle.apply import issue_one
from ccapki.pki.issue import Issuer, build_csr, make_root_ca
from ccapki.pki.keys import KeyType, generate_key
from ccapki.topology.loader import parse_deployment
from ccapki.topology.model import Deployment, Source
from ccapki.topology.plan import (
    PERFIGO_ROOT,
    ActionKind,
    CurrentIdentity,
    PendingCsr,
    csr_differences,
    make_plan,
    pending_actions,
    signer_for,
)
from kit.certs import NOW
from kit.cli import deployment, standalone

TRUE_SELF = "makes true self-signed certificates: it becomes its own root, no longer signed"
BOTH_SIDES = "the trust entries change on both sides"
TO_PERFIGO = "signs temporary certificates with the Perfigo root: it is no longer its own root"


def _dep(release: str) -> Deployment:
    text = deployment(release=release, source="self-signed", cas=[standalone("cas1", "10.1.0.1")])
    return parse_deployment(text, f"{release}.toml")


def _issued(dep: Deployment) -> dict[str, CurrentIdentity]:
    """What ``apply`` issues for ``dep``'s identities (a Perfigo root where it signs)."""
    key = generate_key(KeyType.RSA_2048)
    root = make_root_ca("Perfigo Root CA", key, now=NOW, days=3650, path_length=0)
    issuers = {PERFIGO_ROOT: Issuer(root, key)}
    out = {}
    for p in make_plan(dep).identities:
        record = issue_one(p, signer_for(p, dep), issuers, NOW)
        out[p.name] = CurrentIdentity(record.certificate, Source.SELF_SIGNED)
    return out


def _reason(before: str, after: str) -> tuple[ActionKind, str]:
    """The CAS's action when the file's release goes from ``before`` to ``after``."""
    dep = _dep(after)
    actions = pending_actions(make_plan(dep), _issued(_dep(before)), NOW + dt.timedelta(days=1))
    (cas,) = [a for a in actions if a.identity == "cas1"]
    return cas.kind, cas.reason


def test_4_6_to_4_7_2_says_the_certificate_becomes_true_self_signed() -> None:
    kind, reason = _reason("4.6.0", "4.7.2")
    assert kind is ActionKind.REISSUE
    assert reason == (
        f"CCA 4.7.2 {TRUE_SELF} by the Perfigo root, so {BOTH_SIDES} (the CAM trusts each "
        "CAS's own certificate and each CAS the CAM's, in place of the Perfigo root); "
        "valid for 365 days, the release's default is 90"
    )


@pytest.mark.parametrize("after", ["4.8.0", "4.9.0"])
def test_4_6_to_five_year_releases_reissues_as_true_self_signed(after: str) -> None:
    """The five-year certificate lasts longer than the Perfigo-signed one: no validity
    reason; the signer alone makes it a reissue (it was "nothing")."""
    kind, reason = _reason("4.6.0", after)
    assert kind is ActionKind.REISSUE
    assert reason.startswith(f"CCA {after} {TRUE_SELF}"), reason
    assert BOTH_SIDES in reason
    assert "valid for" not in reason


@pytest.mark.parametrize(("before", "days"), [("4.7.2", None), ("4.8.0", 1826)])
def test_back_to_4_6_says_the_perfigo_root_signs_again(before: str, days: int | None) -> None:
    kind, reason = _reason(before, "4.6.0")
    assert kind is ActionKind.REISSUE
    assert reason.startswith(f"CCA 4.6.0 {TO_PERFIGO} (true self-signed), so {BOTH_SIDES}")
    if days is not None:
        assert reason.endswith(f"; valid for {days} days, the release's default is 365")


def test_before_4_5_no_trust_entries_change() -> None:
    """Before 4.5 the CAM and the CAS do not verify each other: only the signer is said."""
    kind, reason = _reason("4.8.0", "4.4.0")
    assert kind is ActionKind.REISSUE
    assert reason.startswith(f"CCA 4.4.0 {TO_PERFIGO} (true self-signed);"), reason
    assert BOTH_SIDES not in reason


@pytest.mark.parametrize(
    ("before", "after", "kind", "words"),
    [
        ("4.7.2", "4.8.0", ActionKind.NOTHING, "valid for "),  # shorter than asked: kept
        ("4.8.0", "4.7.2", ActionKind.REISSUE, "valid for 1826 days, the release's default"),
        ("4.6.0", "4.5.0", ActionKind.NOTHING, "valid for "),
        ("4.8.0", "4.9.0", ActionKind.NOTHING, "valid for "),
    ],
)
def test_transitions_that_keep_the_signer_say_nothing_of_it(
    before: str, after: str, kind: ActionKind, words: str
) -> None:
    got, reason = _reason(before, after)
    assert got is kind
    assert reason.startswith(words), reason
    assert "Perfigo" not in reason
    assert "self-signed" not in reason


def test_a_perfigo_source_is_never_said_to_become_self_signed() -> None:
    """``source = "perfigo"`` is the Perfigo root's on every release."""
    text = deployment(release="4.8.0", source="perfigo", cas=[standalone("cas1", "10.1.0.1")])
    dep = parse_deployment(text, "p.toml")
    current = {
        n: CurrentIdentity(c.certificate, Source.PERFIGO)
        for n, c in _issued(parse_deployment(text.replace("4.8.0", "4.6.0"), "o.toml")).items()
    }
    actions = pending_actions(make_plan(dep), current, NOW)
    assert {a.kind for a in actions} == {ActionKind.NOTHING}, actions


# ---------------------------------------------------------------------------- pending CSRs


def _third(**extra: str) -> Deployment:
    text = deployment(
        cas=[standalone("cas1", "10.1.0.1", source="third-party", **extra)],
    )
    return parse_deployment(text, "t.toml")


def test_csr_differences_names_what_changed() -> None:
    old = make_plan(_third()).get("cas1")
    key = generate_key(old.spec.key_type)
    csr = build_csr(old.request, key)
    assert csr_differences(old.spec, csr) == []
    text = deployment(
        key="rsa-2048",
        cas=[standalone("cas1", "10.1.0.2", source="third-party")],
    ).replace('hostname = "cas1.example.org"', 'hostname = "clinic.example.org"')
    moved = parse_deployment(text, "m.toml").identity("cas1")
    assert csr_differences(moved, csr) == [
        "its CN is cas1.example.org, the file's clinic.example.org",
        "it lacks clinic.example.org, 10.1.0.2",
        "it names cas1.example.org, 10.1.0.1, no longer in the file",
        "its key is ecdsa-p256, the file's rsa-2048",
    ]


def test_a_pending_csr_for_other_names_is_stale_and_one_for_these_is_awaited() -> None:
    old = make_plan(_third()).get("cas1")
    key = generate_key(old.spec.key_type)
    made = NOW - dt.timedelta(days=3)
    pending = PendingCsr(build_csr(old.request, key), made)
    # the hostname changed since the CSR: its answer would not be the certificate wanted
    text = deployment(cas=[standalone("cas9", "10.1.0.1", source="third-party")])
    renamed = parse_deployment(text.replace('name = "cas9"', 'name = "cas1"'), "r.toml")
    plan = make_plan(renamed)
    flag_only = {"cas1": CurrentIdentity(None, None, True)}
    (a,) = [a for a in pending_actions(plan, flag_only, NOW) if a.identity == "cas1"]
    assert a.kind is ActionKind.AWAIT_CA  # a flag alone: taken as current (as ever)
    read = {"cas1": CurrentIdentity(None, None, True, pending)}
    (a,) = [a for a in pending_actions(plan, read, NOW) if a.identity == "cas1"]
    assert a.kind is ActionKind.CSR
    assert a.reason == (
        "make a CSR (ccapki csr) and send it to the CA: the pending CSR (made 2026-11-24) is "
        "stale, made for an older version of the deployment file (its CN is "
        "cas1.example.org, the file's cas9.example.org; it lacks cas9.example.org; it names "
        "cas1.example.org, no longer in the file)"
    )
    # the CSR read and found current is awaited
    same = {"cas1": CurrentIdentity(None, None, True, pending)}
    (a,) = [a for a in pending_actions(make_plan(_third()), same, NOW) if a.identity == "cas1"]
    assert (a.kind, a.reason) == (
        ActionKind.AWAIT_CA,
        "CSR pending at the CA; import the certificate the CA returns",
    )
