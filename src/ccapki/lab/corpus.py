"""The differential corpus: deviant certificate chains, each named and described.

:func:`build_corpus` mints, from an explicit ``now``, one :class:`CorpusCase` per deviation
that real stacks judge differently or that an administrator meets in the field: a CA made
with plain ``openssl req -x509`` (no keyUsage), expired and not-yet-valid certificates,
names in the CN only, wildcards, missing EKUs, chains served incomplete, out of order or with
extra certificates, cross-signed roots, unknown critical extensions, path lengths, weak keys
and signatures (RSA-1024, SHA-1, MD5), duplicate extensions, zero and negative serials, a v1
CA... :mod:`ccapki.lab.differential` runs each through every stack available here and through
ccapki's offline verdict for that stack.

Certificates cryptography's builder refuses (SHA-1 or MD5 signatures, serial 0 or negative,
a duplicate extension, version 1) are rebuilt at the DER level from one it made and signed
again with the issuer's real key, so every certificate carries a valid signature.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["HOST", "IP", "CorpusCase", "Purpose", "build_corpus"]

#: The name every server case is checked against (and the IP of the IP cases).
HOST = "cas.corpus.test"
IP = "10.0.0.5"
Purpose = Literal["server", "client"]
Key = CertificateIssuerPrivateKeyTypes


@dataclass(frozen=True)
class CorpusCase:
    """One deviant chain.

    ``leaf`` (with ``leaf_key``) is what the server (``purpose="server"``) or the client
    (``"client"``) presents, followed by ``presented`` in that order; ``roots`` is the
    verifying side's trust store; ``name`` is what a server's client checks (``HOST`` or
    ``IP``; None for client certificates).
    """

    name: str
    description: str
    leaf: x509.Certificate
    leaf_key: Key
    presented: tuple[x509.Certificate, ...]
    roots: tuple[x509.Certificate, ...]
    peer_name: str | None = HOST
    purpose: Purpose = "server"

    def chain_pem(self) -> bytes:
        """The leaf then the presented certificates, PEM."""
        return b"".join(_pem(c) for c in (self.leaf, *self.presented))

    def roots_pem(self) -> bytes:
        """The trust store, PEM."""
        return b"".join(_pem(c) for c in self.roots)

    def key_pem(self) -> bytes:
        """The leaf's private key, unencrypted PKCS#8 PEM (test material, never a real key)."""
        return self.leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _pem(c: x509.Certificate) -> bytes:
    return c.public_bytes(serialization.Encoding.PEM)


# -- minting ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Minted:
    cert: x509.Certificate
    key: Key


class _Keys:
    """Keys by kind, generated once per corpus (RSA generation is slow)."""

    def __init__(self) -> None:
        self._cache: dict[str, Key] = {}

    def get(self, kind: str) -> Key:
        if kind not in self._cache:
            if kind.startswith("rsa"):
                bits = int(kind.split("-")[1])
                self._cache[kind] = rsa.generate_private_key(65537, bits)
            elif kind.startswith("p384"):
                self._cache[kind] = ec.generate_private_key(ec.SECP384R1())
            elif kind.startswith("ed25519"):
                self._cache[kind] = ed25519.Ed25519PrivateKey.generate()
            else:
                self._cache[kind] = ec.generate_private_key(ec.SECP256R1())
        return self._cache[kind]


_SERVER_CLIENT = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)
_KEEP: object = object()
_UNKNOWN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.55555.1.1")


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ccapki corpus"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _general_names(names: Sequence[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for n in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            out.append(x509.DNSName(n))
    return out


def _mint(
    cn: str,
    key: Key,
    issuer: _Minted | None,
    now: dt.datetime,
    *,
    ca: bool = False,
    path_length: int | None = None,
    start_days: int = -1,
    days: int = 365,
    san: Sequence[str] | None = None,
    eku: Sequence[x509.ObjectIdentifier] | object | None = _KEEP,
    key_usage: str | object | None = _KEEP,
    bc: bool = True,
    bc_critical: bool = True,
    ski: bool = True,
    aki: bool = True,
    extra: Sequence[x509.ExtensionType | tuple[x509.ExtensionType, bool]] = (),
    subject: x509.Name | None = None,
) -> _Minted:
    signer = issuer.key if issuer else key
    subj = subject or _name(cn)
    start = now + dt.timedelta(days=start_days)
    b = (
        x509.CertificateBuilder()
        .subject_name(subj)
        .issuer_name(issuer.cert.subject if issuer else subj)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
    )
    if bc:
        b = b.add_extension(
            x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), bc_critical
        )
    if key_usage is _KEEP:
        key_usage = "ca" if ca else "leaf"
    if key_usage is not None:
        b = b.add_extension(_key_usage(str(key_usage), key), critical=True)
    if eku is _KEEP:
        eku = None if ca else _SERVER_CLIENT
    if eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)  # type: ignore[call-overload]
    if san is None and not ca:
        san = [cn]
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(_general_names(san)), critical=False)
    if ski:
        b = b.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
            critical=False,
        )
    if aki and issuer is not None:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
            critical=False,
        )
    for e in extra:
        ext, crit = e if isinstance(e, tuple) else (e, False)
        b = b.add_extension(ext, critical=crit)
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return _Minted(b.sign(signer, algorithm), key)


def _key_usage(kind: str, key: Key) -> x509.KeyUsage:
    flags = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    if kind == "ca":
        flags.update(key_cert_sign=True, crl_sign=True, digital_signature=True)
    elif kind == "ca-no-certsign":
        flags.update(digital_signature=True, crl_sign=True)
    elif kind == "leaf":
        flags.update(digital_signature=True, key_encipherment=isinstance(key, rsa.RSAPrivateKey))
    elif kind == "leaf-no-digsig":
        flags.update(key_encipherment=True, key_agreement=True)
    elif kind == "leaf-keyenc-only":
        flags.update(key_encipherment=True)
    return x509.KeyUsage(**flags)


# -- DER rewriting (what cryptography's builder refuses) ----------------------------------


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw + body


def _items(body: bytes) -> list[bytes]:
    out, i = [], 0
    while i < len(body):
        first = body[i + 1]
        j = i + 2
        if first & 0x80:
            k = first & 0x7F
            length = int.from_bytes(body[j : j + k], "big")
            j += k
        else:
            length = first
        out.append(body[i : j + length])
        i = j + length
    return out


def _content(tlv: bytes) -> bytes:
    first = tlv[1]
    return tlv[2 + (first & 0x7F if first & 0x80 else 0) :]


_SIG_OIDS = {  # (key kind, hash) -> AlgorithmIdentifier DER
    ("rsa", "sha256"): bytes.fromhex("300d06092a864886f70d01010b0500"),
    ("rsa", "sha1"): bytes.fromhex("300d06092a864886f70d0101050500"),
    ("rsa", "md5"): bytes.fromhex("300d06092a864886f70d0101040500"),
    ("ec", "sha256"): bytes.fromhex("300a06082a8648ce3d040302"),
    ("ec", "sha1"): bytes.fromhex("300906072a8648ce3d0401"),
}
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha1": hashes.SHA1,
    "md5": hashes.MD5,
}


def _rebuild(
    cert: x509.Certificate,
    issuer_key: Key,
    *,
    digest: str = "sha256",
    serial: int | None = None,
    v1: bool = False,
    duplicate_oid: x509.ObjectIdentifier | None = None,
) -> x509.Certificate:
    """``cert`` with its TBS changed and signed again by ``issuer_key`` (RSA or ECDSA)."""
    der = cert.public_bytes(serialization.Encoding.DER)
    fields = _items(_content(_items(_content(der))[0]))
    kind = "rsa" if isinstance(issuer_key, rsa.RSAPrivateKey) else "ec"
    algorithm = _SIG_OIDS[(kind, digest)]
    off = 1 if fields[0][0] == 0xA0 else 0
    fields[off + 1] = algorithm
    if serial is not None:
        n = serial.to_bytes((serial.bit_length() + 8) // 8 or 1, "big", signed=True)
        fields[off] = _tlv(0x02, n)
    if duplicate_oid is not None:
        block = _items(_content(fields[-1]))[0]
        exts = _items(_content(block))
        dup = next(e for e in exts if _oid_of(e) == duplicate_oid)
        fields[-1] = _tlv(0xA3, _tlv(0x30, b"".join([*exts, dup])))
    if v1:
        fields = [f for f in fields[off:] if f[0] != 0xA3]
    tbs = _tlv(0x30, b"".join(fields))
    h = _HASHES[digest]()
    if isinstance(issuer_key, rsa.RSAPrivateKey):
        sig = issuer_key.sign(tbs, padding.PKCS1v15(), h)
    elif isinstance(issuer_key, ec.EllipticCurvePrivateKey):
        sig = issuer_key.sign(tbs, ec.ECDSA(h))
    else:
        raise TypeError("the corpus rebuilds certificates signed by RSA or ECDSA keys only")
    with warnings.catch_warnings():  # serial 0 / negative: that deviation is the point
        warnings.simplefilter("ignore")
        return x509.load_der_x509_certificate(
            _tlv(0x30, tbs + algorithm + _tlv(0x03, b"\x00" + sig))
        )


def _oid_of(ext_tlv: bytes) -> x509.ObjectIdentifier:
    oid_tlv = _items(_content(ext_tlv))[0]
    body = _content(oid_tlv)
    arcs: list[int] = []
    n = 0
    for byte in body:
        n = (n << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(n)
            n = 0
    first = min(arcs[0] // 40, 2)
    return x509.ObjectIdentifier(".".join(map(str, [first, arcs[0] - 40 * first, *arcs[1:]])))


# -- the corpus -------------------------------------------------------------------------


def build_corpus(now: dt.datetime) -> list[CorpusCase]:
    """Every case, minted from ``now`` (use the wall clock: live stacks check validity
    against it). Names are unique; the order is stable."""
    keys = _Keys()
    ec_ = keys.get
    cases: list[CorpusCase] = []

    def add(
        name: str,
        description: str,
        leaf: _Minted,
        presented: Sequence[x509.Certificate],
        roots: Sequence[x509.Certificate],
        *,
        peer_name: str | None = HOST,
        purpose: Purpose = "server",
    ) -> None:
        cases.append(
            CorpusCase(
                name,
                description,
                leaf.cert,
                leaf.key,
                tuple(presented),
                tuple(roots),
                peer_name if purpose == "server" else None,
                purpose,
            )
        )

    root = _mint("Corpus Root CA", ec_("root"), None, now, ca=True, days=3650)
    inter = _mint("Corpus Issuing CA", ec_("inter"), root, now, ca=True, path_length=0)

    def leaf(**kw: object) -> _Minted:
        issuer = kw.pop("issuer", inter)
        key = kw.pop("key", ec_("leaf"))
        cn = str(kw.pop("cn", HOST))
        return _mint(cn, key, issuer, now, **kw)  # type: ignore[arg-type]

    good = leaf()
    add(
        "good",
        "root -> issuing CA -> leaf, everything as it should be",
        good,
        [inter.cert],
        [root.cert],
    )
    add(
        "good-direct",
        "the leaf signed by the root itself (no intermediate)",
        leaf(issuer=root),
        [],
        [root.cert],
    )
    add(
        "root-in-chain",
        "the server also sends the root (harmless, common)",
        good,
        [inter.cert, root.cert],
        [root.cert],
    )
    add(
        "intermediate-missing",
        "the server sends the leaf only; the client has only the root",
        good,
        [],
        [root.cert],
    )
    add(
        "intermediate-as-anchor",
        "the client trusts the issuing CA (not the root) and the server sends the leaf only",
        good,
        [],
        [inter.cert],
    )
    other = _mint("Other Root CA", ec_("other"), None, now, ca=True, days=3650)
    add(
        "untrusted-root",
        "the chain ends at a root the client does not trust",
        good,
        [inter.cert],
        [other.cert],
    )
    add(
        "intermediate-and-root-as-anchors",
        "the client trusts both the issuing CA and its root; the server sends the leaf only",
        good,
        [],
        [inter.cert, root.cert],
    )
    add(
        "extra-unrelated-cert",
        "the server sends an unrelated self-signed certificate after the chain",
        good,
        [inter.cert, other.cert],
        [root.cert],
    )
    # two intermediates, sent in the wrong order
    i1 = _mint("Corpus Policy CA", ec_("i1"), root, now, ca=True, path_length=1)
    i2 = _mint("Corpus Server CA", ec_("i2"), i1, now, ca=True, path_length=0)
    deep = leaf(issuer=i2)
    add(
        "two-intermediates",
        "root -> CA -> CA -> leaf, sent in order",
        deep,
        [i2.cert, i1.cert],
        [root.cert],
    )
    add(
        "chain-out-of-order",
        "root -> CA -> CA -> leaf, the intermediates sent in the wrong order",
        deep,
        [i1.cert, i2.cert],
        [root.cert],
    )
    # cross-signed: a new root cross-signed by the old one; the client trusts only the old
    new_root = _mint("Corpus New Root CA", ec_("newroot"), None, now, ca=True, days=3650)
    cross = _mint(
        "Corpus New Root CA", ec_("newroot"), root, now, ca=True, subject=new_root.cert.subject
    )
    new_inter = _mint(
        "Corpus New Issuing CA", ec_("newinter"), new_root, now, ca=True, path_length=0
    )
    add(
        "cross-signed-root",
        "the chain ends at a new root, sent cross-signed by the old root the client trusts",
        leaf(issuer=new_inter),
        [new_inter.cert, cross.cert],
        [root.cert],
    )
    # the CA made with plain `openssl req -x509` (CA:TRUE, no keyUsage)
    bare = _mint("Third Party Root CA", ec_("bare"), None, now, ca=True, days=3650, key_usage=None)
    add(
        "root-without-keyusage",
        "a third-party root made with plain `openssl req -x509`: CA:TRUE, no keyUsage",
        leaf(issuer=bare),
        [],
        [bare.cert],
    )
    bare_inter = _mint("Bare Issuing CA", ec_("bareinter"), root, now, ca=True, key_usage=None)
    add(
        "intermediate-without-keyusage",
        "an issuing CA without keyUsage",
        leaf(issuer=bare_inter),
        [bare_inter.cert],
        [root.cert],
    )
    nocs = _mint("No-CertSign CA", ec_("nocs"), root, now, ca=True, key_usage="ca-no-certsign")
    add(
        "ca-keyusage-without-keycertsign",
        "the issuing CA's keyUsage lacks keyCertSign",
        leaf(issuer=nocs),
        [nocs.cert],
        [root.cert],
    )
    root_nocs = _mint(
        "No-CertSign Root", ec_("rootnocs"), None, now, ca=True, key_usage="ca-no-certsign"
    )
    add(
        "root-keyusage-without-keycertsign",
        "the trusted root's keyUsage lacks keyCertSign",
        leaf(issuer=root_nocs),
        [],
        [root_nocs.cert],
    )
    # validity
    add(
        "leaf-expired",
        "the leaf expired yesterday",
        leaf(start_days=-400, days=399),
        [inter.cert],
        [root.cert],
    )
    add(
        "leaf-not-yet-valid",
        "the leaf starts in two days",
        leaf(start_days=2),
        [inter.cert],
        [root.cert],
    )
    old_inter = _mint(
        "Expired Issuing CA", ec_("oldinter"), root, now, ca=True, start_days=-800, days=799
    )
    add(
        "intermediate-expired",
        "the issuing CA expired yesterday (the leaf is in date)",
        leaf(issuer=old_inter),
        [old_inter.cert],
        [root.cert],
    )
    future_inter = _mint("Future Issuing CA", ec_("futinter"), root, now, ca=True, start_days=2)
    add(
        "intermediate-not-yet-valid",
        "the issuing CA starts in two days",
        leaf(issuer=future_inter),
        [future_inter.cert],
        [root.cert],
    )
    old_root = _mint(
        "Expired Root CA", ec_("oldroot"), None, now, ca=True, start_days=-800, days=799
    )
    add(
        "root-expired",
        "the trusted root itself expired yesterday",
        leaf(issuer=old_root),
        [],
        [old_root.cert],
    )
    add(
        "leaf-five-years",
        "a leaf valid for five years (browsers cap public certificates, not private ones)",
        leaf(days=1825),
        [inter.cert],
        [root.cert],
    )
    # names
    add(
        "name-mismatch",
        "the leaf names other.corpus.test only",
        leaf(san=["other.corpus.test"]),
        [inter.cert],
        [root.cert],
    )
    add(
        "cn-only",
        "the name is in the CN only: no subjectAltName at all",
        leaf(san=[]),
        [inter.cert],
        [root.cert],
    )
    add(
        "ip-in-san",
        "the client checks an IP address listed as an iPAddress SAN",
        leaf(cn=IP, san=[IP]),
        [inter.cert],
        [root.cert],
        peer_name=IP,
    )
    add(
        "ip-only-in-cn",
        "the client checks an IP address that is only in the CN (no SAN)",
        leaf(cn=IP, san=[]),
        [inter.cert],
        [root.cert],
        peer_name=IP,
    )
    add(
        "ip-as-dns-san",
        "the IP address written as a dNSName SAN instead of an iPAddress",
        leaf(cn=IP, san=[], extra=[x509.SubjectAlternativeName([x509.DNSName(IP)])]),
        [inter.cert],
        [root.cert],
        peer_name=IP,
    )
    add(
        "wildcard",
        "a *.corpus.test leaf for cas.corpus.test",
        leaf(cn="*.corpus.test", san=["*.corpus.test"]),
        [inter.cert],
        [root.cert],
    )
    add(
        "wildcard-two-labels",
        "a *.test leaf for cas.corpus.test (the wildcard covers one label only)",
        leaf(cn="*.test", san=["*.test"]),
        [inter.cert],
        [root.cert],
    )
    add(
        "wildcard-partial-label",
        "a ca*.corpus.test leaf (a partial-label wildcard)",
        leaf(cn="ca*.corpus.test", san=["ca*.corpus.test"]),
        [inter.cert],
        [root.cert],
    )
    add(
        "wildcard-partial-label-suffix",
        "a *s.corpus.test leaf (the wildcard first in the label, a suffix after it)",
        leaf(cn="*s.corpus.test", san=["*s.corpus.test"]),
        [inter.cert],
        [root.cert],
    )
    add(
        "wildcard-inside-label",
        "a c*s.corpus.test leaf (the wildcard in the middle of the label)",
        leaf(cn="c*s.corpus.test", san=["c*s.corpus.test"]),
        [inter.cert],
        [root.cert],
    )
    add(
        "wildcard-under-a-tld",
        "a *.test leaf for cas.test (a wildcard directly under a top-level domain)",
        leaf(cn="*.test", san=["*.test"]),
        [inter.cert],
        [root.cert],
        peer_name="cas.test",
    )
    add(
        "san-differs-from-cn",
        "the CN names the host but the SAN names another",
        leaf(san=["other.corpus.test"], cn=HOST),
        [inter.cert],
        [root.cert],
    )
    # usages
    add(
        "no-eku",
        "the leaf has no extendedKeyUsage (any usage)",
        leaf(eku=None),
        [inter.cert],
        [root.cert],
    )
    add(
        "missing-serverauth",
        "the leaf's EKU is clientAuth only, presented by a server",
        leaf(eku=[ExtendedKeyUsageOID.CLIENT_AUTH]),
        [inter.cert],
        [root.cert],
    )
    add(
        "client-good",
        "a client certificate (serverAuth + clientAuth) for mutual TLS",
        leaf(),
        [inter.cert],
        [root.cert],
        purpose="client",
    )
    add(
        "client-missing-clientauth",
        "a client certificate whose EKU is serverAuth only (a CAM/CAS link needs both)",
        leaf(eku=[ExtendedKeyUsageOID.SERVER_AUTH]),
        [inter.cert],
        [root.cert],
        purpose="client",
    )
    add(
        "leaf-keyusage-without-digitalsignature",
        "the leaf's keyUsage lacks digitalSignature (an ECDSA key must sign the handshake)",
        leaf(key_usage="leaf-no-digsig"),
        [inter.cert],
        [root.cert],
    )
    add(
        "rsa-leaf-keyusage-keyencipherment-only",
        "an RSA leaf whose keyUsage is keyEncipherment only (enough for TLS 1.2 RSA key "
        "exchange, not for a signed handshake)",
        leaf(key=ec_("rsa-2048"), key_usage="leaf-keyenc-only"),
        [inter.cert],
        [root.cert],
    )
    add(
        "client-keyusage-without-digitalsignature",
        "a client certificate whose keyUsage lacks digitalSignature",
        leaf(key_usage="leaf-no-digsig"),
        [inter.cert],
        [root.cert],
        purpose="client",
    )
    eku_ca = _mint(
        "EKU Issuing CA", ec_("ekuca"), root, now, ca=True, eku=[ExtendedKeyUsageOID.SERVER_AUTH]
    )
    add(
        "eku-on-ca-serverauth",
        "the issuing CA carries an EKU of serverAuth",
        leaf(issuer=eku_ca),
        [eku_ca.cert],
        [root.cert],
    )
    eku_ca2 = _mint(
        "Email-Only Issuing CA",
        ec_("ekuca2"),
        root,
        now,
        ca=True,
        eku=[ExtendedKeyUsageOID.EMAIL_PROTECTION],
    )
    add(
        "eku-on-ca-excludes-serverauth",
        "the issuing CA's EKU is emailProtection only (a chained EKU constraint)",
        leaf(issuer=eku_ca2),
        [eku_ca2.cert],
        [root.cert],
    )
    # basic constraints and path length
    p0_root = _mint("PathLen0 Root CA", ec_("p0root"), None, now, ca=True, path_length=0, days=3650)
    p0_inter = _mint("Under PathLen0 CA", ec_("p0inter"), p0_root, now, ca=True, path_length=0)
    add(
        "pathlen-exceeded",
        "the root says pathLen 0 but an issuing CA sits under it",
        leaf(issuer=p0_inter),
        [p0_inter.cert],
        [p0_root.cert],
    )
    nc_inter = _mint("BC-Noncritical CA", ec_("ncinter"), root, now, ca=True, bc_critical=False)
    add(
        "ca-basicconstraints-not-critical",
        "the issuing CA's basicConstraints is not marked critical",
        leaf(issuer=nc_inter),
        [nc_inter.cert],
        [root.cert],
    )
    nobc = _mint("No-BC CA", ec_("nobc"), root, now, ca=True, bc=False)
    add(
        "ca-without-basicconstraints",
        "the issuing CA has no basicConstraints at all",
        leaf(issuer=nobc),
        [nobc.cert],
        [root.cert],
    )
    leaf_ca = _mint(
        HOST,
        ec_("leafca"),
        inter,
        now,
        ca=True,
        path_length=0,
        key_usage="ca",
        eku=_SERVER_CLIENT,
        san=[HOST],
    )
    add("leaf-is-ca", "the server's certificate says CA:TRUE", leaf_ca, [inter.cert], [root.cert])
    add(
        "leaf-without-basicconstraints",
        "the leaf has no basicConstraints",
        leaf(bc=False),
        [inter.cert],
        [root.cert],
    )
    # self-signed identities (4.7+ temporary certificates)
    ss = _mint(HOST, ec_("ss"), None, now, ca=False, san=[HOST])
    add(
        "self-signed-leaf-trusted",
        "a true self-signed identity (CA:FALSE), trusted directly",
        ss,
        [],
        [ss.cert],
    )
    ss_ca = _mint(HOST, ec_("ssca"), None, now, ca=True, san=[HOST], eku=_SERVER_CLIENT)
    add(
        "self-signed-ca-identity-trusted",
        "a self-signed identity with CA:TRUE and keyCertSign, trusted directly",
        ss_ca,
        [],
        [ss_ca.cert],
    )
    ss_old = _mint(HOST, ec_("ssold"), None, now, ca=False, san=[HOST], start_days=-400, days=399)
    add(
        "self-signed-leaf-expired-trusted",
        "a true self-signed identity that expired yesterday, trusted directly (an "
        "install-time temporary certificate left in place)",
        ss_old,
        [],
        [ss_old.cert],
    )
    ss_nobc = _mint(HOST, ec_("ssnobc"), None, now, bc=False, san=[HOST])
    add(
        "self-signed-leaf-without-basicconstraints-trusted",
        "a true self-signed identity without basicConstraints, trusted directly",
        ss_nobc,
        [],
        [ss_nobc.cert],
    )
    # extensions
    add(
        "leaf-critical-unknown-extension",
        "the leaf carries an unknown extension marked critical",
        leaf(extra=[(x509.UnrecognizedExtension(_UNKNOWN_OID, b"\x05\x00"), True)]),
        [inter.cert],
        [root.cert],
    )
    add(
        "leaf-noncritical-unknown-extension",
        "the leaf carries an unknown extension, not critical",
        leaf(extra=[(x509.UnrecognizedExtension(_UNKNOWN_OID, b"\x05\x00"), False)]),
        [inter.cert],
        [root.cert],
    )
    crit_inter = _mint(
        "Critical-Ext CA",
        ec_("critinter"),
        root,
        now,
        ca=True,
        extra=[(x509.UnrecognizedExtension(_UNKNOWN_OID, b"\x05\x00"), True)],
    )
    add(
        "ca-critical-unknown-extension",
        "the issuing CA carries an unknown extension marked critical",
        leaf(issuer=crit_inter),
        [crit_inter.cert],
        [root.cert],
    )
    dup = _rebuild(
        leaf().cert, inter.key, duplicate_oid=x509.oid.ExtensionOID.SUBJECT_ALTERNATIVE_NAME
    )
    add(
        "duplicate-extension",
        "the leaf carries subjectAltName twice",
        _Minted(dup, ec_("leaf")),
        [inter.cert],
        [root.cert],
    )
    add(
        "leaf-without-aki",
        "the leaf has no authorityKeyIdentifier",
        leaf(aki=False),
        [inter.cert],
        [root.cert],
    )
    noaki = _mint("No-AKI Issuing CA", ec_("noaki"), root, now, ca=True, aki=False)
    add(
        "intermediate-without-aki",
        "the issuing CA has no authorityKeyIdentifier",
        leaf(issuer=noaki),
        [noaki.cert],
        [root.cert],
    )
    noski = _mint("No-SKI CA", ec_("noski"), root, now, ca=True, ski=False)
    add(
        "ca-without-ski",
        "the issuing CA has no subjectKeyIdentifier (its leaf's AKI still names it)",
        leaf(issuer=noski),
        [noski.cert],
        [root.cert],
    )
    nc_root = _mint(
        "Constrained Root CA",
        ec_("ncroot"),
        None,
        now,
        ca=True,
        days=3650,
        extra=[(x509.NameConstraints([x509.DNSName("other.test")], None), True)],
    )
    add(
        "name-constraints-violated",
        "the root permits only names under other.test; the leaf is cas.corpus.test",
        leaf(issuer=nc_root),
        [],
        [nc_root.cert],
    )
    # serials and versions
    add(
        "serial-zero",
        "the leaf's serial number is 0",
        _Minted(_rebuild(good.cert, inter.key, serial=0), good.key),
        [inter.cert],
        [root.cert],
    )
    add(
        "serial-negative",
        "the leaf's serial number is negative",
        _Minted(_rebuild(good.cert, inter.key, serial=-12345), good.key),
        [inter.cert],
        [root.cert],
    )
    v1_root_key = ec_("v1root")
    v1_root_raw = _mint("V1 Root CA", v1_root_key, None, now, ca=True, days=3650)
    v1_root = _Minted(_rebuild(v1_root_raw.cert, v1_root_key, v1=True), v1_root_key)
    add(
        "v1-root",
        "a version 1 root (no extensions at all), trusted directly",
        leaf(issuer=v1_root, aki=False),
        [],
        [v1_root.cert],
    )
    v1_inter = _Minted(_rebuild(inter.cert, root.key, v1=True), inter.key)
    add(
        "v1-intermediate",
        "a version 1 issuing CA (no basicConstraints) between root and leaf",
        leaf(issuer=v1_inter, aki=False),
        [v1_inter.cert],
        [root.cert],
    )
    # keys and signatures
    rsa_root = _mint("RSA Root CA", keys.get("rsa-2048-root"), None, now, ca=True, days=3650)
    rsa_inter = _mint(
        "RSA Issuing CA", keys.get("rsa-2048-inter"), rsa_root, now, ca=True, path_length=0
    )
    rsa_leaf = leaf(issuer=rsa_inter, key=keys.get("rsa-2048-leaf"))
    add("rsa-good", "an all-RSA-2048 chain", rsa_leaf, [rsa_inter.cert], [rsa_root.cert])
    add(
        "rsa-1024-leaf",
        "an RSA-1024 leaf under an RSA-2048 chain",
        leaf(issuer=rsa_inter, key=keys.get("rsa-1024-leaf")),
        [rsa_inter.cert],
        [rsa_root.cert],
    )
    weak_inter = _mint(
        "RSA-1024 Issuing CA", keys.get("rsa-1024-inter"), rsa_root, now, ca=True, path_length=0
    )
    add(
        "rsa-1024-intermediate",
        "an RSA-1024 issuing CA",
        leaf(issuer=weak_inter, key=keys.get("rsa-2048-leaf")),
        [weak_inter.cert],
        [rsa_root.cert],
    )
    add(
        "p384-leaf-under-rsa",
        "an ECDSA P-384 leaf under an RSA root and issuing CA",
        leaf(issuer=rsa_inter, key=keys.get("p384-leaf")),
        [rsa_inter.cert],
        [rsa_root.cert],
    )
    add(
        "ed25519-leaf",
        "an Ed25519 leaf under an RSA chain",
        leaf(issuer=rsa_inter, key=keys.get("ed25519-leaf")),
        [rsa_inter.cert],
        [rsa_root.cert],
    )
    add(
        "sha1-leaf",
        "the leaf is signed with SHA-1 (RSA)",
        _Minted(_rebuild(rsa_leaf.cert, rsa_inter.key, digest="sha1"), rsa_leaf.key),
        [rsa_inter.cert],
        [rsa_root.cert],
    )
    sha1_inter = _Minted(_rebuild(rsa_inter.cert, rsa_root.key, digest="sha1"), rsa_inter.key)
    add(
        "sha1-intermediate",
        "the issuing CA is signed with SHA-1 (RSA)",
        rsa_leaf,
        [sha1_inter.cert],
        [rsa_root.cert],
    )
    sha1_root = _Minted(_rebuild(rsa_root.cert, rsa_root.key, digest="sha1"), rsa_root.key)
    add(
        "sha1-root",
        "the trusted root's self-signature is SHA-1 (anchors' signatures are not checked)",
        rsa_leaf,
        [rsa_inter.cert],
        [sha1_root.cert],
    )
    add(
        "md5-leaf",
        "the leaf is signed with MD5 (RSA)",
        _Minted(_rebuild(rsa_leaf.cert, rsa_inter.key, digest="md5"), rsa_leaf.key),
        [rsa_inter.cert],
        [rsa_root.cert],
    )
    ec_sha1 = _Minted(_rebuild(good.cert, inter.key, digest="sha1"), good.key)
    add("ecdsa-sha1-leaf", "the leaf is signed with ECDSA-SHA1", ec_sha1, [inter.cert], [root.cert])
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "corpus case names must be unique"
    return cases
