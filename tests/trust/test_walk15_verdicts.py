"""Walk 15: verdicts of the trust engine that a new administrator found wrong or slow.

- a trust context keeps one copy of each root and answers a question asked again from its
  verdicts (``trust check`` asks the same one for each client channel, whose stacks check
  names themselves);
- Java PKIX does not read a trust anchor's dates, but a peer's own (true self-signed)
  certificate out of date fails the channel, as it fails every other one;
- a CA without keyUsage that the stack accepts, not yet in the trust store: the channel
  fails for the missing root alone, not for the keyUsage (re-issuing a third party's CA is
  not the fix).
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from ccapki.trust import Stack, TrustContext, verify_for_stack
from ccapki.trust._model import Code
from kit.certs import Minted, ec_key

from .conftest import NOW, mint


def test_a_context_keeps_one_copy_of_each_root_and_reuses_its_verdicts() -> None:
    root = mint("Campus Root CA", ca=True, days=3650)
    leaf = mint("cas1.example.com", issuer=root)
    ctx = TrustContext([root.cert] * 50)
    assert ctx.roots == (root.cert,)
    for stack in (Stack.CHROMIUM, Stack.WINDOWS, Stack.JAVA_PKIX):
        v = verify_for_stack(
            stack, leaf.cert, [], ctx.roots, peer_name="cas1.example.com", at=NOW, context=ctx
        )
        assert v.ok, (stack, v.findings)
    # the stacks that check names themselves ask web-PKI the same question: one verdict
    assert ctx.cached_verdicts == 1
    first = ctx.verify(leaf.cert, [], at=NOW)
    assert ctx.verify(leaf.cert, [], at=NOW) is first


def test_java_accepts_a_certificate_it_trusts_directly_whatever_its_dates() -> None:
    """A true self-signed CAS certificate sits in the CAM's trust store: once expired (or
    before it starts), Java's PKIX trust manager still accepts it, as a trust anchor whose
    dates it never reads (the differential corpus shows the real JSSE do so): a warning,
    not a failure, and the warning says which stack accepts it."""
    start = NOW - dt.timedelta(days=100)
    ward = mint("cas-ward.example.org", san=["cas-ward.example.org"], start=start, days=90)
    v = verify_for_stack(Stack.JAVA_PKIX, ward.cert, [], [ward.cert], at=NOW)
    assert v.ok, v.findings
    assert [w.code for w in v.warnings] == [Code.EXPIRED]
    assert "accepts it" in v.warnings[0].reason
    early = mint("cas-new.example.org", san=["cas-new.example.org"], start=NOW + DAY)
    v = verify_for_stack(Stack.JAVA_PKIX, early.cert, [], [early.cert], at=NOW)
    assert v.ok, v.findings
    assert [w.code for w in v.warnings] == [Code.NOT_YET_VALID]
    # web-PKI (browsers, the agent) refuses both
    assert not verify_for_stack(Stack.CHROMIUM, ward.cert, [], [ward.cert], at=NOW).ok


def test_java_still_does_not_read_a_root_anchors_dates() -> None:
    """The leniency stays for a CA the trust store holds (PKIX TrustAnchor)."""
    start = NOW - dt.timedelta(days=400)
    root = mint("Old Root CA", ca=True, start=start, days=365)
    leaf = mint("cas1.example.com", issuer=root)
    v = verify_for_stack(Stack.JAVA_PKIX, leaf.cert, [], [root.cert], at=NOW)
    assert v.ok, v.findings
    assert [w.code for w in v.warnings] == [Code.EXPIRED]


DAY = dt.timedelta(days=1)


def _root_without_key_usage(cn: str) -> Minted:
    """A root as `openssl req -x509` makes it: CA:TRUE, SKI, no keyUsage."""
    key = ec_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 3650 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return Minted(cert, key)


def test_a_stack_accepted_ca_not_yet_trusted_fails_for_the_missing_root_alone() -> None:
    third = _root_without_key_usage("Riverside Test CA")
    leaf = mint("cas-guest.example.org", issuer=third)
    other = mint("Some Other Root", ca=True, days=3650)
    for purpose in ("server", "client"):
        v = verify_for_stack(
            Stack.JAVA_PKIX, leaf.cert, [third.cert], [other.cert], purpose=purpose, at=NOW
        )
        assert not v.ok
        assert {f.code for f in v.errors} == {Code.UNTRUSTED_ROOT}, v.findings
        assert not any("re-issue" in f.fix for f in v.errors), v.errors
        assert "add root Riverside Test CA" in v.errors[0].fix
        # what the stack would then accept is already said, as after the root is added
        assert [w.code for w in v.warnings] == [Code.WRONG_KEY_USAGE]
        assert v.warnings[0].fix.startswith("none needed for this channel")
    # not sent, known from the store: the same (its fix: add it)
    v = verify_for_stack(
        Stack.JAVA_PKIX, leaf.cert, [], [other.cert], at=NOW, candidates=[third.cert]
    )
    assert {f.code for f in v.errors} == {Code.MISSING_ISSUER}, v.findings
    assert v.errors[0].fix.startswith("add Riverside Test CA")
    assert [w.code for w in v.warnings] == [Code.WRONG_KEY_USAGE]
    # trusted: the channel passes, the web-PKI refusal kept as a warning
    v = verify_for_stack(Stack.JAVA_PKIX, leaf.cert, [], [third.cert], at=NOW)
    assert v.ok
    assert [w.code for w in v.warnings] == [Code.WRONG_KEY_USAGE]
    # web-PKI itself keeps refusing the keyUsage (its verdict is not softened)
    web = verify_for_stack(Stack.WEBPKI, leaf.cert, [third.cert], [other.cert], at=NOW)
    assert Code.WRONG_KEY_USAGE in {f.code for f in web.errors}
