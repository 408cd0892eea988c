"""secp256k1 keys through the real stacks: what tests/trust/test_secp256k1.py models.

A secp256k1 leaf (under a P-256 chain, or self-signed and trusted directly) is refused by
JSSE (JDK 17), GnuTLS and Chromium and taken by OpenSSL and NSS's certutil -V; a secp256k1
issuing CA or root is refused by JSSE, GnuTLS, NSS and Chromium. ccapki's per-stack verdicts
agree on each. (OpenSSL and strongSwan also take a secp256k1 CA, which ccapki refuses with
web-PKI: not asserted here.) The chains are minted at test time, on the wall clock the
stacks check validity against.
"""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ccapki.lab.corpus import HOST, CorpusCase
from ccapki.lab.differential import Report, run_corpus
from kit.certs import Minted, mint
from kit.tools import require_tool

#: makes no store (the stacks are its subject): the PostgreSQL run leaves it out
pytestmark = pytest.mark.no_store


def _key(curve: ec.EllipticCurve) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve)


def _case(name: str, leaf: Minted, presented: list[Minted], roots: list[Minted]) -> CorpusCase:
    return CorpusCase(
        name,
        name,
        leaf.cert,
        leaf.key,
        tuple(m.cert for m in presented),
        tuple(m.cert for m in roots),
    )


def _cases(now: dt.datetime) -> list[CorpusCase]:
    k1, p256 = ec.SECP256K1(), ec.SECP256R1()
    root = mint("K1 Test Root", key=_key(p256), ca=True, days=3650, now=now)
    inter = mint("K1 Test Issuing", issuer=root, key=_key(p256), ca=True, now=now)
    k1_inter = mint("K1 Curve Issuing", issuer=root, key=_key(k1), ca=True, now=now)
    k1_root = mint("K1 Curve Root", key=_key(k1), ca=True, days=3650, now=now)
    under_k1 = mint("K1 Issuing Under", issuer=k1_root, key=_key(p256), ca=True, now=now)
    own = mint(HOST, key=_key(k1), san=[HOST], now=now)
    return [
        _case("k1-leaf", mint(HOST, issuer=inter, key=_key(k1), now=now), [inter], [root]),
        _case("k1-self-signed-trusted", own, [], [own]),
        _case("k1-intermediate", mint(HOST, issuer=k1_inter, now=now), [k1_inter], [root]),
        _case("k1-root", mint(HOST, issuer=under_k1, now=now), [under_k1], [k1_root]),
    ]


def _verdicts(report: Report, stack: str) -> dict[str, tuple[bool | None, bool | None]]:
    """Per case: (the real stack's verdict, ccapki's)."""
    return {
        c.name: (report.real[(c.name, stack)].ok, report.offline[(c.name, stack)].ok)
        for c in report.cases
    }


LEAF_ONLY = {"k1-leaf", "k1-self-signed-trusted"}


@pytest.mark.parametrize(
    ("stack", "tools", "leaf_ok", "cases"),
    [
        pytest.param(stack, tools, leaf_ok, cases, id=stack)
        for stack, tools, leaf_ok, cases in (
            ("java-pkix", ("java", "javac"), False, None),
            ("gnutls", ("certtool",), False, None),
            ("nss", ("certutil",), True, None),
            ("openssl-default", ("openssl",), True, LEAF_ONLY),
            ("openssl-strict", ("openssl",), True, LEAF_ONLY),
            ("chromium", ("chromium", "certutil"), False, None),
        )
    ],
)
def test_ccapki_agrees_with_the_real_stack_on_secp256k1(
    stack: str, tools: tuple[str, ...], leaf_ok: bool, cases: set[str] | None
) -> None:
    for tool in tools:
        require_tool(tool)
    now = dt.datetime.now(dt.UTC)
    todo = [c for c in _cases(now) if cases is None or c.name in cases]
    got = _verdicts(run_corpus([stack], now=now, cases=todo), stack)
    for name, (real, ours) in got.items():
        assert real is not None, (name, got)
        assert ours == real, (name, got)
    assert got["k1-leaf"] == (leaf_ok, leaf_ok)
    if cases is None:  # a CA on secp256k1: every one of these stacks refuses it
        assert got["k1-intermediate"] == (False, False)
        assert got["k1-root"] == (False, False)
