"""What an appliance identity certificate must say (:class:`IdentityRequest`).

Apart from :mod:`ccapki.pki.issue` so that planning (``ccapki plan FILE``) does not import
X.509 machinery it never uses: the subject and the subjectAltName are built only when a
certificate or a CSR is.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["IPAddress", "IdentityRequest"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: Every character an IPv4 or IPv6 address can be written with (a scope ID, after '%', aside).
_ADDRESS_CHARS = frozenset("0123456789abcdefABCDEF.:")


@dataclass(frozen=True)
class IdentityRequest:
    """What an appliance identity certificate must say: the subject (C, ST, L, O, OU, CN,
    emailAddress, each when given) and the subjectAltName's DNS names and IP addresses."""

    common_name: str
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[IPAddress, ...] = ()
    organization: str | None = None
    organizational_unit: str | None = None
    extra: tuple[str, ...] = field(default=())
    country: str | None = None
    state: str | None = None
    locality: str | None = None
    email: str | None = None

    def __post_init__(self) -> None:
        if not self.common_name:
            raise ValueError("an identity needs a common name")
        ip = self.common_name_ip
        if ip is not None and ip not in self.ip_addresses:
            # Chromium (and every RFC 6125 client) matches an address against the SAN's
            # iPAddress entries alone: CN=<IP> without that entry is refused by name
            raise ValueError(
                f"the common name {self.common_name} is an IP address the subjectAltName "
                "does not list"
            )

    @property
    def common_name_ip(self) -> IPAddress | None:
        """The address the common name is (an appliance known by its IP alone), else None."""
        name = self.common_name
        if "%" not in name and not _ADDRESS_CHARS.issuperset(name):  # a host name
            return None  # (asked of every request made: no exception raised for it)
        try:
            return ipaddress.ip_address(name)
        except ValueError:
            return None

    @property
    def subject(self) -> x509.Name:
        """The subject name (see :func:`ccapki.pki.issue.build_name`)."""
        return self.subject_and_text()[0]

    def subject_and_text(self) -> tuple[x509.Name, str]:
        """The subject name and its RFC 4514 text (``subject.rfc4514_string()``), made
        together (see :func:`ccapki.pki.issue.build_name_text`)."""
        from ccapki.pki.issue import build_name_text

        return build_name_text(
            self.common_name,
            self.organization,
            self.organizational_unit,
            country=self.country,
            state=self.state,
            locality=self.locality,
            email=self.email,
        )

    @property
    def san(self) -> x509.SubjectAlternativeName:
        """The subjectAltName: the DNS names, then the IP addresses."""
        from cryptography import x509

        names: list[x509.GeneralName] = [x509.DNSName(n) for n in self.dns_names]
        names += [x509.IPAddress(ip) for ip in self.ip_addresses]
        return x509.SubjectAlternativeName(names)
