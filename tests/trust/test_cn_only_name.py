"""Walkthrough: a certificate whose CN is the host name but whose subjectAltName lacks it.

The wrong-name finding read "tcam.walkb.edu does not name tcam.walkb.edu" (the subject's
CN is the certificate's display name): it says now where the name is (only in the CN) and
what clients check instead (the subjectAltName, and what it lists). Certificates minted
here, verified with every modelled stack, web-PKI, and the HA pair rules.
"""

from __future__ import annotations

from ccapki.pki.keys import public_key_fingerprint
from ccapki.trust import STACKS, Code, HaPair, HaPeer, Stack, check_ha, verify_for_stack
from kit.certs import Minted

from .conftest import NOW, mint

HOST = "tcam.walkb.edu"
SAN = ["cam-a.walkb.edu", "10.0.0.5"]


def _leaf(san: list[str] | None) -> tuple[Minted, Minted]:
    root = mint("Walk B Root", ca=True)
    return root, mint(HOST, issuer=root, san=san)


def test_every_stack_says_the_name_is_only_in_the_cn() -> None:
    root, leaf = _leaf(SAN)
    for stack in Stack:
        if STACKS[stack].names == "none":
            continue
        v = verify_for_stack(stack, leaf.cert, [], [root.cert], peer_name=HOST, at=NOW)
        assert not v.ok, stack
        reasons = [f.reason for f in v.findings if f.code == Code.NAME_MISMATCH]
        assert reasons, (stack, v.findings)
        (reason,) = reasons
        assert f"{HOST} does not name {HOST}" not in reason
        assert f"{HOST} was asked but {HOST}" not in reason
        assert reason.startswith(f"the certificate names {HOST} only in its CN; "), reason
        assert reason.endswith(", which lists cam-a.walkb.edu, 10.0.0.5"), reason


def test_the_messages_name_the_stack_and_the_rule() -> None:
    root, leaf = _leaf(SAN)
    java = verify_for_stack(Stack.JAVA_PKIX, leaf.cert, [], [root.cert], peer_name=HOST, at=NOW)
    [f] = [f for f in java.findings if f.code == Code.NAME_MISMATCH]
    title = STACKS[Stack.JAVA_PKIX].title
    rule = STACKS[Stack.JAVA_PKIX].names
    when = " (the CN only when it has no DNS names)" if rule == "san-or-cn" else ""
    assert f.reason == (
        f"the certificate names {HOST} only in its CN; {title} checks the "
        f"subjectAltName{when}, which lists cam-a.walkb.edu, 10.0.0.5"
    )
    assert (
        f.fix == f"re-issue {HOST} with {HOST} in its subjectAltName (the CN alone is not enough)"
    )
    web = verify_for_stack(Stack.WEBPKI, leaf.cert, [], [root.cert], peer_name=HOST, at=NOW)
    [w] = [f for f in web.findings if f.code == Code.NAME_MISMATCH]
    assert w.reason == (
        f"the certificate names {HOST} only in its CN; clients check the subjectAltName (the "
        "CN is ignored once there is one), which lists cam-a.walkb.edu, 10.0.0.5"
    )


def test_without_a_subject_alt_name_a_san_only_stack_says_so() -> None:
    root, leaf = _leaf(None)
    san_only = [s for s in Stack if STACKS[s].names == "san" and s is not Stack.WEBPKI]
    assert san_only
    for stack in san_only:
        v = verify_for_stack(stack, leaf.cert, [], [root.cert], peer_name=HOST, at=NOW)
        [f] = [f for f in v.findings if f.code == Code.MISSING_SAN]
        assert f.reason == (
            f"the certificate names {HOST} only in its CN; {STACKS[stack].title} checks only "
            "the subjectAltName, which it does not have"
        )


def test_another_name_keeps_the_does_not_name_wording() -> None:
    root, leaf = _leaf(SAN)
    v = verify_for_stack(
        Stack.OPENSSL_DEFAULT, leaf.cert, [], [root.cert], peer_name="cas9.walkb.edu", at=NOW
    )
    [f] = [f for f in v.findings if f.code == Code.NAME_MISMATCH]
    assert f.reason == (
        f"{HOST} does not name cas9.walkb.edu: its subjectAltName names cam-a.walkb.edu, 10.0.0.5"
    )


def test_an_ha_pair_says_the_virtual_name_is_only_in_the_cn() -> None:
    _, leaf = _leaf(SAN)
    peer = HaPeer(leaf.cert, public_key_fingerprint(leaf.key.public_key()))
    pair = HaPair("cam", (HOST, "cam-a.walkb.edu", "10.0.0.5"), peer, peer)
    findings = [f for c in check_ha(pair, NOW) for f in c.findings if f.code == Code.MISSING_SAN]
    assert findings
    assert findings[0].reason == (
        f"{HOST} lacks {HOST} in its subjectAltName ({HOST} is only in its CN; clients check "
        "the subjectAltName)"
    )
