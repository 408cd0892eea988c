"""Reading whatever a CA or an admin hands over: certificates, keys, CSRs, bundles.

:func:`parse_material` takes the bytes of one file and returns a :class:`Material` holding every
certificate, private key, CSR and CRL inside it, each with the :class:`Kind` it came from:

- PEM with one or many blocks in any order (``CERTIFICATE``, ``TRUSTED CERTIFICATE``, ``PKCS7``,
  ``PRIVATE KEY``, ``ENCRYPTED PRIVATE KEY``, ``RSA PRIVATE KEY``, ``EC PRIVATE KEY``,
  ``CERTIFICATE REQUEST``, ``X509 CRL``), with any text around the blocks;
- DER certificates, CSRs, CRLs and private keys (PKCS#8, PKCS#1, SEC1);
- PKCS#7 certificate bundles (``.p7b``/``.p7c``, PEM or DER);
- PKCS#12/PFX, modern (AES-256, PBKDF2) and legacy (RC2/3DES);
- unsigned Apple configuration profiles (``.mobileconfig``, as ``ccapki export-roots``
  writes them): the certificates of their root/pkcs1/pem payloads, read with plistlib.

PKCS#7 and PKCS#12 files that are BER rather than strict DER (``openssl crl2pkcs7`` writes its
certificates in the order given, not DER's sorted order; some tools write indefinite lengths)
are read as OpenSSL and Windows read them, with a note in :attr:`Material.notes`.

Every failure is a :class:`~ccapki.errors.FileFormatError` (or a
:class:`~ccapki.errors.PasswordError` for a missing or wrong password) whose one-line message names
the file and says what it is or is not, with a hint naming the fix. No other exception escapes,
whatever the bytes: cryptography parses lazily, so every field ccapki later reads (names,
extensions, public key, validity, signature algorithm) is read here, inside the error boundary.
"""

from __future__ import annotations

import base64
import enum
import functools
import os
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from ccapki.errors import FileFormatError, PasswordError

__all__ = [
    "MAX_PARSE_BYTES",
    "Kind",
    "Material",
    "NoMaterialError",
    "PrivateKey",
    "expand_paths",
    "parse_files",
    "parse_material",
    "require_certificates",
    "require_keys",
]

#: Nothing a CA or admin sends is anywhere near this; bigger input is refused unparsed.
MAX_PARSE_BYTES = 16 * 1024 * 1024

#: The private key types ccapki can hold and match (signing keys only).
PrivateKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
    | dsa.DSAPrivateKey
)
_KEY_CLASSES = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
    dsa.DSAPrivateKey,
)

Expect = Literal["any", "certificate", "key"]
T = TypeVar("T")


class Kind(enum.StrEnum):
    """Where one object came from; the value is the plain-English name used in messages."""

    PEM_CERTIFICATE = "PEM certificate"
    TRUSTED_CERTIFICATE = "PEM trusted certificate (OpenSSL)"
    DER_CERTIFICATE = "DER certificate"
    PKCS7 = "PKCS#7 bundle"
    PKCS12 = "PKCS#12/PFX file"
    PKCS8 = "PKCS#8 private key"
    PKCS8_ENCRYPTED = "encrypted PKCS#8 private key"
    PKCS1 = "PKCS#1 RSA private key"
    SEC1 = "SEC1 EC private key"
    TRADITIONAL = "traditional OpenSSL private key"
    TRADITIONAL_ENCRYPTED = "encrypted traditional OpenSSL private key"
    DER_KEY = "DER private key"
    APPLE_PROFILE = "Apple configuration profile (.mobileconfig)"
    CSR = "certificate signing request (CSR)"
    CRL = "certificate revocation list (CRL)"


@dataclass(frozen=True)
class Material:
    """Everything found in one file, in file order, with the kind each object came from."""

    source: str
    certificates: tuple[x509.Certificate, ...] = ()
    certificate_kinds: tuple[Kind, ...] = ()
    keys: tuple[PrivateKey, ...] = ()
    key_kinds: tuple[Kind, ...] = ()
    csrs: tuple[x509.CertificateSigningRequest, ...] = ()
    crls: tuple[x509.CertificateRevocationList, ...] = ()
    #: PEM block labels present but not used (``PUBLIC KEY``, ``DH PARAMETERS``...).
    skipped: tuple[str, ...] = ()
    #: What the user should know although the file was read (one line each, naming the file).
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.certificates) != len(self.certificate_kinds):
            raise ValueError("one kind per certificate")
        if len(self.keys) != len(self.key_kinds):
            raise ValueError("one kind per key")

    @property
    def is_empty(self) -> bool:
        return not (self.certificates or self.keys or self.csrs or self.crls)

    @property
    def kinds(self) -> tuple[Kind, ...]:
        """Every kind present, once each, in a stable order."""
        seen = [*self.certificate_kinds, *self.key_kinds]
        seen += [Kind.CSR] * bool(self.csrs) + [Kind.CRL] * bool(self.crls)
        return tuple(dict.fromkeys(seen))

    def describe(self) -> str:
        """A short summary such as ``2 certificates (PKCS#7 bundle), 1 private key``."""
        parts = []
        for label, items, kinds in (
            ("certificate", self.certificates, self.certificate_kinds),
            ("private key", self.keys, self.key_kinds),
        ):
            if items:
                how = ", ".join(dict.fromkeys(kinds))
                parts.append(f"{_count(len(items), label)} ({how})")
        if self.csrs:
            parts.append(_count(len(self.csrs), "CSR"))
        if self.crls:
            parts.append(_count(len(self.crls), "CRL"))
        return ", ".join(parts) or "nothing usable"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# --------------------------------------------------------------------------- errors


def _one_line(exc: BaseException, limit: int = 160) -> str:
    """Why a parse failed, on one line, in plain words (see :func:`_plain`)."""
    text = _plain(" ".join(str(exc).split())) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: cryptography's DER parse error kinds, in words
_DER_PROBLEMS = {
    "ShortData": "the data ends early (truncated)",
    "ExtraData": "extra bytes follow the data",
    "InvalidValue": "a field holds an invalid value",
    "InvalidLength": "a length field is invalid",
    "UnexpectedTag": "a field is not where the format puts it",
    "InvalidTag": "a field has an invalid tag",
    "IntegerOverflow": "a number is too large",
    "InvalidSetOrdering": "a set is out of order (not DER)",
    "EncodedDefault": "a default value is written out (not DER)",
    "OidTooLong": "an object identifier is too long",
}


def _plain(text: str) -> str:
    """The cryptography library's error text without its internals (FAQ links, Rust debug
    output such as ``InvalidData(...)`` or ``ParseError { kind: ... }``)."""
    if "Unable to load PEM file" in text:
        bad = re.search(r"Invalid symbol (\d+), offset (\d+)", text)
        if bad:
            char = chr(int(bad[1]))
            return f"the base64 text holds an invalid character {char!r} at base64 offset {bad[2]}"
        if re.search(r"InvalidLength|InvalidLastSymbol|InvalidPadding", text):
            return "the base64 text is cut short or badly padded"
        return "the PEM text is not valid base64"
    kind = re.search(r"ParseError \{ kind: (\w+)", text)
    if kind:
        return _DER_PROBLEMS.get(kind[1], "its DER structure is invalid")
    if "Could not deserialize key data" in text:
        return "not a private key in a form ccapki reads (PKCS#8, PKCS#1, SEC1), or damaged"
    text = re.sub(r"\s*See https?://\S+ for more details\.?", "", text)
    return re.sub(r"\s*\(?https?://\S+\)?", "", text).strip()


def _no_certificates_empty(
    load: Callable[[bytes], list[x509.Certificate]], data: bytes
) -> list[x509.Certificate]:
    """``load(data)`` of a PKCS#7 bundle, an empty list for a signed-data bundle holding no
    certificate (``openssl crl2pkcs7 -nocrl`` without ``-certfile``), which cryptography
    refuses in its own words ("has no certificate data")."""
    try:
        return load(data)
    except ValueError as exc:
        if "no certificate data" in str(exc):
            return []
        raise


def _bad(source: str, what: str, hint: str) -> FileFormatError:
    return FileFormatError(f"{source}: {what}", hint)


class NoMaterialError(FileFormatError):
    """A file that holds no certificate, key, CSR or CRL at all and is not damaged one (a
    README, an image, an empty file, a PEM file of public keys only): :attr:`reason` says
    what it is. A folder given to :func:`parse_files` with ``skipped=`` may hold some."""

    def __init__(self, source: str, reason: str, hint: str) -> None:
        super().__init__(f"{source}: {reason}", hint)
        self.reason = reason


def _unreadable(source: str, where: str, noun: str, exc: BaseException) -> FileFormatError:
    """Why a certificate or CSR that loaded cannot be used: an algorithm the cryptography
    library does not implement (an MD5 or MD2 signature, a GOST key), or a form it does
    not read (a multi-valued CSR attribute, an x400Address SAN): well-formed, and a fresh
    copy would be the same; or else a malformed field."""
    from cryptography.exceptions import UnsupportedAlgorithm

    text = _one_line(exc)
    if isinstance(exc, UnsupportedAlgorithm):
        return _bad(
            source,
            f"{where} uses an algorithm ccapki cannot read ({text})",
            "ccapki reads RSA, ECDSA, EdDSA and DSA keys signed with SHA-1 or SHA-2: have "
            f"the {noun} made again with one of them (e.g. RSA 2048 or ECDSA P-256, SHA-256)",
        )
    if _UNSUPPORTED_FORM.search(text):
        return _bad(
            source,
            f"{where} uses a form ccapki cannot read ({text})",
            f"have the {noun} made again in a common form (DNS and IP SANs, single-valued "
            "attributes)",
        )
    return _bad(source, f"{where} is a malformed {noun} ({text})", _HINT_COPY)


#: cryptography's words for a well-formed structure it does not implement
_UNSUPPORTED_FORM = re.compile(r"\bare supported\b|\bnot supported\b")


def _none(source: str, what: str, hint: str) -> NoMaterialError:
    return NoMaterialError(source, what, hint)


_HINT_COPY = "get a fresh copy of the file from whoever sent it (copy it in binary mode)"
_HINT_ACCEPTED = (
    "ccapki reads PEM, DER, PKCS#7 (.p7b/.p7c), PKCS#12 (.p12/.pfx), Apple profiles "
    "(.mobileconfig) and PKCS#8/PKCS#1/SEC1 keys"
)


def require_certificates(
    material: Material, *, key_only_hint: str | None = None
) -> tuple[x509.Certificate, ...]:
    """The certificates of ``material``; refuses a file that holds none, saying what it is
    (:class:`FileFormatError`). ``key_only_hint`` replaces the hint for a file holding only
    a private key (by default: import it with its certificate)."""
    if material.certificates:
        return material.certificates
    src = material.source
    if material.csrs:
        raise _bad(
            src,
            "is a certificate signing request (CSR), not a certificate",
            "send the CSR to your CA and import the certificate it returns",
        )
    if material.crls:
        raise _bad(
            src,
            "is a certificate revocation list (CRL), not a certificate",
            "import the certificate file your CA returned, not its CRL",
        )
    if material.keys:
        raise _bad(
            src,
            f"holds only a private key ({', '.join(dict.fromkeys(material.key_kinds))}), "
            "no certificate",
            key_only_hint
            or "import it together with the certificate: ccapki import CERT --key KEYFILE",
        )
    raise _bad(src, "holds no certificate", _HINT_ACCEPTED)


def require_keys(material: Material) -> tuple[PrivateKey, ...]:
    """The private keys of ``material``; refuses a file that holds none, saying what it is."""
    if material.keys:
        return material.keys
    src = material.source
    if material.certificates:
        raise _bad(
            src,
            f"holds {_count(len(material.certificates), 'certificate')} but no private key",
            "name the key file saved when the CSR was made, or a PKCS#12 file holding the key",
        )
    if material.csrs:
        raise _bad(
            src,
            "is a certificate signing request (CSR), not a private key",
            "name the key file saved when the CSR was made",
        )
    raise _bad(src, "holds no private key", _HINT_ACCEPTED)


# --------------------------------------------------------------------------- force-parse


def _force_name(name: x509.Name) -> None:
    for attr in name:
        _ = attr.value


def _force_certificate(cert: x509.Certificate) -> None:
    """Read every field ccapki uses, so a lazy parse error surfaces here and nowhere later."""
    _ = cert.version, cert.serial_number
    _force_name(cert.subject)
    _force_name(cert.issuer)
    _ = cert.not_valid_before_utc, cert.not_valid_after_utc
    _ = cert.signature_algorithm_oid, cert.signature_hash_algorithm
    for ext in cert.extensions:
        _ = ext.value
    cert.public_key()


class _ForceError(Exception):
    """A certificate loaded, but one of its fields does not parse."""


@functools.lru_cache(maxsize=512)
def _load_pem_certificate(pem: bytes) -> x509.Certificate:
    """Load and force-parse one PEM certificate block.

    Cached: a batch of CA replies repeats the same intermediate in every file, and
    certificates are immutable. Failures are not cached (lru_cache never caches a raise).
    """
    cert = x509.load_pem_x509_certificate(pem)
    try:
        _force_certificate(cert)
    except Exception as exc:
        raise _ForceError(str(exc)) from exc
    return cert


def _force_csr(csr: x509.CertificateSigningRequest) -> None:
    _force_name(csr.subject)
    for ext in csr.extensions:
        _ = ext.value
    _ = csr.signature_hash_algorithm
    csr.public_key()
    from ccapki.pki.certs import csr_signature_verifies  # SHA-1 too: weak is not corrupt

    if not csr_signature_verifies(csr):
        raise ValueError("the CSR's signature does not verify (the file is corrupt)")


def _force_crl(crl: x509.CertificateRevocationList) -> None:
    _force_name(crl.issuer)
    _ = crl.last_update_utc, crl.next_update_utc
    for ext in crl.extensions:
        _ = ext.value


def _check_key(source: str, key: PrivateKeyTypes) -> PrivateKey:
    if not isinstance(key, _KEY_CLASSES):
        raise _bad(
            source,
            f"holds {_key_words(key)}, which cannot sign (not a certificate key)",
            "use the RSA, ECDSA or EdDSA key that belongs to the certificate",
        )
    if isinstance(key, dsa.DSAPrivateKey) and not _dsa_consistent(key):
        raise _bad(
            source,
            "holds a DSA private key whose public key does not follow from it (damaged or "
            "crafted: the store would seal a key other than the one it names)",
            _HINT_COPY,
        )
    return key


def _dsa_consistent(key: dsa.DSAPrivateKey) -> bool:
    """Whether ``key``'s public value is the one its private value gives. cryptography
    checks RSA and EC keys as it loads them, not DSA's ``y``: PKCS#8 keeps only ``x``, so
    the key the store seals (and later opens) would have another public key. Checked by
    a round trip through PKCS#8, with cryptography."""
    from cryptography.hazmat.primitives import serialization

    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    again = serialization.load_der_private_key(der, None)
    return isinstance(again, dsa.DSAPrivateKey) and (
        again.public_key().public_numbers() == key.public_key().public_numbers()
    )


def _key_words(key: object) -> str:
    """``an X25519 key``, ``a DH key``: a key type in words, from its class name."""
    name = type(key).__name__.removeprefix("_").removesuffix("PrivateKey") or "unknown"
    name = {"DH": "Diffie-Hellman (DH)"}.get(name, name)
    return f"{'an' if name[0] in 'AEFHILMNORSX' else 'a'} {name} key"


_UNKNOWN_ENCRYPTION = re.compile(r"Unknown key encryption algorithm:?\s*([0-9.]*)")


def _unsupported_encryption(message: str) -> str | None:
    """The encryption scheme, in words, when cryptography's error ``message`` says it cannot
    decrypt a PKCS#8 key's scheme (an unknown cipher, KDF or PRF); else None."""
    match = _UNKNOWN_ENCRYPTION.search(message)
    if match is None:
        return None
    oid = match.group(1).rstrip(".")
    return f"unknown algorithm {oid}" if oid else "an unknown algorithm"


#: cryptography's warning on loading a finite-field Diffie-Hellman key: a key that cannot
#: sign, said as such (every warning is an error while a file is parsed)
_DH_WARNING = "Diffie-Hellman over finite fields"


# --------------------------------------------------------------------------- PEM


_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9][A-Z0-9 #]*)-----")
_END = re.compile(rb"-----END ([A-Z0-9][A-Z0-9 #]*)-----")
_MARKER = re.compile(rb"(-----(?:BEGIN|END) [A-Z0-9][A-Z0-9 #]*-----)")

_CERT_LABELS = {"CERTIFICATE", "X509 CERTIFICATE"}
_KEY_LABELS = {
    "PRIVATE KEY": Kind.PKCS8,
    "ENCRYPTED PRIVATE KEY": Kind.PKCS8_ENCRYPTED,
    "RSA PRIVATE KEY": Kind.PKCS1,
    "EC PRIVATE KEY": Kind.SEC1,
    "DSA PRIVATE KEY": Kind.TRADITIONAL,
}
_CSR_LABELS = {"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"}


@dataclass(frozen=True)
class _Block:
    label: str
    line: int
    pem: bytes  # the whole block, BEGIN..END, newline-normalised

    def where(self) -> str:
        kind = _KEY_LABELS.get(self.label)
        if kind is not None:  # never the label itself: "PRIVATE KEY" on a terminal looks
            # like a leaked key (ccapki never prints one), so say what kind of key it is
            return f"the PEM key block at line {self.line} ({kind})"
        return f"PEM block {self.label} at line {self.line}"

    def body(self) -> bytes:
        """The base64 payload, without RFC 1421 headers."""
        lines = self.pem.split(b"\n")[1:-2]
        payload = [ln for ln in lines if b":" not in ln]
        return b"".join(payload)


def _normalise_block(lines: list[bytes]) -> bytes:
    """BEGIN, RFC 1421 headers (then one blank line), base64 lines, END; blank lines dropped."""
    inner = [ln.strip() for ln in lines[1:-1] if ln.strip()]
    headers = [ln for ln in inner if b":" in ln]
    payload = [ln for ln in inner if b":" not in ln]
    out = [lines[0].strip(), *headers, *([b""] if headers else []), *payload, lines[-1].strip()]
    return b"\n".join(out) + b"\n"


def _lines(text: bytes) -> list[tuple[int, bytes]]:
    """(line number, stripped line) pairs; a marker glued to other text (a cut block, a
    one-line paste) is split onto its own line, keeping the number of the line it was on."""
    text = text.removeprefix(b"\xef\xbb\xbf")
    out: list[tuple[int, bytes]] = []
    for number, raw in enumerate(
        text.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n"), 1
    ):
        line = raw.strip()
        if b"-----" not in line:
            out.append((number, line))
        elif not (_BEGIN.fullmatch(line) or _END.fullmatch(line)):
            out.extend((number, part.strip()) for part in _MARKER.split(line) if part.strip())
        else:
            out.append((number, line))
    return out


def _split_pem(source: str, text: bytes) -> list[_Block]:
    lines = _lines(text)
    blocks: list[_Block] = []
    start: tuple[str, int, int] | None = None  # label, line number, index in ``lines``
    for index, (number, line) in enumerate(lines):
        if not line.startswith(b"-----"):
            continue
        begin = _BEGIN.fullmatch(line)
        end = _END.fullmatch(line) if begin is None else None
        if begin:
            label = begin.group(1).decode("ascii")
            if start is not None:
                raise _bad(
                    source,
                    f"PEM block {start[0]} at line {start[1]} has no END line before "
                    f"BEGIN {label} at line {number} (truncated or badly pasted PEM)",
                    _HINT_COPY,
                )
            start = (label, number, index)
        elif end:
            label = end.group(1).decode("ascii")
            if start is None:
                raise _bad(
                    source,
                    f"END {label} at line {number} has no BEGIN line (truncated PEM)",
                    _HINT_COPY,
                )
            if label != start[0]:
                raise _bad(
                    source,
                    f"PEM block BEGIN {start[0]} at line {start[1]} ends with END {label} "
                    f"at line {number} (mismatched PEM)",
                    _HINT_COPY,
                )
            pem = _normalise_block([ln for _, ln in lines[start[2] : index + 1]])
            blocks.append(_Block(start[0], start[1], pem))
            start = None
    if start is not None:
        raise _bad(
            source,
            f"truncated PEM: BEGIN {start[0]} at line {start[1]} has no END line",
            _HINT_COPY,
        )
    return blocks


# --------------------------------------------------------------------------- DER helpers


def _der_length(data: bytes) -> int | None:
    """Total length of the first DER TLV in ``data`` (tag + length + value), or None.

    Only the outer header is read (one tag byte, a definite length): enough to cut an
    OpenSSL ``TRUSTED CERTIFICATE`` into its certificate and trailer, and to tell a
    truncated DER file from a malformed one. All real parsing is cryptography's.
    """
    if len(data) < 2 or data[0] & 0x1F == 0x1F:
        return None
    first = data[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 4 or len(data) < 2 + count:
        return None
    return 2 + count + int.from_bytes(data[2 : 2 + count], "big")


# --------------------------------------------------------------------------- the parser


class _Collector:
    def __init__(self, source: str, password: bytes | None) -> None:
        self.source = source
        self.password = password
        self.certs: list[x509.Certificate] = []
        self.cert_kinds: list[Kind] = []
        self.keys: list[PrivateKey] = []
        self.key_kinds: list[Kind] = []
        self.csrs: list[x509.CertificateSigningRequest] = []
        self.crls: list[x509.CertificateRevocationList] = []
        self.skipped: list[str] = []
        self.notes: list[str] = []
        self.pkcs12_error: str | None = None  # why cryptography refused it as PKCS#12

    def material(self) -> Material:
        return Material(
            source=self.source,
            certificates=tuple(self.certs),
            certificate_kinds=tuple(self.cert_kinds),
            keys=tuple(self.keys),
            key_kinds=tuple(self.key_kinds),
            csrs=tuple(self.csrs),
            crls=tuple(self.crls),
            skipped=tuple(self.skipped),
            notes=tuple(dict.fromkeys(self.notes)),
        )

    def lenient(self, what: str, load: Callable[[], T]) -> T:
        """``load()``, accepting a BER (not strict DER) PKCS#7 or PKCS#12 with a note.

        cryptography reads such a file through OpenSSL, as OpenSSL's tools and Windows do, but
        warns; every other warning stays an error (see :func:`parse_material`). The note is
        kept only when ``load`` succeeds.
        """
        with warnings.catch_warnings(record=True) as caught:
            warnings.filterwarnings("always", message=_BER_WARNING, category=UserWarning)
            value = load()
        for w in caught:
            if re.search(_SERIAL_WARNING, str(w.message)):
                raise _NegativeSerial(str(w.message))
            self.notes.append(
                f"{self.source}: {what} is not strict DER ({_ber_detail(str(w.message))}); "
                "read as BER, as OpenSSL and Windows read it"
            )
        return value

    def add_cert(self, cert: x509.Certificate, kind: Kind, where: str) -> None:
        try:
            _force_certificate(cert)
        except Exception as exc:  # cryptography's lazy parse errors are not one type
            raise _unreadable(self.source, where, "certificate", exc) from None
        self.certs.append(cert)
        self.cert_kinds.append(kind)

    def add_key(self, key: PrivateKeyTypes, kind: Kind) -> None:
        try:
            checked = _check_key(self.source, key)
        except FileFormatError:
            raise
        except Exception as exc:
            raise _bad(
                self.source, f"holds a malformed private key ({_one_line(exc)})", _HINT_COPY
            ) from None
        self.keys.append(checked)
        self.key_kinds.append(kind)

    # ---- keys, with password handling shared by PEM and DER

    def load_key(self, data: bytes, *, pem: bool, where: str) -> PrivateKeyTypes:
        from cryptography.hazmat.primitives import serialization

        loader = serialization.load_pem_private_key if pem else serialization.load_der_private_key
        try:
            return loader(data, self.password)
        except TypeError as exc:
            message = str(exc)
            if "not given" in message:
                raise PasswordError(
                    f"{self.source}: {where} is an encrypted private key and no password was given",
                    "give the key's password (--password, or answer the prompt)",
                ) from None
            if "not encrypted" in message:
                return loader(data, None)  # one password for a batch: plain keys ignore it
            raise
        except Warning as exc:  # every warning is an error while a file is parsed
            if _DH_WARNING in str(exc):
                raise _bad(
                    self.source,
                    f"{where} is a Diffie-Hellman (DH) key, which cannot sign (not a "
                    "certificate key)",
                    "use the RSA, ECDSA or EdDSA key that belongs to the certificate",
                ) from None
            raise
        except Exception as exc:
            unsupported = _unsupported_encryption(str(exc))
            if unsupported is not None:  # not the password's fault: no password opens it
                raise _bad(
                    self.source,
                    f"{where} is encrypted with a scheme ccapki cannot decrypt ({unsupported})",
                    "decrypt it with the tool that made it, or re-encrypt a copy with "
                    "`openssl pkcs8 -topk8 -v2 aes-256-cbc -in KEY -out NEW.key`, and give "
                    "NEW.key",
                ) from None
            # A wrong password fails the padding check, or (about once in 256) decrypts to
            # garbage that then fails to parse: both are a wrong password for an encrypted key.
            if self.password is not None and _is_encrypted_key(data, pem=pem):
                raise PasswordError(
                    f"{self.source}: wrong password (or a damaged file) for the encrypted "
                    f"private key in {where}",
                    "check the password the key was exported with; if it is right, get a "
                    "fresh copy of the file",
                ) from None
            raise

    # ---- PEM

    def pem(self, text: bytes) -> None:
        blocks = _split_pem(self.source, text)
        for block in blocks:
            try:
                self.pem_block(block)
            except (FileFormatError, PasswordError):
                raise
            except Exception as exc:
                raise _bad(
                    self.source,
                    f"{block.where()} is not a valid {_pem_noun(block.label)}: {_one_line(exc)}",
                    _HINT_COPY,
                ) from None

    def pem_block(self, block: _Block) -> None:
        label, where = block.label, block.where()
        if label in _CERT_LABELS:
            try:
                cert = _load_pem_certificate(block.pem)
            except _ForceError as exc:
                cause = exc.__cause__ or exc
                raise _unreadable(self.source, where, "certificate", cause) from None
            self.certs.append(cert)
            self.cert_kinds.append(Kind.PEM_CERTIFICATE)
        elif label == "TRUSTED CERTIFICATE":
            der = base64.b64decode(block.body(), validate=True)
            length = _der_length(der)
            if length is None or length > len(der):
                raise ValueError("the certificate inside is truncated")
            cert = x509.load_der_x509_certificate(der[:length])
            self.add_cert(cert, Kind.TRUSTED_CERTIFICATE, where)
        elif label in {"PKCS7", "CMS"}:
            from cryptography.hazmat.primitives.serialization import pkcs7

            try:
                certs = self.lenient(
                    where,
                    lambda: _no_certificates_empty(pkcs7.load_pem_pkcs7_certificates, block.pem),
                )
            except Exception as exc:  # enveloped (encrypted) or other data: said as DER is
                if "Only basic signed structures" not in str(exc):
                    raise
                raise _bad(
                    self.source,
                    f"{where} is a PKCS#7/CMS structure of another kind (encrypted or other "
                    "data), not a certificate bundle",
                    "give the CA's certificate bundle (.p7b/.p7c), or the certificates as PEM "
                    "or DER",
                ) from None
            self.add_pkcs7(certs, where)
        elif label in _KEY_LABELS:
            kind = _KEY_LABELS[label]
            if b"Proc-Type: 4,ENCRYPTED" in block.pem:
                kind = Kind.TRADITIONAL_ENCRYPTED
                _check_dek_info(block.pem)
            self.add_key(self.load_key(block.pem, pem=True, where=where), kind)
        elif label in _CSR_LABELS:
            csr = x509.load_pem_x509_csr(block.pem)
            self.add_csr(csr, where)
        elif label == "X509 CRL":
            crl = x509.load_pem_x509_crl(block.pem)
            self.add_crl(crl, where)
        else:
            self.skipped.append(label)

    def add_pkcs7(self, certs: Sequence[x509.Certificate], where: str) -> None:
        if not certs:
            raise _bad(
                self.source,
                f"{where} is a PKCS#7 bundle holding no certificates",
                "ask the CA for the .p7b that includes the certificate chain",
            )
        for cert in certs:
            self.add_cert(cert, Kind.PKCS7, where)

    def add_csr(self, csr: x509.CertificateSigningRequest, where: str) -> None:
        try:
            _force_csr(csr)
        except Exception as exc:
            raise _unreadable(self.source, where, "CSR", exc) from None
        self.csrs.append(csr)

    def add_crl(self, crl: x509.CertificateRevocationList, where: str) -> None:
        try:
            _force_crl(crl)
        except Exception as exc:
            raise _bad(
                self.source, f"{where} is a malformed CRL ({_one_line(exc)})", _HINT_COPY
            ) from None
        self.crls.append(crl)

    # ---- Apple configuration profiles

    def profile(self, data: bytes) -> None:
        """The certificates of an unsigned ``.mobileconfig`` (see
        :func:`ccapki.pki.roots.profile_certificates`), each force-parsed as any other."""
        from ccapki.pki.roots import profile_certificates

        for where, cert in profile_certificates(data, source=self.source):
            self.add_cert(cert, Kind.APPLE_PROFILE, f"the profile's {where}")

    # ---- DER / binary

    def pkcs12(self, data: bytes) -> bool:
        """Load ``data`` as PKCS#12; False if it is not PKCS#12 at all."""
        # a file with no password is read even when a password was given (one for a batch)
        tries: list[bytes | None] = list(dict.fromkeys([self.password, None, b""]))
        # a NUL ends a PKCS#12 password (no file has one holding it), and the library
        # panics on it, printing a Rust backtrace: such a password is a wrong one
        tries = [t for t in tries if t is None or b"\0" not in t]
        from cryptography.hazmat.primitives.serialization import pkcs12

        for attempt in tries:
            try:
                p12 = self.lenient(
                    "the PKCS#12/PFX file", functools.partial(pkcs12.load_pkcs12, data, attempt)
                )
            except ValueError as exc:
                if "Invalid password" in str(exc):
                    continue
                self.pkcs12_error = _one_line(exc)  # said if the data is PKCS#12's shape
                return False
            except Exception:
                return False
            if p12.key is not None:
                self.add_key(p12.key, Kind.PKCS12)
            if p12.cert is not None:
                self.add_cert(p12.cert.certificate, Kind.PKCS12, "the PKCS#12 file")
            for extra in p12.additional_certs:
                self.add_cert(extra.certificate, Kind.PKCS12, "the PKCS#12 file")
            if not (p12.key or p12.cert or p12.additional_certs):
                raise _bad(
                    self.source,
                    "is a PKCS#12/PFX file holding no certificate and no key",
                    "export the PFX again including the certificate and its private key",
                )
            return True
        if self.password is None:
            raise PasswordError(
                f"{self.source}: is a PKCS#12/PFX file protected by a password, and none was given",
                "give the export password (--password, or answer the prompt)",
            )
        raise PasswordError(
            f"{self.source}: wrong password (or a damaged file) for this PKCS#12/PFX file",
            "check the password it was exported with; if it is right, get a fresh copy or "
            "export the file again",
        )

    def der(self, data: bytes, suffix: str) -> None:
        if suffix in {".p12", ".pfx"} and self.pkcs12(data):
            return
        attempts = (
            (x509.load_der_x509_certificate, self._der_cert),
            (self._load_der_pkcs7, self._der_pkcs7),
            (x509.load_der_x509_csr, self._der_csr),
            (x509.load_der_x509_crl, self._der_crl),
        )
        for loader, accept in attempts:
            value = _attempt(loader, data)
            if value is not None:
                accept(value)
                return
        key = _attempt(lambda d: self.load_key(d, pem=False, where="the DER data"), data)
        if key is not None:
            self.add_key(key, Kind.DER_KEY)
            return
        if suffix not in {".p12", ".pfx"} and self.pkcs12(data):
            return
        if _is_text(data):  # "0A68..." (an OpenSSL .srl): text starting with '0', not DER
            raise _not_der_or_pem(self.source, data)
        declared = _der_length(data)
        named = _SUFFIX_KIND.get(suffix)
        if declared is not None and declared > len(data):
            what = f"a truncated {named} file" if named else "truncated DER data"
            raise _bad(
                self.source,
                f"is {what}: it declares {declared} bytes but holds {len(data)}",
                _HINT_COPY,
            )
        # well-formed, of a kind ccapki does not read (or cannot: said as such)
        other = _other_der(self.source, data, self.pkcs12_error)
        if other is not None:
            raise other
        if named:
            raise _bad(self.source, f"is not a valid {named} file (malformed DER)", _HINT_COPY)
        raise _bad(
            self.source,
            "is malformed DER data: not a certificate, PKCS#7 bundle, PKCS#12/PFX, CSR, CRL "
            "or private key",
            _HINT_COPY,
        )

    def _load_der_pkcs7(self, data: bytes) -> list[x509.Certificate]:
        from cryptography.hazmat.primitives.serialization import pkcs7

        return self.lenient(
            "the DER PKCS#7 data",
            functools.partial(_no_certificates_empty, pkcs7.load_der_pkcs7_certificates, data),
        )

    def _der_cert(self, value: object) -> None:
        assert isinstance(value, x509.Certificate)
        self.add_cert(value, Kind.DER_CERTIFICATE, "the DER certificate")

    def _der_pkcs7(self, value: object) -> None:
        assert isinstance(value, list)
        self.add_pkcs7(value, "the DER PKCS#7 data")

    def _der_csr(self, value: object) -> None:
        assert isinstance(value, x509.CertificateSigningRequest)
        self.add_csr(value, "the DER CSR")

    def _der_crl(self, value: object) -> None:
        assert isinstance(value, x509.CertificateRevocationList)
        self.add_crl(value, "the DER CRL")


#: DER bigger than this (or holding more values than the budget) is only checked at its
#: outer level by :func:`_well_formed_der`: enough for any certificate, key or CSR
_DER_WALK_LIMIT = 64 * 1024
_DER_WALK_BUDGET = 4096


def _well_formed_der(data: bytes) -> bool:
    """Whether ``data`` is one well-formed DER/BER value, every nested value too (read with
    asn1crypto's parser): DER of some kind, not damaged bytes. False without asn1crypto
    (a dependency of ccapki): such data is then said to be malformed."""
    try:  # a dependency; should it be missing, no finer diagnosis
        from asn1crypto import parser  # type: ignore[import-untyped]
    except ImportError:
        return False

    budget = [_DER_WALK_BUDGET]

    def walk(chunk: bytes, depth: int) -> None:
        while chunk and budget[0] > 0:
            budget[0] -= 1
            if depth > 64:
                raise ValueError("nested too deep")
            size = parser.peek(chunk)
            _, method, _, _, contents, _ = parser.parse(chunk[:size], strict=True)
            if method == 1 and contents:
                walk(contents, depth + 1)
            chunk = chunk[size:]

    try:
        parser.parse(data, strict=True)  # one value, nothing after it
        if len(data) <= _DER_WALK_LIMIT:
            walk(data, 0)
    except Exception:  # asn1crypto's parse errors are ValueError, TypeError, IndexError...
        return False
    return True


def _pkcs8_shape() -> type:
    """PKCS#8's PrivateKeyInfo (RFC 5208) as asn1crypto reads it whatever the key's
    algorithm (asn1crypto's own class knows a few algorithms only)."""
    from asn1crypto import core

    class PrivateKeyShape(core.Sequence):  # type: ignore[misc]
        _fields = [  # noqa: RUF012 - asn1crypto's schema attribute
            ("version", core.Integer),
            ("algorithm", core.Sequence),
            ("private_key", core.OctetString),
            ("attributes", core.Any, {"implicit": 0, "optional": True}),
            ("public_key", core.Any, {"implicit": 1, "optional": True}),
        ]

    return PrivateKeyShape


def _has_shape(data: bytes, spec: type, outer: str | None, fields: Sequence[str]) -> bool:
    """Whether ``data`` parses (asn1crypto, strictly) as ``spec`` with ``fields`` of its
    ``outer`` part (or of the whole) readable: the structure, not only its first tag."""
    try:
        value = spec.load(data, strict=True)  # type: ignore[attr-defined]
        part = value[outer] if outer else value
        for name in fields:
            _ = part[name].native
    except Exception:  # asn1crypto's parse errors are not one type
        return False
    return True


def _other_der(source: str, data: bytes, pkcs12_error: str | None = None) -> FileFormatError | None:
    """What well-formed DER that no loader took is: a public key (a
    :class:`NoMaterialError`, as a PEM one); a certificate, CSR, CRL, PKCS#12 or PKCS#7
    structure the cryptography library cannot read (``pkcs12_error``: why it refused the
    PKCS#12), said as such; or DER of another kind (a cross-certificate pair, DH
    parameters). None for data that is not well-formed DER (then it is malformed)."""
    if not _well_formed_der(data):
        return None
    from cryptography.hazmat.primitives import serialization

    if _attempt(serialization.load_der_public_key, data) is not None:
        return _none(
            source,
            "is a DER public key, not a certificate or a private key",
            "a public key cannot be imported: give the certificate or the private key",
        )
    from asn1crypto import cms, crl, csr, keys  # present: _well_formed_der imported it
    from asn1crypto import pkcs12 as asn1_pkcs12
    from asn1crypto import x509 as asn1_x509

    reissue = (
        "get a fresh copy of the file; if it is the same, have it made again with an RSA "
        "or ECDSA key (e.g. RSA 2048 or ECDSA P-256, SHA-256)"
    )
    shapes: tuple[tuple[str, type, str | None, tuple[str, ...], Callable[[bytes], object]], ...]
    shapes = (
        (
            "an X.509 certificate",
            asn1_x509.Certificate,
            "tbs_certificate",
            ("serial_number", "subject", "validity"),
            x509.load_der_x509_certificate,
        ),
        (
            "a CSR",
            csr.CertificationRequest,
            "certification_request_info",
            ("subject",),
            x509.load_der_x509_csr,
        ),
        ("a CRL", crl.CertificateList, "tbs_cert_list", ("issuer",), x509.load_der_x509_crl),
        (
            "a private key",
            _pkcs8_shape(),  # PKCS#8 of any algorithm, known to asn1crypto or not
            None,
            ("version", "algorithm", "private_key"),
            lambda d: serialization.load_der_private_key(d, None),
        ),
    )
    for noun, spec, outer, fields, loader in shapes:
        if not _has_shape(data, spec, outer, fields):
            continue
        try:
            loader(data)
            why = "it refuses it"
        except Exception as exc:
            why = _one_line(exc)
        hint = _HINT_COPY if noun == "a CRL" else reissue
        return _bad(source, f"is {noun} that the cryptography library cannot read ({why})", hint)
    if _has_shape(data, asn1_pkcs12.Pfx, None, ("version", "auth_safe")):
        pfx = asn1_pkcs12.Pfx.load(data)
        if pfx["version"].native == "v3" and pfx["auth_safe"]["content_type"].native in (
            "data",
            "signed_data",
        ):
            why = pkcs12_error or "it refuses it"
            return _bad(
                source,
                f"is a PKCS#12/PFX file that the cryptography library cannot read ({why})",
                reissue,
            )
    if _has_shape(data, cms.ContentInfo, None, ("content_type",)):
        kind = cms.ContentInfo.load(data)["content_type"].native
        if not kind[:1].isdigit():  # a content type asn1crypto knows, not any OID
            return _none(
                source,
                f"is a PKCS#7/CMS structure holding {kind}, not a certificate bundle",
                "give the CA's certificate bundle (.p7b/.p7c), or the certificates as PEM or DER",
            )
    if _has_shape(data, keys.PublicKeyInfo, None, ("algorithm", "public_key")):
        return _none(
            source,
            "is a DER public key (of a type ccapki does not read), not a certificate or a "
            "private key",
            "a public key cannot be imported: give the certificate or the private key",
        )
    return _none(
        source,
        "is DER data of another kind (well-formed, but not a certificate, PKCS#7 bundle, "
        "PKCS#12/PFX, CSR, CRL or private key)",
        _HINT_ACCEPTED,
    )


def _attempt(loader: Callable[[bytes], T], data: bytes) -> T | None:
    """``loader(data)``, or None when the data is not in that loader's format.

    A :class:`PasswordError` passes through: the format was right, the password was not;
    so does a :class:`FileFormatError`: the format was right, and what is wrong with the
    data is said (a key encrypted by a scheme ccapki cannot decrypt, a DH key).
    """
    try:
        return loader(data)
    except (PasswordError, FileFormatError):
        raise
    except Exception:  # cryptography's "not this format" errors are not one type
        return None


#: cryptography's warning when it reads a certificate whose serial number is not positive.
_SERIAL_WARNING = r"Parsed a serial number which wasn't positive"


class _NegativeSerial(BaseException):
    """A certificate with a negative or zero serial number: a BaseException, so that no
    "not this format" handler (``except Exception``) takes it for another format;
    :func:`parse_material` says what it is."""


def _refuse_serial(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: object = None,
    line: str | None = None,
) -> None:
    """``warnings.showwarning`` while a file is parsed: the serial-number warning (the only
    one shown rather than raised) raises :class:`_NegativeSerial`."""
    raise _NegativeSerial(str(message))


#: cryptography's warning when it falls back to OpenSSL's BER parser (PKCS#7 and PKCS#12).
_BER_WARNING = r"PKCS ?#(7|12) .*could not be parsed as DER, falling back to parsing as BER"


def _ber_detail(message: str) -> str:
    """What is not DER about a file, from cryptography's warning, in plain words."""
    text = message.lower()
    if "setordering" in text:
        return "a SET is not in DER's sorted order, as `openssl crl2pkcs7` writes certificates"
    if "length" in text:
        return "indefinite or non-minimal lengths"
    return "BER encoding"


def _is_encrypted_key(data: bytes, *, pem: bool) -> bool:
    """Whether ``data`` is a password-protected private key (what the file says it is)."""
    if pem:
        return b"ENCRYPTED PRIVATE KEY" in data or b"Proc-Type: 4,ENCRYPTED" in data
    from cryptography.hazmat.primitives import serialization

    try:
        serialization.load_der_private_key(data, None)
    except TypeError as exc:
        return "not given" in str(exc)
    except Exception:
        return False
    return False


#: What a file's name says it should be, for messages about a DER file that is not.
_SUFFIX_KIND = {
    ".p12": "PKCS#12/PFX",
    ".pfx": "PKCS#12/PFX",
    ".p7b": "PKCS#7",
    ".p7c": "PKCS#7",
    ".cer": "certificate",
    ".crt": "certificate",
    ".der": "DER certificate or key",
    ".key": "private key",
    ".csr": "CSR",
    ".crl": "CRL",
}


_DEK_INFO = re.compile(rb"^DEK-Info: *([A-Za-z0-9-]+) *, *([0-9A-Fa-f]*) *$", re.MULTILINE)
_IV_BYTES = {b"AES-128-CBC": 16, b"AES-192-CBC": 16, b"AES-256-CBC": 16, b"DES-EDE3-CBC": 8}


def _check_dek_info(pem: bytes) -> None:
    """Refuse a ``DEK-Info`` header whose IV has the wrong length for its cipher.

    cryptography 50 does not check this and panics (a Rust assertion, printed to stderr,
    raised as a BaseException) on a short IV, so the header is checked first.
    """
    match = _DEK_INFO.search(pem)
    if match is None:
        raise ValueError("an encrypted PEM key without a valid DEK-Info header")
    cipher, iv_hex = match.group(1).upper(), match.group(2)
    expected = _IV_BYTES.get(cipher)
    if expected is None:
        raise ValueError(f"unsupported PEM encryption {cipher.decode('ascii', 'replace')}")
    if len(iv_hex) != 2 * expected:
        raise ValueError(f"the DEK-Info IV is {len(iv_hex) / 2:g} bytes, not {expected}")


def _label_words(label: str) -> str:
    """A PEM label as messages name it: ``PUBLIC KEY`` as is, a private key block of a
    format ccapki does not read (``SSH2 ENCRYPTED PRIVATE KEY``) without the words
    "PRIVATE KEY" (ccapki never prints them: they look like a leaked key)."""
    if "PRIVATE KEY" not in label:
        return label
    other = " ".join(label.replace("PRIVATE KEY", " ").split())
    return f"a private key of another format ({other})" if other else "a private key"


def _pem_noun(label: str) -> str:
    if label in _CERT_LABELS or label == "TRUSTED CERTIFICATE":
        return "certificate"
    if label in _KEY_LABELS:
        return "private key"
    if label in _CSR_LABELS:
        return "CSR"
    return {"PKCS7": "PKCS#7 bundle", "CMS": "PKCS#7 bundle", "X509 CRL": "CRL"}.get(label, label)


_MAGIC = (
    (b"\x89PNG", "a PNG image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (unzip it and import the files inside)"),
    (b"\x1f\x8b", "a gzip archive (extract it and import the files inside)"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"ssh-", "an OpenSSH public key"),
    (b"ecdsa-sha2-", "an OpenSSH public key"),
    (b"sk-ssh-", "an OpenSSH public key"),  # a security key's (FIDO)
    (b"sk-ecdsa-sha2-", "an OpenSSH public key"),
    (b"PuTTY-User-Key-File", "a PuTTY key"),
    (b"\xd0\xcf\x11\xe0", "a Microsoft Office document"),
    # ccapki.backup.MAGIC (a test keeps the two the same)
    (
        b"CCAPKIBK",
        "a ccapki backup (`ccapki backup verify FILE` checks it, `ccapki backup restore "
        "FILE` restores it)",
    ),
)


def _signed_signature_algorithm(cert: x509.Certificate) -> str | None:
    """The signature algorithm OID inside the signed part (TBSCertificate ``signature``),
    which must be the one outside it (cryptography reads only that one); None if unread."""
    from asn1crypto import x509 as asn1_x509

    try:
        tbs = asn1_x509.TbsCertificate.load(cert.tbs_certificate_bytes)
        return str(tbs["signature"]["algorithm"].dotted)
    except (ValueError, TypeError, KeyError):
        return None


def _is_text(data: bytes) -> bool:
    """Whether ``data`` reads as text (of its first 4 KiB, at least 95% printable ASCII,
    tabs and line ends): DER always holds control bytes (its tags and lengths)."""
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in data[:4096])
    return printable >= 0.95 * min(len(data), 4096)


def _not_der_or_pem(source: str, data: bytes) -> FileFormatError:
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return _none(source, f"is {what}, not a certificate, key or bundle", _HINT_ACCEPTED)
    if _is_text(data):
        return _none(
            source,
            "is text with no PEM block (no -----BEGIN ...----- line)",
            "paste the certificate including its BEGIN and END lines, or " + _HINT_ACCEPTED,
        )
    head = data[:8].hex(" ")
    return _none(
        source,
        f"is binary data that is neither PEM nor DER (starts with {head})",
        _HINT_ACCEPTED,
    )


def _dispatch(collector: _Collector, data: bytes, source: str) -> None:
    from ccapki.pki.roots import is_property_list

    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    suffix = Path(source).suffix.lower()
    if is_property_list(data):
        collector.profile(data)
    elif b"-----BEGIN " in data or b"-----END " in data:
        collector.pem(data)
    elif stripped[:1] == b"\x30" and suffix == ".mobileconfig":
        # DER in a profile's name: a signed (CMS) profile, whose PKCS#7 certificates are
        # the signer's chain, not the roots it installs
        raise _bad(
            source,
            "is a signed (CMS) Apple configuration profile, which ccapki does not read (its "
            "PKCS#7 certificates are the signer's, not the roots it installs)",
            "give the profile unsigned (as `ccapki export-roots` writes it), or the roots "
            "as .pem, .p7b or .cer",
        )
    elif stripped[:1] == b"\x30":
        collector.der(stripped, suffix)
    else:
        raise _not_der_or_pem(source, data)


def parse_material(
    data: bytes,
    *,
    source: str,
    password: bytes | None = None,
    expect: Expect = "any",
) -> Material:
    """Parse one file's bytes into a :class:`Material`.

    ``source`` names the file in every message. ``password`` unlocks PKCS#12 files and
    encrypted keys (a plain key ignores it, so one password serves a batch). With
    ``expect="certificate"`` or ``"key"`` a file holding none is refused, saying what it is.
    """
    if not data:
        raise _none(source, "is empty (0 bytes)", "check that the file was saved completely")
    if len(data) > MAX_PARSE_BYTES:
        raise _bad(
            source,
            f"{len(data) / 1048576:.1f} MB is far too large for a certificate, key or bundle",
            f"check the path; files over {MAX_PARSE_BYTES // 1048576} MB are refused",
        )
    collector = _Collector(source, password)
    try:
        # cryptography warns (and will later refuse) on RFC 5280 violations such as a
        # negative serial number: such a file is refused here, in tests and in use alike.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            # past every "not this format" handler, to be said as what it is
            warnings.filterwarnings("always", message=_SERIAL_WARNING)
            warnings.showwarning = _refuse_serial
            _dispatch(collector, data, source)
    except _NegativeSerial:
        raise _bad(
            source,
            "holds a certificate whose serial number is negative or zero, which RFC 5280 "
            "4.1.2.2 forbids (openssl shows it; ccapki refuses it, as the cryptography "
            "library does)",
            "have the CA issue the certificate again with a positive serial number",
        ) from None
    except BaseException as exc:
        # A Rust panic inside cryptography (pyo3's PanicException) is a BaseException,
        # not an Exception; on malformed input it must still end as a FileFormatError.
        if type(exc).__name__ != "PanicException":
            raise
        raise _bad(
            source,
            f"is malformed: the cryptography library could not parse it ({_one_line(exc)})",
            _HINT_COPY,
        ) from None
    material = collector.material()
    from ccapki.pki.certs import signature_algorithms_differ

    for cert in material.certificates:
        if not signature_algorithms_differ(cert):
            continue
        inner = _signed_signature_algorithm(cert)
        if inner is not None and inner != cert.signature_algorithm_oid.dotted_string:
            from ccapki.pki.certs import display_name

            raise _bad(
                source,
                f"holds a certificate ({display_name(cert)}) whose two signature algorithms "
                f"differ (signed part: {inner}; outside it: "
                f"{cert.signature_algorithm_oid.dotted_string}), which RFC 5280 4.1.1.2 "
                "forbids: OpenSSL and Java refuse it",
                "have the CA issue the certificate again (its signing software is broken), "
                "or get a fresh copy if the file was altered",
            )
    if material.is_empty:
        if "OPENSSH PRIVATE KEY" in material.skipped:
            raise _none(
                source,
                "holds an OpenSSH-format private key, which ccapki does not read (a "
                "certificate's key is PKCS#8, PKCS#1 or SEC1 PEM)",
                "convert a copy: `cp KEY new.key && ssh-keygen -p -m PKCS8 -f new.key` (it "
                "asks the passphrase), then give new.key",
            )
        # never a label's "PRIVATE KEY" words: on a terminal they look like a leaked key
        labels = ", ".join(dict.fromkeys(map(_label_words, material.skipped))) or "none"
        hint = _HINT_ACCEPTED
        if "PUBLIC KEY" in material.skipped or "RSA PUBLIC KEY" in material.skipped:
            hint = "a public key cannot be imported: give the certificate or the private key"
        raise _none(
            source,
            f"holds no certificate, private key, CSR or CRL (PEM blocks: {labels})",
            hint,
        )
    if expect == "certificate":
        require_certificates(material)
    elif expect == "key":
        require_keys(material)
    return material


# --------------------------------------------------------------------------- files


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files named, with folders expanded recursively (sorted; hidden entries skipped)."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            out.append(path)
            continue
        found: list[str] = []
        for folder, dirs, files in os.walk(path):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            found.extend(os.path.join(folder, f) for f in files if not f.startswith("."))
        if not found:
            raise FileFormatError(
                f"{path}: folder holds no files", "name a folder with certificate files"
            )
        out.extend(Path(f) for f in sorted(found))
    return list(dict.fromkeys(out))


def parse_files(
    paths: Iterable[str | os.PathLike[str]],
    password: bytes | None = None,
    *,
    expect: Expect = "any",
    skipped: list[tuple[str, str]] | None = None,
) -> list[Material]:
    """Parse every file named (folders recursively, sorted) into one :class:`Material` each.

    Stops at the first bad file, so a caller can refuse the whole batch. With ``skipped`` (a
    list), a file found inside a folder that holds no certificate, key, CSR or CRL at all
    (:class:`NoMaterialError`: a README, an image) and whose name does not say it is one
    (``.pem``, ``.crt``, ``.p12``...) is left out and appended as ``(path, reason)``; a
    damaged certificate still stops the batch, and so does any file named directly.
    """
    from ccapki.fsutil import read_input_file

    out: list[Material] = []
    for path, in_folder in _expand_marked(paths):
        data = read_input_file(path)
        try:
            material = parse_material(data, source=str(path), password=password, expect=expect)
        except NoMaterialError as exc:
            named = path.suffix.lower() in _MATERIAL_SUFFIXES
            # an empty file holds nothing to damage, whatever its name says (a placeholder,
            # a transfer that never started): skipped like a README
            if skipped is None or not in_folder or (named and data.strip()):
                raise
            skipped.append((str(path), exc.reason))
            continue
        out.append(material)
    return out


#: names that say a file is a certificate, key or bundle: such a file is never skipped
_MATERIAL_SUFFIXES = frozenset({*_SUFFIX_KIND, ".pem", ".p7", ".pkcs12"})


def _expand_marked(paths: Iterable[str | os.PathLike[str]]) -> list[tuple[Path, bool]]:
    """:func:`expand_paths`, each file marked with whether it was found inside a folder."""
    out: dict[Path, bool] = {}
    for raw in paths:
        in_folder = Path(raw).is_dir()
        for path in expand_paths([raw]):
            out.setdefault(path, in_folder)
    return list(out.items())
