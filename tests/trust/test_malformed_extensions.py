"""Issue 8, item 5: the trust engine never crashes on a certificate cryptography can load.

cryptography loads a certificate whose extensions are duplicated or malformed, and raises
only when an extension is read. Here hypothesis builds such certificates (raw extension
DER, signed for real: see ``kit.der``) as the leaf, the intermediate or the root of a chain
and feeds them to every public function of ``ccapki.trust``: each returns a value (a
``Verdict`` with findings for a failure) or raises ``InputError``; nothing else escapes.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from ccapki.cli import main
from ccapki.errors import InputError
from ccapki.pki.certs import extensions_error
from ccapki.pki.inspect import describe
from ccapki.trust import (
    PLATFORMS,
    Code,
    TrustContext,
    Verdict,
    build_candidate_chain,
    classify_link,
    client_findings,
    client_refusals,
    complete_chain,
    describe_certificate,
    required_anchor,
    rotation_plan,
    trust_store_changes,
    verify_chain,
)
from kit.der import algorithm_id, der_tlv, oid_der, raw_extension, rebuild

from .conftest import NOW, mint

PEER = "cas1.example.com"

# One PKI for the whole module; each example re-encodes one of its certificates.
_ROOT = mint("Campus Root CA", ca=True, path_length=1, days=3650)
_INTER = mint(
    "Campus Issuing CA",
    issuer=_ROOT,
    ca=True,
    path_length=0,
    days=1825,
    name_constraints=x509.NameConstraints(
        permitted_subtrees=[
            x509.DNSName("example.com"),
            x509.IPAddress(ipaddress.ip_network("10.0.0.0/8")),
        ],
        excluded_subtrees=None,
    ),
)
_LEAF = mint(PEER, issuer=_INTER, san=[PEER, "10.0.0.11"])


def _valid_values() -> dict[str, bytes]:
    """The DER value of every extension our PKI carries, plus a few more kinds."""
    values: dict[str, bytes] = {}
    for cert in (_ROOT.cert, _INTER.cert, _LEAF.cert):
        for ext in cert.extensions:
            values.setdefault(ext.oid.dotted_string, ext.value.public_bytes())
    more: list[x509.ExtensionType] = [
        x509.CertificatePolicies(
            [x509.PolicyInformation(x509.ObjectIdentifier("2.5.29.32.0"), None)]
        ),
        x509.IssuerAlternativeName([x509.DNSName("ca.example.com")]),
        x509.InhibitAnyPolicy(0),
        x509.PolicyConstraints(require_explicit_policy=0, inhibit_policy_mapping=None),
        x509.AuthorityInformationAccess(
            [
                x509.AccessDescription(
                    x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                    x509.UniformResourceIdentifier("http://ca.example.com/ca.crt"),
                )
            ]
        ),
        x509.CRLDistributionPoints(
            [
                x509.DistributionPoint(
                    [x509.UniformResourceIdentifier("http://ca.example.com/ca.crl")],
                    None,
                    None,
                    None,
                )
            ]
        ),
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE]),
    ]
    for value in more:
        values.setdefault(value.oid.dotted_string, value.public_bytes())
    return values


VALID = _valid_values()

_IP = 0x87  # [7] iPAddress
#: Values cryptography parses leniently or not at all: the shapes issue 8 found by hand.
CRAFTED: list[tuple[str, bytes]] = [
    # nameConstraints permitting an IP "network" whose mask is not contiguous
    (
        ExtensionOID.NAME_CONSTRAINTS.dotted_string,
        der_tlv(
            0x30, der_tlv(0xA0, der_tlv(0x30, der_tlv(_IP, bytes.fromhex("0a000000ff00ff00"))))
        ),
    ),
    # ... and one 5 bytes long (neither IPv4 nor IPv6)
    (
        ExtensionOID.NAME_CONSTRAINTS.dotted_string,
        der_tlv(0x30, der_tlv(0xA0, der_tlv(0x30, der_tlv(_IP, b"\x0a\x00\x00\x00\xff")))),
    ),
    # a SAN IP of 5 bytes, a SAN IP of 8 bytes (a network, not an address)
    (
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME.dotted_string,
        der_tlv(0x30, der_tlv(_IP, b"\x0a\x00\x00\x0b\x01")),
    ),
    (
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME.dotted_string,
        der_tlv(0x30, der_tlv(_IP, bytes.fromhex("0a00000bffffffff"))),
    ),
    # basicConstraints with a negative pathLen, keyUsage with 9 unused bits
    (ExtensionOID.BASIC_CONSTRAINTS.dotted_string, bytes.fromhex("30060101ff0201ff")),
    (ExtensionOID.KEY_USAGE.dotted_string, bytes.fromhex("03020984")),
    # an empty SAN, an empty EKU
    (ExtensionOID.SUBJECT_ALTERNATIVE_NAME.dotted_string, bytes.fromhex("3000")),
    (ExtensionOID.EXTENDED_KEY_USAGE.dotted_string, bytes.fromhex("3000")),
]


@st.composite
def _value(draw: st.DrawFn, oid: str) -> bytes:
    valid = VALID[oid]
    how = draw(st.sampled_from(["valid", "truncated", "flipped", "garbage", "empty", "tail"]))
    if how == "valid":
        return valid
    if how == "truncated":
        return valid[: draw(st.integers(0, max(0, len(valid) - 1)))]
    if how == "flipped":
        at = draw(st.integers(0, len(valid) - 1))
        return valid[:at] + bytes([valid[at] ^ draw(st.integers(1, 255))]) + valid[at + 1 :]
    if how == "garbage":
        return draw(st.binary(max_size=48))
    if how == "empty":
        return b""
    return valid + draw(st.binary(min_size=1, max_size=8))


@st.composite
def _extension(draw: st.DrawFn) -> bytes:
    critical = draw(st.booleans())
    if draw(st.integers(0, 5)) == 0:
        oid, value = draw(st.sampled_from(CRAFTED))
    else:
        oid = draw(st.sampled_from(sorted(VALID)))
        value = draw(_value(oid))
    return raw_extension(oid, value, critical=critical)


@st.composite
def _extensions(draw: st.DrawFn) -> list[bytes]:
    exts = draw(st.lists(_extension(), max_size=6))
    if exts and draw(st.booleans()):  # the same extension twice (another value, maybe)
        exts.insert(draw(st.integers(0, len(exts))), draw(st.sampled_from(exts)))
    return exts


_NULL = der_tlv(0x05, b"")
#: AlgorithmIdentifiers cryptography loads but may not use: unknown, legacy, mismatched.
ALGORITHMS: list[bytes] = [
    algorithm_id("1.2.3.4.5"),  # nobody's algorithm
    algorithm_id("1.2.840.113549.1.1.1", _NULL),  # rsaEncryption over EC key bits
    algorithm_id("1.2.840.10040.4.1"),  # DSA without parameters
    algorithm_id("1.3.101.112"),  # Ed25519 over EC key bits
    algorithm_id("1.2.840.10045.2.1", oid_der("1.2.3.4")),  # EC on an unknown curve
    algorithm_id("1.2.840.113549.1.1.4", _NULL),  # md5WithRSAEncryption
    algorithm_id("1.2.840.10045.4.1"),  # ecdsa-with-SHA1
    algorithm_id("1.2.840.113549.1.1.10"),  # RSASSA-PSS without its parameters
    algorithm_id("2.16.840.1.101.3.4.3.2"),  # dsa-with-sha256
]


def _chain(
    role: str,
    exts: list[bytes] | None,
    key_algorithm: bytes | None = None,
    signature_algorithm: bytes | None = None,
) -> tuple[x509.Certificate, x509.Certificate, x509.Certificate]:
    """(leaf, intermediate, root) with the certificate in ``role`` re-encoded with ``exts``
    (and, when given, another key or signature AlgorithmIdentifier).

    The re-encoded certificate keeps its subject and key, so its links still verify.
    """
    root, inter, leaf = _ROOT.cert, _INTER.cert, _LEAF.cert
    kw = {"key_algorithm": key_algorithm, "signature_algorithm": signature_algorithm}
    if role == "leaf":
        leaf = rebuild(leaf, _INTER.key, extensions=exts, **kw)
    elif role == "intermediate":
        inter = rebuild(inter, _ROOT.key, extensions=exts, **kw)
    else:
        root = rebuild(root, _ROOT.key, extensions=exts, **kw)
    return leaf, inter, root


def _every_trust_function(
    leaf: x509.Certificate, inter: x509.Certificate, root: x509.Certificate
) -> list[object]:
    """Call each public trust function (and ``inspect``'s describe) on the chain;
    InputError counts as an answer."""
    results: list[object] = []
    ctx = TrustContext([root], candidates=[inter])
    calls = [
        lambda: verify_chain(leaf, [inter], [root], peer_name=PEER, at=NOW),
        lambda: verify_chain(leaf, [inter], [root], purpose="client", peer_name=PEER, at=NOW),
        lambda: verify_chain(leaf, [inter], [root], at=NOW, lint_ok=True),
        lambda: verify_chain(leaf, [], [root], peer_name="10.0.0.11", at=NOW, candidates=[inter]),
        lambda: verify_chain(leaf, [inter, root], [], at=NOW),
        lambda: verify_chain(inter, [], [root], at=NOW),
        lambda: verify_chain(root, [], [root], purpose="client", at=NOW),
        lambda: ctx.verify(leaf, [inter], peer_name=PEER, at=NOW),
        lambda: ctx.verify(leaf, [], purpose="client", at=NOW, lint_ok=True),
        lambda: build_candidate_chain(leaf, [inter], [root]),
        lambda: classify_link([leaf, inter], [root], internal_fingerprints=[]),
        lambda: classify_link([leaf], [], candidates=[inter, root]),
        lambda: complete_chain([leaf], [inter, root]),
        lambda: required_anchor([leaf, inter], [root]),
        lambda: describe_certificate(leaf),
        lambda: describe_certificate(inter),
        lambda: describe_certificate(root),
        lambda: client_findings(leaf, None, NOW, publicly_trusted=False),
        lambda: client_refusals(leaf, None, NOW, publicly_trusted=True),
        lambda: [p.evaluate(c, NOW) for p in PLATFORMS.values() for c in (leaf, inter, root)],
        lambda: [describe(c, now=NOW, chain=[inter, root]) for c in (leaf, inter, root)],
        lambda: trust_store_changes(
            {"cam": [root], "cas": []},
            {"cam": [root], "cas": [root, leaf]},
            cams=["cam"],
            prune=True,
        ),
        lambda: rotation_plan(
            "cas",
            [_LEAF.cert, _INTER.cert, _ROOT.cert],
            [leaf, inter, root],
            {"cam": [_ROOT.cert]},
            verifiers=["cam"],
            installed_on=["cas"],
            cams=["cam"],
        ),
    ]
    for call in calls:
        try:
            results.append(call())
        except InputError as exc:
            results.append(exc)
    return results


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(role=st.sampled_from(["leaf", "intermediate", "root"]), exts=_extensions())
def test_trust_never_crashes_on_mutated_extensions(role: str, exts: list[bytes]) -> None:
    leaf, inter, root = _chain(role, exts)
    results = _every_trust_function(leaf, inter, root)
    for verdict in results:
        if isinstance(verdict, Verdict) and not verdict.ok:
            assert verdict.findings
            assert all(f.reason and f.fix for f in verdict.findings)
    changed = {"leaf": leaf, "intermediate": inter, "root": root}[role]
    if role != "root" and extensions_error(changed) is not None:
        verdict = results[0]
        assert isinstance(verdict, Verdict)
        assert not verdict.ok
        assert Code.MALFORMED in verdict.codes


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    role=st.sampled_from(["leaf", "intermediate", "root"]),
    key_algorithm=st.none() | st.sampled_from(ALGORITHMS),
    signature_algorithm=st.none() | st.sampled_from(ALGORITHMS),
    exts=st.none() | _extensions(),
)
def test_trust_never_crashes_on_unknown_or_mismatched_algorithms(
    role: str,
    key_algorithm: bytes | None,
    signature_algorithm: bytes | None,
    exts: list[bytes] | None,
) -> None:
    """A key or signature algorithm cryptography cannot use (``public_key()`` and
    ``signature_hash_algorithm`` raise) is a finding too, never an exception."""
    try:
        leaf, inter, root = _chain(role, exts, key_algorithm, signature_algorithm)
    except ValueError:  # cryptography cannot load it (e.g. RSA-PSS without parameters)
        reject()
    for verdict in _every_trust_function(leaf, inter, root):
        if isinstance(verdict, Verdict) and not verdict.ok:
            assert verdict.findings


# ---------------------------------------------------------------------------- the shapes by hand


def _with(role: str, *exts: bytes) -> tuple[x509.Certificate, x509.Certificate, x509.Certificate]:
    leaf, inter, root = _LEAF.cert, _INTER.cert, _ROOT.cert
    base = {"leaf": leaf, "intermediate": inter, "root": root}[role]
    kept = [
        raw_extension(e.oid.dotted_string, e.value.public_bytes(), critical=e.critical)
        for e in base.extensions
    ]
    return _chain(role, [*kept, *exts])


_DUP_BC = raw_extension(ExtensionOID.BASIC_CONSTRAINTS.dotted_string, bytes.fromhex("3000"))
_BAD_NC = raw_extension(ExtensionOID.NAME_CONSTRAINTS.dotted_string, CRAFTED[0][1], critical=True)


def test_duplicated_extension_on_the_leaf_is_a_finding_naming_it() -> None:
    leaf, inter, root = _with("leaf", _DUP_BC)
    verdict = verify_chain(leaf, [inter], [root], peer_name=PEER, at=NOW)
    assert not verdict.ok
    [malformed] = [f for f in verdict.findings if f.code == Code.MALFORMED]
    assert malformed.subject == PEER
    assert "basicConstraints" in malformed.reason
    assert "more than once" in malformed.reason
    assert "re-issue" in malformed.fix
    refusals = client_refusals(leaf, None, NOW, publicly_trusted=False)
    # a platform deferring to another (the Mac agent to the agent) leaves it to that one
    deferring = {p for p in refusals if PLATFORMS[p].defers_to}
    assert deferring == {"agent-macos"}
    assert all(Code.MALFORMED in [f.code for f in refusals[p]] for p in set(refusals) - deferring)
    assert all(Code.MALFORMED not in [f.code for f in refusals[p]] for p in deferring)
    alone = client_refusals(leaf, deferring, NOW, publicly_trusted=False)
    assert all(Code.MALFORMED in [f.code for f in fs] for fs in alone.values())


@pytest.mark.parametrize("role", ["leaf", "intermediate"])
def test_name_constraint_with_an_invalid_ip_network_is_a_finding(role: str) -> None:
    leaf, inter, root = _with(role, _BAD_NC)
    bad = leaf if role == "leaf" else inter
    verdict = verify_chain(leaf, [inter], [root], peer_name=PEER, at=NOW)
    assert not verdict.ok
    if extensions_error(bad) is not None:
        assert Code.MALFORMED in verdict.codes


def test_a_malformed_root_in_the_trust_store_is_a_verdict() -> None:
    leaf, inter, root = _with("root", _DUP_BC)
    verdict = verify_chain(leaf, [inter], [root], peer_name=PEER, at=NOW)
    assert isinstance(verdict, Verdict)
    if not verdict.ok:
        assert verdict.findings


# ---------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize("bad", [_DUP_BC, _BAD_NC], ids=["duplicated", "bad-ip-network"])
def test_inspect_file_refuses_a_malformed_certificate_cleanly(
    bad: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ccapki inspect FILE`` reads files through pki.formats, which refuses a certificate
    whose extensions do not parse: one error line and a hint, exit 2, never a traceback."""
    monkeypatch.setenv("CCAPKI_NOW", NOW.isoformat())
    leaf, _, _ = _with("leaf", bad)
    path = tmp_path / "bad.pem"
    path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    code = main(["--home", str(tmp_path / "home"), "inspect", str(path), "--format", "json"])
    out = capsys.readouterr()
    assert code == 2, out.out + out.err
    assert "Traceback" not in out.out + out.err
    assert out.err.startswith("error: ")
    assert "malformed certificate" in out.err
    assert "\nhint: " in out.err


def test_describe_reports_why_the_extensions_cannot_be_read() -> None:
    """What ``inspect`` shows for a certificate that reached the store or a probe."""
    leaf, _, _ = _with("leaf", _DUP_BC)
    info = describe(leaf, now=NOW)
    assert info.common_name == PEER
    assert info.malformed is not None
    assert "appears more than once" in info.malformed
    assert info.to_json()["malformed"] == info.malformed
    assert describe(_LEAF.cert, now=NOW).malformed is None
