"""``classify``: what an endpoint presented, held against the inventory (pure; certificates
minted at test time).

The inventory is a CAM HA pair (cam-a, cam-b: identity ``cam``, two versions) and a
standalone CAS (``cas1``), both signed by one internal CA; the endpoints' results are
:class:`~ccapki.probe.ProbeResult` values as :func:`~ccapki.probe.observe_many` returns them.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ccapki.lifecycle.probing import Known, classify, classify_endpoint
from ccapki.pki.certs import fingerprint
from ccapki.pki.keys import public_key_fingerprint
from ccapki.probe import ProbeResult, ProbeTarget
from ccapki.store.records import CertSource, ProbeVerdict, StoredCA, StoredIdentity
from kit.certs import NOW, Ca, Leaf, OutsideCA, issue, make_ca, mint

DER = serialization.Encoding.DER


def _stored(name: str, version: int, leaf: Leaf, created: dt.datetime = NOW) -> StoredIdentity:
    return StoredIdentity(
        name,
        version,
        leaf.cert,
        leaf.chain,
        CertSource.INTERNAL,
        public_key_fingerprint(leaf.cert.public_key()),
        fingerprint(leaf.cert),
        created,
        "campus",
    )


class Inventory:
    """The store's view: ``cam`` v1 and v2 (the pair), ``cas1`` v1, the internal CA."""

    def __init__(self, release: str = "4.8.0", temp_signer: str = "self", temp_days: int = 1826):
        self.ca: Ca = make_ca("Campus")
        names = ("cam.example.edu", "cam-a.example.edu", "cam-b.example.edu")
        self.cam1 = issue(self.ca, "cam.example.edu", names)
        self.cam2 = issue(self.ca, "cam.example.edu", names)
        self.cas1 = issue(self.ca, "cas1.example.edu")
        cas = (
            StoredCA(
                "Campus Root CA", "internal-root", self.ca.root, fingerprint(self.ca.root), ""
            ),
            StoredCA(
                "Campus Issuing CA",
                "internal-ca",
                self.ca.chain[0],
                fingerprint(self.ca.chain[0]),
                "",
            ),
        )
        self.known = Known(
            "campus",
            {"cam-a": "cam", "cam-b": "cam", "cas1": "cas1"},
            {"cam": ("cam-a", "cam-b"), "cas1": ("cas1",)},
            {
                "cam": _stored("cam", 2, self.cam2, NOW + dt.timedelta(days=1)),
                "cas1": _stored("cas1", 1, self.cas1),
            },
            {fingerprint(self.cam1.cert): (("cam", 1),)},
            cas,
            temp_signer,
            temp_days,
            release,
        )


def served(*certs: x509.Certificate, ok: bool = True, **kw: object) -> ProbeResult:
    """What an endpoint presenting ``certs`` (leaf first) gave the observer."""
    return ProbeResult(
        ProbeTarget("127.0.0.1", 443),
        ok,
        peer_chain_der=tuple(c.public_bytes(DER) for c in certs),
        tls_version="TLSv1.3",
        handshake_seconds=0.004,
        **kw,  # type: ignore[arg-type]
    )


def failed(kind: str, error: str, attempts: int = 1) -> ProbeResult:
    return ProbeResult(
        ProbeTarget("127.0.0.1", 443), False, error, kind, handshake_seconds=1.0, attempts=attempts
    )


def test_the_current_version_is_expected_and_an_older_one_stale() -> None:
    inv = Inventory()
    cur = classify_endpoint("cam-a", served(inv.cam2.cert, *inv.cam2.chain), inv.known, now=NOW)
    assert cur.verdict is ProbeVerdict.EXPECTED
    assert (cur.identity, cur.version) == ("cam", 2)
    assert cur.reason.startswith("cam v2, expires ")
    old = classify_endpoint("cam-a", served(inv.cam1.cert, *inv.cam1.chain), inv.known, now=NOW)
    assert old.verdict is ProbeVerdict.STALE
    assert (old.identity, old.version) == ("cam", 1)
    assert "superseded by v2" in old.reason
    assert "ccapki lab reload" in old.reason
    assert "ccapki export cam" in old.reason


def test_a_current_certificate_sent_without_its_intermediate_says_so() -> None:
    inv = Inventory()
    j = classify_endpoint("cas1", served(inv.cas1.cert), inv.known, now=NOW)
    assert j.verdict is ProbeVerdict.EXPECTED
    assert "lacks the intermediate Campus Issuing CA" in j.reason


def test_another_identitys_certificate_is_unknown_drift() -> None:
    inv = Inventory()
    j = classify_endpoint("cas1", served(inv.cam2.cert, *inv.cam2.chain), inv.known, now=NOW)
    assert j.verdict is ProbeVerdict.UNKNOWN
    assert "presents cam's certificate (v2), not cas1's" in j.reason
    older = classify_endpoint("cas1", served(inv.cam1.cert), inv.known, now=NOW)
    assert older.verdict is ProbeVerdict.UNKNOWN
    assert "presents cam's older certificate (v1), not cas1's" in older.reason
    assert (older.identity, older.version) == ("cam", 1)


def test_a_certificate_from_another_ca_is_unknown_with_its_issuer(outside: OutsideCA) -> None:
    inv = Inventory()
    key = inv.cas1.key
    cert = outside.sign(inv.cas1.cert.subject, key.public_key(), dns=["cas1.example.edu"])
    j = classify_endpoint("cas1", served(cert, *outside.chain), inv.known, now=NOW)
    assert j.verdict is ProbeVerdict.UNKNOWN
    assert "issued by Outside Trust Issuing CA" in j.reason
    assert "not a certificate the store holds" in j.reason
    assert fingerprint(cert)[:16] in j.reason
    assert (j.identity, j.version) == (None, None)


def test_a_certificate_our_ca_signed_but_the_store_lacks_is_unknown() -> None:
    inv = Inventory()
    rogue = issue(inv.ca, "cas1.example.edu")
    j = classify_endpoint("cas1", served(rogue.cert, *rogue.chain), inv.known, now=NOW)
    assert j.verdict is ProbeVerdict.UNKNOWN
    assert "signed by this store's CA Campus Issuing CA" in j.reason


def test_a_self_signed_certificate_the_store_lacks_is_the_temporary_one() -> None:
    inv = Inventory(release="4.7.2", temp_signer="self", temp_days=90)
    temp = mint("cas1.example.edu", days=90)  # 4.7.2: true self-signed, three months
    j = classify_endpoint("cas1", served(temp.cert), inv.known, now=NOW)
    assert j.verdict is ProbeVerdict.TEMPORARY
    assert "self-signed cas1.example.edu" in j.reason
    assert "90 days as CCA 4.7.2's temporary certificate" in j.reason
    assert "install cas1's certificate" in j.reason


def test_a_perfigo_signed_certificate_is_the_temporary_one_of_a_release_before_4_7() -> None:
    inv = Inventory(release="4.5.0", temp_signer="perfigo", temp_days=365)
    perfigo = mint("Perfigo Root CA", ca=True, days=3650)
    temp = mint("cas1.example.edu", issuer=perfigo, days=365)
    j = classify_endpoint("cas1", served(temp.cert, perfigo.cert), inv.known, now=NOW)
    assert j.verdict is ProbeVerdict.TEMPORARY
    assert "signed by the Perfigo root (Perfigo Root CA)" in j.reason
    assert "365 days as CCA 4.5.0's temporary certificate" in j.reason


def test_an_identity_that_is_self_signed_in_the_store_is_expected_not_temporary() -> None:
    inv = Inventory()
    own = issue(None, "cas1.example.edu")  # a ccapki "self-signed" identity
    known = Known(
        "campus",
        {"cas1": "cas1"},
        {"cas1": ("cas1",)},
        {"cas1": _stored("cas1", 1, own)},
        {},
        inv.known.cas,
    )
    assert classify_endpoint("cas1", served(own.cert), known, now=NOW).verdict is (
        ProbeVerdict.EXPECTED
    )


def test_failures_without_a_certificate() -> None:
    inv = Inventory()
    cases = {
        ("refused", "connection refused", 2): ProbeVerdict.UNREACHABLE,
        ("timeout", "connected, but no answer to the TLS hello in 1 s", 1): (
            ProbeVerdict.UNREACHABLE
        ),
        ("dns", "name not resolved: Name or service not known", 1): ProbeVerdict.UNREACHABLE,
        ("not-tls", "the peer answered, but not in TLS: 'HTTP/1.1 400'", 1): ProbeVerdict.NOT_TLS,
        ("rejected", "peer refused the handshake: tlsv1 alert protocol version", 1): (
            ProbeVerdict.HANDSHAKE
        ),
        ("closed", "the peer closed the connection", 1): ProbeVerdict.HANDSHAKE,
    }
    for (kind, error, attempts), verdict in cases.items():
        j = classify_endpoint("cas1", failed(kind, error, attempts), inv.known, now=NOW)
        assert j.verdict is verdict, (kind, j)
        assert error in j.reason
        assert ("(2 attempts)" in j.reason) == (attempts == 2)


def test_a_chain_seen_before_the_handshake_failed_is_judged_by_the_chain() -> None:
    # a mutual-TLS endpoint (TLS 1.2) refuses a client without a certificate after sending
    # its own: what it presents still counts
    inv = Inventory()
    r = served(inv.cas1.cert, *inv.cas1.chain, ok=False, error="TLS error: eof", error_kind="tls")
    assert classify_endpoint("cas1", r, inv.known, now=NOW).verdict is ProbeVerdict.EXPECTED


def test_ha_peers_presenting_different_certificates() -> None:
    inv = Inventory()
    cur, old = served(inv.cam2.cert, *inv.cam2.chain), served(inv.cam1.cert, *inv.cam1.chain)
    out = classify(
        [("cam-a", "control", cur), ("cam-b", "control", old), ("cam-b", "gui", cur)],
        inv.known,
        now=NOW,
    )
    assert [j.verdict for j in out] == [
        ProbeVerdict.EXPECTED,  # the peer serving the current certificate stays expected
        ProbeVerdict.HA_MISMATCH,
        ProbeVerdict.EXPECTED,  # cam-a has no gui result here: nothing to compare
    ]
    assert out[1].reason.startswith("stale: cam v1")
    assert "its HA peer cam-a presents the current cam" in out[1].reason
    assert out[1].version == 1


def test_ha_peers_both_off_the_current_certificate_and_different_both_mismatch(
    outside: OutsideCA,
) -> None:
    inv = Inventory()
    hand = outside.sign(inv.cam2.cert.subject, inv.cam2.key.public_key(), dns=["cam.example.edu"])
    temp = mint("cam.example.edu", days=90)
    out = classify(
        [("cam-a", "gui", served(hand, *outside.chain)), ("cam-b", "gui", served(temp.cert))],
        inv.known,
        now=NOW,
    )
    assert [j.verdict for j in out] == [ProbeVerdict.HA_MISMATCH, ProbeVerdict.HA_MISMATCH]
    assert out[0].reason.startswith("unknown: ")
    assert out[1].reason.startswith("temporary: ")
    assert "its HA peer cam-a presents another certificate (unknown)" in out[1].reason


def test_ha_peers_on_the_same_older_version_are_both_stale_not_mismatched() -> None:
    inv = Inventory()
    old = served(inv.cam1.cert, *inv.cam1.chain)
    out = classify([("cam-a", "gui", old), ("cam-b", "gui", old)], inv.known, now=NOW)
    assert [j.verdict for j in out] == [ProbeVerdict.STALE, ProbeVerdict.STALE]


def test_an_unreachable_peer_is_not_a_mismatch() -> None:
    inv = Inventory()
    old = served(inv.cam1.cert, *inv.cam1.chain)
    out = classify(
        [("cam-a", "gui", failed("refused", "connection refused")), ("cam-b", "gui", old)],
        inv.known,
        now=NOW,
    )
    assert [j.verdict for j in out] == [ProbeVerdict.UNREACHABLE, ProbeVerdict.STALE]


def test_an_expired_current_certificate_is_expected_and_says_expired() -> None:
    inv = Inventory()
    later = inv.cas1.cert.not_valid_after_utc + dt.timedelta(days=3)
    j = classify_endpoint("cas1", served(inv.cas1.cert, *inv.cas1.chain), inv.known, now=later)
    assert j.verdict is ProbeVerdict.EXPECTED
    assert "(3 days ago)" in j.reason
