"""Walkthrough H: does ccapki's verdict match what the real stacks do?

Tricky chains were run through JSSE, OpenSSL, GnuTLS, NSS, headless Chromium and the
strongSwan heartbeat (``ccapki.lab.differential``) beside ccapki's per-stack verdicts. Four
disagreements were in ccapki's models; each is pinned here offline, then against the real
stacks of the CAM/CAS link (JSSE), the browsers (Chromium) and the HA heartbeat (strongSwan):

- an authorityKeyIdentifier naming another key than the issuer's: every stack but Chromium
  refuses the issuer; ccapki passed it everywhere;
- a CA whose EKU is clientAuth only under a server leaf: OpenSSL, GnuTLS and Chromium refuse;
  ccapki passed it (its name-free path checked the CA's EKU for clientAuth);
- a true self-signed identity trusted directly: JSSE and charon read nothing of it but the
  key (not yet valid, serverAuth-only as a client, no AKI: still up); ccapki refused it;
- an expired copy of a re-signed issuing CA sent before the valid one: JSSE, GnuTLS and
  charon use the first sent and fail; ccapki built the other path and passed.
"""

from __future__ import annotations

import datetime as dt

from ccapki.lab.corpus import CorpusCase
from ccapki.lab.differential import run_corpus
from ccapki.lab.ipsec import ipsec_unavailable
from ccapki.trust import Code, verify_for_stack
from kit.certs import CLIENT_AUTH, SERVER_AUTH, Minted, utcnow
from kit.certs import mint as mint_at
from kit.tools import need, require_tool

from .conftest import NOW, mint

HOST = "cas1.walkh.test"
OTHER_KEY_ID = b"\x01" * 20


def _aki_mismatch(now: dt.datetime) -> tuple[Minted, Minted, Minted]:
    root = mint_at("Walk H Root", ca=True, now=now)
    inter = mint_at("Walk H Issuing CA", ca=True, issuer=root, now=now)
    leaf = mint_at(HOST, issuer=inter, aki_key_id=OTHER_KEY_ID, now=now)
    return root, inter, leaf


def _client_auth_ca(now: dt.datetime) -> tuple[Minted, Minted, Minted]:
    root = mint_at("Walk H Root", ca=True, now=now)
    ca = mint_at("Walk H ClientAuth CA", ca=True, issuer=root, eku=[CLIENT_AUTH], now=now)
    return root, ca, mint_at(HOST, issuer=ca, now=now)


def _resigned_ca(now: dt.datetime) -> tuple[Minted, Minted, Minted, Minted, Minted]:
    """(old root, new root, expired CA by the old root, the same CA by the new, leaf)."""
    old_root = mint_at("Walk H Old Root", ca=True, now=now)
    new_root = mint_at("Walk H New Root", ca=True, now=now)
    first = mint_at(
        "Walk H Issuing CA",
        ca=True,
        issuer=old_root,
        start=now - dt.timedelta(days=800),
        days=799,
        now=now,
    )
    again = mint_at("Walk H Issuing CA", ca=True, issuer=new_root, key=first.key, now=now)
    return old_root, new_root, first, again, mint_at(HOST, issuer=again, now=now)


def test_an_aki_naming_another_key_is_refused_except_by_chromium() -> None:
    root, inter, leaf = _aki_mismatch(NOW)
    for stack in ("java-pkix", "strongswan", "openssl-default", "openssl-strict", "gnutls", "nss"):
        v = verify_for_stack(stack, leaf.cert, [inter.cert], [root.cert], at=NOW)
        assert not v.ok, stack
        (f,) = [f for f in v.errors if f.code == Code.MISSING_ISSUER]
        assert OTHER_KEY_ID.hex() in f.reason, f.reason
        assert "Walk H Issuing CA" in f.reason, f.reason
        assert "authorityKeyIdentifier" in f.fix
    v = verify_for_stack("chromium", leaf.cert, [inter.cert], [root.cert], peer_name=HOST, at=NOW)
    assert v.ok, v.errors
    # the CA's own AKI against the root: the same rule one level up
    ca = mint("Walk H Bad-AKI CA", ca=True, issuer=root, aki_key_id=OTHER_KEY_ID)
    leaf2 = mint(HOST, issuer=ca)
    assert not verify_for_stack("java-pkix", leaf2.cert, [ca.cert], [root.cert], at=NOW).ok


def test_a_clientauth_only_ca_fails_a_server_leaf_where_the_stack_chains_ekus() -> None:
    root, ca, leaf = _client_auth_ca(NOW)
    for stack in ("chromium", "openssl-default", "gnutls"):
        v = verify_for_stack(stack, leaf.cert, [ca.cert], [root.cert], peer_name=HOST, at=NOW)
        assert [f.code for f in v.errors] == [Code.WRONG_EKU], (stack, v.errors)
    # JSSE and charon do not read a CA's EKU; NSS takes clientAuth or serverAuth as a TLS CA
    for stack in ("java-pkix", "strongswan", "nss"):
        assert verify_for_stack(stack, leaf.cert, [ca.cert], [root.cert], at=NOW).ok, stack
    # the same CA under a client leaf (a CAM/CAS link's client side) is fine everywhere
    assert verify_for_stack(
        "openssl-default", leaf.cert, [ca.cert], [root.cert], purpose="client", at=NOW
    ).ok
    server_only = mint("Walk H ServerAuth CA", ca=True, issuer=root, eku=[SERVER_AUTH])
    client = mint(HOST, issuer=server_only)
    for stack, ok in (("openssl-default", False), ("nss", True), ("java-pkix", True)):
        v = verify_for_stack(
            stack, client.cert, [server_only.cert], [root.cert], purpose="client", at=NOW
        )
        assert v.ok is ok, (stack, v.errors)


def test_java_and_strongswan_read_nothing_of_a_directly_trusted_identity_but_its_name() -> None:
    later = mint(HOST, aki=False, start=NOW + dt.timedelta(days=2))
    server_only = mint(HOST, aki=False, eku=[SERVER_AUTH])
    for stack in ("java-pkix", "strongswan"):
        v = verify_for_stack(stack, later.cert, [], [later.cert], at=NOW)
        assert v.ok, (stack, v.errors)
        assert {f.code for f in v.warnings} >= {Code.NOT_YET_VALID}, v.warnings
        v = verify_for_stack(
            stack, server_only.cert, [], [server_only.cert], purpose="client", at=NOW
        )
        assert v.ok, (stack, v.errors)
    # the name is still checked by JSSE; web-PKI and Chromium still refuse the dates
    v = verify_for_stack(
        "java-pkix", later.cert, [], [later.cert], peer_name="x.walkh.test", at=NOW
    )
    assert [f.code for f in v.errors] == [Code.NAME_MISMATCH]
    v = verify_for_stack("chromium", later.cert, [], [later.cert], peer_name=HOST, at=NOW)
    assert Code.NOT_YET_VALID in {f.code for f in v.errors}


def test_an_expired_copy_of_a_resigned_ca_sent_first_fails_java_gnutls_and_strongswan() -> None:
    old_root, new_root, first, again, leaf = _resigned_ca(NOW)
    roots = [old_root.cert, new_root.cert]
    for stack in ("java-pkix", "strongswan", "gnutls"):
        v = verify_for_stack(stack, leaf.cert, [first.cert, again.cert], roots, at=NOW)
        assert Code.EXPIRED in {f.code for f in v.errors}, (stack, v.errors)
        (note,) = [f for f in v.warnings if f.code == Code.VERIFICATION_FAILED]
        assert "uses the first one sent" in note.reason
        assert "remove the older" in note.fix
        assert verify_for_stack(stack, leaf.cert, [again.cert, first.cert], roots, at=NOW).ok
    for stack in ("chromium", "openssl-default", "nss"):  # they build the other path
        v = verify_for_stack(stack, leaf.cert, [first.cert, again.cert], roots, at=NOW)
        assert v.ok, (stack, v.errors)


# -- the real stacks ----------------------------------------------------------------------


def _case(
    name: str, leaf: Minted, sent: list[Minted], roots: list[Minted], **kw: str
) -> CorpusCase:
    return CorpusCase(
        name,
        name,
        leaf.cert,
        leaf.key,
        tuple(c.cert for c in sent),
        tuple(r.cert for r in roots),
        kw.get("peer_name", HOST),
        kw.get("purpose", "server"),  # type: ignore[arg-type]
    )


def _real_cases(now: dt.datetime) -> dict[str, CorpusCase]:
    root, inter, leaf = _aki_mismatch(now)
    eroot, eca, eleaf = _client_auth_ca(now)
    old_root, new_root, first, again, rleaf = _resigned_ca(now)
    later = mint_at(HOST, aki=False, start=now + dt.timedelta(days=2), now=now)
    server_only = mint_at(HOST, aki=False, eku=[SERVER_AUTH], now=now)
    cases = [
        _case("aki-mismatch", leaf, [inter], [root]),
        _case("clientauth-ca-server-leaf", eleaf, [eca], [eroot]),
        _case("trusted-self-signed-not-yet-valid", later, [], [later]),
        _case(
            "trusted-self-signed-serverauth-as-client",
            server_only,
            [],
            [server_only],
            purpose="client",
        ),
        _case("expired-copy-sent-first", rleaf, [first, again], [old_root, new_root]),
        _case("valid-copy-sent-first", rleaf, [again, first], [old_root, new_root]),
    ]
    return {c.name: c for c in cases}


#: What the real stacks said (True: pass) when this walkthrough ran them; None: not judged.
_REAL = {
    "aki-mismatch": {"java-pkix": False, "chromium": True, "strongswan": False},
    "clientauth-ca-server-leaf": {"java-pkix": True, "chromium": False, "strongswan": True},
    "trusted-self-signed-not-yet-valid": {
        "java-pkix": True,
        "chromium": False,
        "strongswan": True,
    },
    "trusted-self-signed-serverauth-as-client": {"java-pkix": True},
    "expired-copy-sent-first": {"java-pkix": False, "chromium": True, "strongswan": False},
    "valid-copy-sent-first": {"java-pkix": True, "chromium": True, "strongswan": True},
}


def _run_real(stack: str) -> None:
    now = utcnow()
    cases = _real_cases(now)
    todo = [cases[n] for n, want in _REAL.items() if stack in want]
    report = run_corpus([stack], now=now, cases=todo)
    for c in todo:
        real, ours = report.real[(c.name, stack)], report.offline[(c.name, stack)]
        assert real.ok is _REAL[c.name][stack], (c.name, stack, real.detail)
        assert ours.ok is real.ok, (c.name, stack, real.detail, ours.detail)


def test_jsse_agrees_on_the_walkthrough_cases() -> None:
    for tool in ("javac", "java"):
        require_tool(tool)
    _run_real("java-pkix")


def test_chromium_agrees_on_the_walkthrough_cases() -> None:
    require_tool("chromium")
    require_tool("certutil")
    _run_real("chromium")


def test_strongswan_agrees_on_the_walkthrough_cases() -> None:
    why = ipsec_unavailable()
    if why:
        need(f"the strongSwan heartbeat cannot run here: {why}")
    _run_real("strongswan")
