"""What each Clean Access release does with certificates: the one table everything reads.

Sources: the CCA certificates FAQ (seed/certificates-faq.txt) and Cisco's release notes:

- 4.5: CAM and CAS authenticate each other over SSL; both must trust the other's issuer.
- before 4.7: the temporary (install-time) certificate is signed by the Perfigo root.
- 4.7: temporary certificates are TRUE self-signed (the identity is its own root), and the
  HA heartbeat is carried in an IPsec tunnel keyed by the identity certificate.
- 4.7.2: the temporary certificate is valid for 3 months.
- 4.8: the temporary certificate is valid for 5 years.
- 4.9: the CAM authorizes CAS peers by certificate DN (for an HA pair, the primary's DN).

The FAQ does not give the validity of pre-4.7 Perfigo-signed temporary certificates; ccapki
assumes one year there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ccapki.errors import InputError

__all__ = [
    "CHANNEL_STACKS",
    "KNOWN_TRAINS",
    "RELEASES",
    "Release",
    "ReleaseProfile",
    "parse_release",
    "profile_for",
]


@dataclass(frozen=True, order=True)
class Release:
    """A CCA release number such as 4.8.0."""

    major: int
    minor: int
    patch: int = 0

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


@dataclass(frozen=True)
class ReleaseProfile:
    """How one release train handles certificates."""

    since: Release
    temp_cert_signer: str  # "perfigo" or "self"
    temp_cert_days: int
    mutual_verification: bool  # CAM <-> CAS verify each other (4.5+)
    ha_ipsec_heartbeat: bool  # heartbeat in IPsec keyed by the identity (4.7+)
    dn_authorization: bool  # CAM allows CAS peers by DN (4.9+)


#: The one table. Rows are ordered; a release uses the last row whose ``since`` it reaches.
RELEASES: tuple[ReleaseProfile, ...] = (
    ReleaseProfile(Release(4, 0), "perfigo", 365, False, False, False),
    ReleaseProfile(Release(4, 5), "perfigo", 365, True, False, False),
    ReleaseProfile(Release(4, 7), "self", 90, True, True, False),
    ReleaseProfile(Release(4, 8), "self", 5 * 365 + 1, True, True, False),
    ReleaseProfile(Release(4, 9), "self", 5 * 365 + 1, True, True, True),
)

#: The stack that verifies each channel in the field, by channel value (DESIGN.md,
#: "Channels"; the rules each stack follows are in ``docs/stacks.md`` and
#: :mod:`ccapki.trust._stacks`). The same on every release: a release decides only whether
#: the channel is verified at all (``mutual_verification``, ``ha_ipsec_heartbeat``).
#: - cam-cas: the appliances' Tomcat/JSSE, PKIX against the trust store, both directions,
#:   no hostname check (the FAQ: "they both need to trust each other's certificates");
#: - ha-heartbeat: IKEv2 authenticated by the pair's certificate (strongSwan is the
#:   reference), the peer identified by its certificate's DN;
#: - agent: the endpoint OS verifier (Windows CryptoAPI; macOS per its documented policy);
#: - web-login, admin-gui: browsers (Chromium with the NSS root store).
CHANNEL_STACKS: dict[str, str] = {
    "cam-cas": "java-pkix",
    "ha-heartbeat": "strongswan",
    "agent": "windows",
    "web-login": "chromium",
    "admin-gui": "chromium",
}

#: The release lines ccapki knows (any patch of each): Clean Access 4.0 to 4.9. A line past
#: the table (4.10) is refused rather than guessed to behave like the last row.
KNOWN_TRAINS: tuple[Release, ...] = tuple(Release(4, minor) for minor in range(10))

#: a release as written: MAJOR.MINOR or MAJOR.MINOR.PATCH, numbers without leading zeros
_RELEASE_RE = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*))?$")
_LOOSE_RE = re.compile(r"^[0-9]+(?:\.[0-9]+)+$")
_KNOWN_WORDS = "the release lines {}, each with any patch".format(
    ", ".join(f"{t.major}.{t.minor}" for t in KNOWN_TRAINS)
)


def parse_release(text: str) -> Release:
    """The :class:`Release` of ``"4.8"``, ``"4.8.0"`` or ``"4.7.2"`` (MAJOR.MINOR or
    MAJOR.MINOR.PATCH, no leading zeros, no fourth part), on a release line of
    :data:`KNOWN_TRAINS`. Raises :class:`~ccapki.errors.InputError` for anything else, with
    a hint naming a spelling that parses (never one that is itself refused)."""
    written = str(text).strip()
    m = _RELEASE_RE.match(written)
    if not m:
        if _LOOSE_RE.match(written):
            parts = [int(p) for p in written.split(".")]
            nearest = Release(*parts[:3]) if len(parts) >= 3 else Release(*parts[:2])
            if Release(nearest.major, nearest.minor) in KNOWN_TRAINS:
                shown = ".".join(str(p) for p in parts[:3])
                why = "has more than three parts" if len(parts) > 3 else "has a leading zero"
                raise InputError(
                    f"release {written!r} {why}: a CCA release is MAJOR.MINOR.PATCH",
                    f'write it as release = "{shown}"',
                )
        raise InputError(
            f"release {written!r} is not a version number",
            f'write it as MAJOR.MINOR.PATCH, e.g. release = "4.8.0" ({_KNOWN_WORDS})',
        )
    rel = Release(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
    if Release(rel.major, rel.minor) not in KNOWN_TRAINS:
        raise InputError(
            f"release {written} is outside the Clean Access 4.x releases ccapki knows",
            f'use one of {_KNOWN_WORDS}, e.g. release = "4.8.0"',
        )
    return rel


def profile_for(release: Release) -> ReleaseProfile:
    """The profile row that applies to ``release``."""
    chosen = RELEASES[0]
    for row in RELEASES:
        if release >= row.since:
            chosen = row
    return chosen
