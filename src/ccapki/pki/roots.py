"""The root certificates clients must install, in every form a platform takes.

A private root (true self-signed identity, the Perfigo-style root, an internal CA) must be in
each client's trusted root store, or agents and browsers warn (the FAQ). These writers return
bytes for :func:`ccapki.fsutil.atomic_write`:

- :func:`roots_pem`: all roots in one PEM file (Linux, Firefox/NSS, most tools);
- :func:`roots_der_cer`: one root as DER ``.cer`` (Windows ``certutil``, Group Policy, macOS);
- :func:`roots_p7b`: all roots in one PKCS#7 ``.p7b`` (Windows certificate import wizard);
- :func:`mobileconfig`: an Apple configuration profile, one ``com.apple.security.root``
  payload per root, byte-for-byte deterministic;

and :func:`install_instructions` gives the short text for each platform.
:func:`profile_certificates` reads a profile back (plistlib), so every file written here is
also a client root bundle (``trust check --clients FILE``, through
:func:`ccapki.pki.formats.parse_material`).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509

from ccapki.errors import FileFormatError, InputError
from ccapki.pki.certs import display_name as cert_label
from ccapki.pki.certs import fingerprint

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.serialization import Encoding

# the writers load cryptography's serialization (~20 ms with its SSH and PKCS#7 parts) when
# they write: reading a file asks only is_property_list() of this module

__all__ = [
    "PLATFORMS",
    "install_instructions",
    "is_property_list",
    "mobileconfig",
    "profile_certificates",
    "roots_der_cer",
    "roots_p7b",
    "roots_pem",
]

PLATFORMS = ("windows", "macos", "linux")

#: Namespace for the profile's UUIDs: same roots and identifier, same UUIDs, same bytes.
#: The URL whose UUID-5 is the namespace of the profiles' payload UUIDs.
_NAMESPACE_URL = "https://ccapki.invalid/mobileconfig"


def _need(certs: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    if not certs:
        raise InputError("no root certificates to export", "issue or import a CA first")
    return list(certs)


def roots_pem(certs: Sequence[x509.Certificate]) -> bytes:
    """Every root, PEM, one after the other."""
    from cryptography.hazmat.primitives import serialization

    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in _need(certs))


def roots_der_cer(cert: x509.Certificate) -> bytes:
    """One root as a DER ``.cer`` file (Windows and Group Policy import these)."""
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.DER)


def roots_p7b(
    certs: Sequence[x509.Certificate],
    encoding: Encoding | None = None,
) -> bytes:
    """Every root in one PKCS#7 certificate bundle (``.p7b``), DER by default."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs7

    return pkcs7.serialize_certificates(_need(certs), encoding or serialization.Encoding.DER)


def mobileconfig(
    certs: Sequence[x509.Certificate],
    *,
    identifier: str,
    organization: str,
    display_name: str,
) -> bytes:
    """An Apple configuration profile (XML plist) installing each root as trusted.

    One ``com.apple.security.root`` payload per root. UUIDs are uuid5 of the certificate's
    SHA-256 fingerprint (and of ``identifier`` plus all fingerprints for the profile), so the
    same roots always give the same file.
    """
    import plistlib
    import uuid

    from cryptography.hazmat.primitives import serialization

    roots = _need(certs)
    if not identifier:
        raise InputError("the profile needs an identifier", "e.g. com.example.ccapki.roots")
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, _NAMESPACE_URL)
    payloads = []
    fingerprints = []
    for cert in roots:
        fp = fingerprint(cert)
        fingerprints.append(fp)
        label = cert_label(cert)
        payloads.append(
            {
                "PayloadCertificateFileName": f"{label}.cer",
                "PayloadContent": cert.public_bytes(serialization.Encoding.DER),
                "PayloadDescription": f"Adds the root certificate {label} to the trusted roots",
                "PayloadDisplayName": label,
                "PayloadIdentifier": f"{identifier}.root.{fp[:16]}",
                "PayloadType": "com.apple.security.root",
                "PayloadUUID": str(uuid.uuid5(namespace, fp)).upper(),
                "PayloadVersion": 1,
            }
        )
    profile = {
        "PayloadContent": payloads,
        "PayloadDescription": (
            f"Installs {len(roots)} root certificate(s) so agents and browsers trust "
            "the Clean Access appliances without warnings."
        ),
        "PayloadDisplayName": display_name,
        "PayloadIdentifier": identifier,
        "PayloadOrganization": organization,
        "PayloadRemovalDisallowed": False,
        "PayloadType": "Configuration",
        "PayloadUUID": str(
            uuid.uuid5(namespace, identifier + ":" + ",".join(fingerprints))
        ).upper(),
        "PayloadVersion": 1,
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML, sort_keys=True)


#: Payload types of a profile whose ``PayloadContent`` is a certificate: DER (root, pkcs1)
#: or PEM (pem). Others (Wi-Fi, a PKCS#12 identity...) hold no root and are skipped.
_CERT_PAYLOADS = {
    "com.apple.security.root": "der",
    "com.apple.security.pkcs1": "der",
    "com.apple.security.pem": "pem",
}
_PROFILE_HINT = (
    "give the .mobileconfig `ccapki export-roots` wrote (or its .pem, .p7b or .cer files); "
    "a profile must be an Apple configuration profile (XML or binary plist)"
)


def is_property_list(data: bytes) -> bool:
    """Whether ``data`` looks like a property list (a ``.mobileconfig``): a binary plist,
    or XML whose first element is ``<plist`` (after an XML declaration or doctype)."""
    if data.startswith(b"bplist00"):
        return True
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"<"):
        return False
    return head.startswith((b"<plist", b"<!DOCTYPE plist")) or (
        head.startswith(b"<?xml") and (b"<plist" in head or b"<!DOCTYPE plist" in head)
    )


def _why(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def profile_certificates(data: bytes, *, source: str) -> list[tuple[str, x509.Certificate]]:
    """The certificates of an unsigned Apple configuration profile (what
    :func:`mobileconfig` writes: XML or binary plist, read with :mod:`plistlib`), each
    with the payload it came from (``payload 2 (Example Root CA)``), in file order.

    Raises :class:`FileFormatError` naming ``source`` for data that is no plist, a plist
    that is no configuration profile, a certificate payload whose content is no
    certificate, and a profile holding no certificate payload at all.
    """
    import plistlib

    try:
        profile = plistlib.loads(data)
    except Exception as exc:  # plistlib's errors are not one type (expat, binary, values)
        raise FileFormatError(
            f"{source}: is not a valid Apple configuration profile: the property list does "
            f"not parse ({_why(exc)})",
            _PROFILE_HINT,
        ) from None
    payloads = profile.get("PayloadContent") if isinstance(profile, dict) else None
    if (
        not isinstance(profile, dict)
        or profile.get("PayloadType") != "Configuration"
        or not isinstance(payloads, list)
    ):
        raise FileFormatError(
            f"{source}: is a property list but not an Apple configuration profile (no "
            "PayloadType Configuration with a PayloadContent list)",
            _PROFILE_HINT,
        )
    out: list[tuple[str, x509.Certificate]] = []
    for n, payload in enumerate(payloads, 1):
        ptype = payload.get("PayloadType") if isinstance(payload, dict) else None
        kind = _CERT_PAYLOADS.get(ptype) if isinstance(ptype, str) else None
        if kind is None:
            continue
        label = payload.get("PayloadDisplayName")
        where = f"payload {n}" + (f" ({label})" if isinstance(label, str) and label else "")
        content = payload.get("PayloadContent")
        try:
            if not isinstance(content, bytes):
                raise ValueError("its PayloadContent is not data")
            if kind == "der":
                out.append((where, x509.load_der_x509_certificate(content)))
            else:
                out += [(where, c) for c in x509.load_pem_x509_certificates(content)]
        except Exception as exc:  # cryptography's parse errors are not one type
            raise FileFormatError(
                f"{source}: {where} is not a valid certificate ({_why(exc)})",
                "get a fresh copy of the profile (`ccapki export-roots` writes it again)",
            ) from None
    if not out:
        raise FileFormatError(
            f"{source}: is an Apple configuration profile holding no certificate payload "
            "(com.apple.security.root, .pkcs1 or .pem)",
            _PROFILE_HINT,
        )
    return out


def install_instructions(
    platform: str,
    *,
    name: str = "ccapki-root",
    cer: str | None = None,
    pem: str | None = None,
    p7b: str | None = None,
    profile: str | None = None,
    crt: str | None = None,
) -> str:
    """How to install the exported roots on ``platform`` (windows, macos or linux).

    ``name`` is the files' base name (``NAME.cer``, ``NAME.pem``, ``NAME.p7b``,
    ``NAME.mobileconfig``) and the nickname in trust stores; ``cer``, ``pem``, ``p7b`` and
    ``profile`` override single file names. ``crt``: PEM files of one root each (a name or
    a glob) for Debian's ``update-ca-certificates``, which links into /etc/ssl/certs only
    files holding exactly one certificate (default: ``pem`` copied as ``NAME.crt``, right
    for one root).
    """
    key = platform.strip().lower()
    cer = cer or f"{name}.cer"
    pem = pem or f"{name}.pem"
    p7b = p7b or f"{name}.p7b"
    profile = profile or f"{name}.mobileconfig"
    debian_copy = (
        f"sudo cp {crt} /usr/local/share/ca-certificates/"
        if crt
        else f"sudo cp {pem} /usr/local/share/ca-certificates/{name}.crt"
    )
    texts = {
        "windows": f"""\
Windows: install {cer} as a trusted root.
  One machine (administrator prompt):
    certutil -addstore -f Root {cer}
  Every domain machine (Group Policy): Computer Configuration > Policies > Windows Settings >
    Security Settings > Public Key Policies > Trusted Root Certification Authorities,
    right-click > Import, choose {cer} (or {p7b} for several roots).
  Then run gpupdate /force on a client, or wait for the next policy refresh.
""",
        "macos": f"""\
macOS: install {cer} as a trusted root.
  Terminal (administrator):
    sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain \
{cer}
  Or open {profile}, then System Settings > Privacy & Security > Profiles:
    install it, and on iOS also General > About > Certificate Trust Settings: turn it on.
""",
        "linux": f"""\
Linux: install {pem} as a trusted root.
  Debian/Ubuntu:
    {debian_copy}
    sudo update-ca-certificates
  RHEL/Fedora/CentOS:
    sudo cp {pem} /etc/pki/ca-trust/source/anchors/{name}.pem
    sudo update-ca-trust
  Firefox/Chromium (NSS, per user):
    certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n {name} -i {pem}
  certutil -A and the per-file .cer commands take one certificate each: with several
  roots, repeat them for each root's .cer file.
""",
    }
    if key not in texts:
        raise InputError(f"unknown platform {platform!r}", f"choose one of: {', '.join(PLATFORMS)}")
    return texts[key]
