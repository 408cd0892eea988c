"""A leaf trusted directly (in the trust store itself: the CCA 4.7+ true self-signed
identity) whose keyUsage lacks digitalSignature: JSSE completes the handshake, as server
and as client, with an ECDSA and an RSA key (Validator.validate omits the EndEntityChecker
when the end entity is the trust anchor); ccapki refused it for ``java-pkix``. The same
leaf under a CA is still refused by JSSE and by ccapki. Pinned offline, then against a
real JSSE handshake (``ccapki.lab.jsse``; fails under CI=true without java)."""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives.asymmetric import rsa

from ccapki.lab.corpus import CorpusCase
from ccapki.lab.differential import run_corpus
from ccapki.trust import Code, verify_for_stack
from kit.certs import Minted, mint, utcnow
from kit.tools import require_tool

from .conftest import NOW

HOST = "cas1.walkj.test"


def _leaves(now: dt.datetime) -> dict[str, tuple[Minted, Minted]]:
    """name -> (the leaf without digitalSignature, its trust anchor)."""
    ec_leaf = mint(HOST, aki=False, digital_signature=False, now=now)
    rsa_key = rsa.generate_private_key(65537, 2048)
    rsa_leaf = mint(HOST, aki=False, digital_signature=False, key=rsa_key, now=now)
    root = mint("Walk J Root", ca=True, now=now)
    chained = mint(HOST, issuer=root, digital_signature=False, now=now)
    return {"ecdsa": (ec_leaf, ec_leaf), "rsa": (rsa_leaf, rsa_leaf), "under-a-ca": (chained, root)}


def test_jsse_reads_no_key_usage_of_a_directly_trusted_leaf_offline() -> None:
    for name, (leaf, anchor) in _leaves(NOW).items():
        for purpose in ("server", "client"):
            v = verify_for_stack(
                "java-pkix", leaf.cert, [], [anchor.cert], purpose=purpose, peer_name=HOST, at=NOW
            )
            if name == "under-a-ca":
                assert [f.code for f in v.errors] == [Code.WRONG_KEY_USAGE], (name, v.errors)
            else:
                assert v.ok, (name, purpose, v.errors)


def test_jsse_agrees_on_a_directly_trusted_leaf_without_digital_signature() -> None:
    for tool in ("javac", "java"):
        require_tool(tool)
    now = utcnow()
    cases = [
        CorpusCase(
            f"trusted-leaf-no-digsig-{name}-{purpose}",
            f"a {name} leaf without digitalSignature as {purpose}",
            leaf.cert,
            leaf.key,
            (),
            (anchor.cert,),
            HOST,
            purpose,
        )
        for name, (leaf, anchor) in _leaves(now).items()
        for purpose in ("server", "client")
    ]
    report = run_corpus(["java-pkix"], now=now, cases=cases)
    for c in cases:
        real, ours = report.real[(c.name, "java-pkix")], report.offline[(c.name, "java-pkix")]
        assert real.ok is ("under-a-ca" not in c.name), (c.name, real.detail)
        assert ours.ok is real.ok, (c.name, real.detail, ours.detail)
