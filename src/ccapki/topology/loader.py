"""Reading the deployment file (TOML) into a frozen :class:`Deployment`.

Every problem is reported as ``error: FILE:LINE: ...`` with a ``hint:``. ``tomllib`` gives
no positions for values, so :class:`_LineIndex` maps key paths back to lines by scanning
table headers and ``key =`` lines, which is exact for the layouts TOML allows here.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import tomllib
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ccapki._util import gc_paused
from ccapki.errors import DeploymentError, InputError
from ccapki.fsutil import read_input_file
from ccapki.pki.keytypes import KeyType
from ccapki.topology.model import (
    DEFAULT_WARN_DAYS,
    ENDPOINT_NAMES,
    AcmeDnsMethod,
    AcmeSettings,
    Appliance,
    CaKeys,
    Deployment,
    IdentitySpec,
    IPAddress,
    KeyPolicy,
    Monitoring,
    Notify,
    Role,
    Source,
    SubjectFields,
    is_localhost,
)
from ccapki.topology.releases import parse_release
from ccapki.topology.secretenv import SETTING_SECRETS, borrowed_secret

__all__ = ["is_dns_name", "load_deployment", "not_utf8", "parse_deployment", "split_endpoint"]

_HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$"
)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def is_dns_name(name: str) -> bool:
    """Whether ``name`` is a DNS host name a certificate may carry: labels of letters,
    digits and '-' between dots, one leading ``*.`` (a wildcard) at most, and not all
    digits at the end (``1.2.3.4.5`` is a mistyped address, not a name)."""
    bare = name.removeprefix("*.")
    return bool(_HOSTNAME_RE.match(bare)) and not bare.rstrip(".").rpartition(".")[2].isdigit()


_PORT_RE = re.compile(r"[0-9]{1,5}")
_SOURCES = [s.value for s in Source] + ["acme"]  # acme: third-party, enrolled by ACME
_KEYS = [k.value for k in KeyType]

#: key types a deployment file may name that ccapki refuses, and why (spelled lower case,
#: without '-' or '_'); the rest are unknown
_EDDSA_WHY = (
    "CCA appliances and their clients do not take EdDSA certificates: Java (the "
    "appliances' Tomcat/JSSE) has EdDSA only from Java 15 (JEP 339, 2020), years after "
    "every CCA 4.x release, Chromium offers no EdDSA TLS signature and NSS refuses EdDSA "
    "certificates (docs/stacks.md)"
)
_REFUSED_KEYS = {"ed25519": _EDDSA_WHY, "ed448": _EDDSA_WHY, "eddsa": _EDDSA_WHY}

#: settings an HA pair's peers share (one certificate and key on both): set on the pair
_PAIR_SETTINGS = frozenset({"key", "source", "validity_days", "subject", "acme", "san_ips"})


def _check_hostname(v: str) -> str:
    if not _HOSTNAME_RE.match(v) or v.replace(".", "").isdigit():
        raise ValueError(f"{v!r} is not a valid hostname{_hostname_why(v)}")
    return v.rstrip(".").lower()


def _check_appliance_hostname(v: str) -> str:
    """An appliance's (or HA pair's) DNS name: a hostname that is not ``localhost``
    (RFC 6761: it and every name under it are the machine itself)."""
    host = _check_hostname(v)
    if is_localhost(host):
        raise ValueError(
            f"{v!r} names the machine itself (localhost, RFC 6761): no client reaches an "
            "appliance by it, and a certificate for it matches no appliance (give the "
            "appliance's own DNS name)"
        )
    return host


def _hostname_why(v: str) -> str:
    """Why ``v`` is not a hostname, in words an administrator acts on ("" when no simple
    reason applies: the hint gives the rules)."""
    try:
        ipaddress.ip_address(v)
        return (
            ": it is an IP address (put addresses in ip, the DNS name in hostname; an "
            "appliance known by its address alone leaves hostname out)"
        )
    except ValueError:
        pass
    if not v.isascii():
        try:
            ace = v.encode("idna").decode("ascii")
        except UnicodeError:
            return ": a certificate names hosts in ASCII (an international name in its xn-- form)"
        return f": a certificate names hosts in ASCII; write it in its xn-- form: {ace!r}"
    if "*" in v:
        return ": a wildcard names no one appliance (give the appliance's own DNS name)"
    if "_" in v:
        return ": '_' is not allowed in a hostname (use '-')"
    if any(len(label) > 63 for label in v.split(".")) or len(v) > 253:
        return ": a label is at most 63 characters, the whole name at most 253"
    return ""


def _check_ips(v: Any) -> list[str]:
    items = [v] if isinstance(v, str) else v
    if not isinstance(items, list):
        raise ValueError(f"{_toml_value(v)} is {_toml_kind(v)}, not an IP address in quotes")
    if not items:
        raise ValueError("[] is an empty list: give at least one IP address")
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            # ip_address(1) would be 0.0.0.1: a number is never read as an address
            raise ValueError(
                f"{_toml_value(item)} is {_toml_kind(item)}, not an IP address in quotes"
            )
        try:
            addr = _ip_address(item)
        except (ValueError, TypeError):
            raise ValueError(f"{item!r} is not a valid IP address") from None
        if addr.is_loopback:
            raise ValueError(
                f"{item!r} is a loopback address: it names the machine itself, so no client "
                "reaches an appliance at it (give the address the appliance answers on)"
            )
        if addr.is_unspecified or addr.is_multicast or addr == _BROADCAST:
            what = (
                "the unspecified address"
                if addr.is_unspecified
                else "a multicast or broadcast address"
            )
            raise ValueError(
                f"{item!r} is {what}: no appliance has it (give the address the appliance "
                "answers on)"
            )
        if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id is not None:
            # a certificate holds the address alone (16 bytes): fe80::1%eth0 would be
            # issued as fe80::1 and never match the file again (reissued at every apply)
            raise ValueError(
                f"{item!r} has a zone index (%{addr.scope_id}), which names a network "
                "interface of one machine and cannot go in a certificate: write "
                f"{str(addr).split('%')[0]!r}"
            )
        out.append(_ip_text(item))
    return out


#: The limited broadcast address (RFC 919), no appliance's
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


@functools.lru_cache(maxsize=1 << 16)
def _ip_text(text: str) -> str:
    """The address ``text`` names, written as ccapki writes it (:func:`_ip_address`)."""
    return str(_ip_address(text))


@functools.lru_cache(maxsize=1 << 16)
def _ip_address(text: str) -> IPAddress:
    """The address ``text`` names; an IPv4-mapped IPv6 address (``::ffff:172.16.2.11``, as
    a dual-stack socket shows an IPv4 peer) is the IPv4 address it maps (RFC 4291
    2.5.5.2): one host, one address, compared and put in certificates as IPv4 (a client
    reaching 172.16.2.11 matches a 4-byte IP SAN, never the 16-byte mapped one). Raises
    ValueError for text that is no address. (Remembered: a file's addresses are read in
    its validation and again in its model; an address is an immutable value.)"""
    addr = ipaddress.ip_address(text)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def split_endpoint(text: str) -> tuple[str, int]:
    """``host:port`` -> (host, port). The host is a hostname, an IPv4 address or an IPv6
    address in brackets (``[2001:db8::1]:443``); the port 1-65535. ValueError says what is
    wrong."""
    if "://" in text or "/" in text:
        raise ValueError(
            "a URL is not host:port: give the host and port only, e.g. cam.example.edu:443"
        )
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port:
        raise ValueError("not host:port (a host, a colon, a port)")
    if host.startswith("[") or host.endswith("]"):
        inner = host[1:-1] if host.startswith("[") and host.endswith("]") else ""
        try:
            if ipaddress.ip_address(inner).version != 6:
                raise ValueError
        except ValueError:
            raise ValueError(
                f"{host!r} is not an IPv6 address in brackets (IPv4 addresses and hostnames "
                "go without brackets)"
            ) from None
        host = inner
    elif ":" in host:
        raise ValueError(f"an IPv6 address goes in brackets, as [{host}]:{port}")
    else:
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            if not _HOSTNAME_RE.match(host) or host.replace(".", "").isdigit():
                raise ValueError(f"{host!r} is not a valid hostname or IPv4 address") from None
    if not _PORT_RE.fullmatch(port) or not 0 < int(port) < 65536:
        raise ValueError(f"port {port!r} is not a number from 1 to 65535")
    return host, int(port)


#: The longest validity a deployment file may ask for, in days (100 years).
MAX_DAYS = 36500


def _check_days(v: Any) -> Any:
    """``validity_days``: a TOML integer from 1 to :data:`MAX_DAYS` (never a string, a
    float or a boolean). The words complete "validity_days = VALUE ..." (see
    :func:`_days_error`)."""
    if v is None:
        return None
    if isinstance(v, str):
        raise ValueError("is a string")
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError("is not a whole number")
    if not 1 <= v <= MAX_DAYS:
        raise ValueError("is out of range")
    return v


def _check_flag(v: Any) -> Any:
    """A TOML boolean, never a string or a number ("false" in quotes is refused, not read
    as true)."""
    if v is not None and not isinstance(v, bool):
        raise ValueError(f"{_toml_value(v)} is {_toml_kind(v)}, not true or false")
    return v


#: A string value longer than this is shortened where a message quotes it (its start, and
#: how long it is): a one-line error stays one line, whatever the file holds.
_QUOTED_AT_MOST = 60


def _toml_value(v: Any) -> str:
    """``v`` as it was written in TOML (near enough for a message; a long string
    shortened, see :data:`_QUOTED_AT_MOST`)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        if len(v) > _QUOTED_AT_MOST:
            return _toml_value(v[: _QUOTED_AT_MOST - 20]).removesuffix('"') + (
                f'..." ({len(v)} characters)'
            )
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ ... }"
    return str(v)


def _days_error(path: str, line: int | None, where: str, value: Any, words: str) -> DeploymentError:
    allowed = f"a whole number of days from 1 to {MAX_DAYS}"
    if isinstance(value, str) and value.strip().isdigit():
        hint = f"write it without quotes: validity_days = {int(value)} ({allowed})"
    else:
        hint = (
            f"give {allowed}, e.g. validity_days = 397 (Apple clients accept at most 825 "
            "for a TLS server certificate)"
        )
    return DeploymentError(path, line, f"{where} = {_toml_value(value)} {words}", hint)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- subject fields: [deployment.subject] and an identity's subject = { ... }
#: ISO 3166-1 alpha-2: the assigned country codes (as Debian's iso-codes lists them)
_COUNTRY_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO
    BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK
    DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR
    GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM
    KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP
    MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL
    PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST
    SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG
    VI VN VU WF WS YE YT ZA ZM ZW"""
_COUNTRIES = frozenset(_COUNTRY_CODES.split())
#: codes in use elsewhere that ISO 3166-1 does not assign (the EU writes EL), and the right one
_COUNTRY_MISTAKES = {"UK": "GB", "EL": "GR"}
#: what each text attribute is called, and its X.520 upper bound (RFC 5280, Appendix A),
#: counted in bytes of UTF-8 as ``organization`` is (never more than the bound's characters)
_SUBJECT_TEXT = {
    "organization": ("organization (O)", 64),
    "state": ("state or province (ST)", 128),
    "locality": ("locality (L)", 128),
    "organizational_unit": ("organizational unit (OU)", 64),
}
#: RFC 5280's ub-emailaddress-length
_EMAIL_MAX = 255


def _quoted(v: str) -> str:
    """``v`` in double quotes for a one-line message (what cannot be printed escaped)."""
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in v) + '"'


def _check_country(v: str) -> str:
    if v in _COUNTRIES:
        return v
    if v.upper() in _COUNTRIES:
        raise ValueError(f"{_quoted(v)} is written in lower case: write {_quoted(v.upper())}")
    if v.upper() in _COUNTRY_MISTAKES:
        right = _COUNTRY_MISTAKES[v.upper()]
        raise ValueError(f"{_quoted(v)} is not an ISO 3166-1 code: write {_quoted(right)}")
    if len(v) == 2 and v.isascii() and v.isalpha():
        raise ValueError(f"{_quoted(v)} is not an assigned ISO 3166-1 country code")
    raise ValueError(f"{_quoted(v)} is not a two-letter country code (ISO 3166-1 alpha-2)")


def _check_subject_text(v: str, key: str) -> str:
    what, bound = _SUBJECT_TEXT[key]
    if not v.strip():
        raise ValueError(f"is empty: a certificate's {what} needs text (or leave the key out)")
    for c in v:
        cat = unicodedata.category(c)
        if (cat[0] == "C" and c not in "\u200c\u200d") or cat in ("Zl", "Zp"):
            raise ValueError(
                f"holds a control or invisible character (U+{ord(c):04X}): a certificate's "
                f"{what} is printable text on one line"
            )
    if v != v.strip():
        raise ValueError(f"{_quoted(v)} starts or ends with a space")
    size = len(v.encode())
    if size > bound:
        raise ValueError(
            f"{size} bytes: a certificate's {what} holds 1 to {bound} (X.520; bytes of "
            "UTF-8: an accented letter takes 2)"
        )
    return v


def _check_subject_email(v: str) -> str:
    if not v.isascii():
        raise ValueError(
            f"{_quoted(v)} is not ASCII: a subject's emailAddress is an IA5String (write an "
            "international domain in its xn-- form)"
        )
    local, at, domain = v.rpartition("@")
    if (
        not at
        or not local
        or not re.fullmatch(r"[!-~]{1,64}", local)
        or "@" in local
        or not _HOSTNAME_RE.match(domain)
        or domain.replace(".", "").isdigit()
    ):
        raise ValueError(f"{_quoted(v)} is not an e-mail address")
    if len(v) > _EMAIL_MAX:
        raise ValueError(f"{len(v)} characters: an emailAddress holds at most {_EMAIL_MAX}")
    return v


class _Subject(_Strict):
    country: str | None = None
    state: str | None = None
    locality: str | None = None
    organizational_unit: str | None = None
    email: str | None = None

    @field_validator("country")
    @classmethod
    def _country(cls, v: str | None) -> str | None:
        return None if v is None else _check_country(v)

    @field_validator("state")
    @classmethod
    def _state(cls, v: str | None) -> str | None:
        return None if v is None else _check_subject_text(v, "state")

    @field_validator("locality")
    @classmethod
    def _locality(cls, v: str | None) -> str | None:
        return None if v is None else _check_subject_text(v, "locality")

    @field_validator("organizational_unit")
    @classmethod
    def _unit(cls, v: str | None) -> str | None:
        return None if v is None else _check_subject_text(v, "organizational_unit")

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return None if v is None else _check_subject_email(v)

    def fields(self) -> SubjectFields:
        """The model's value."""
        return SubjectFields(
            self.country, self.state, self.locality, self.organizational_unit, self.email
        )


#: how each subject field is written, for the hint of a bad value
_SUBJECT_EXAMPLES = {
    "country": 'country = "US" (ISO 3166-1 alpha-2: two capital letters, e.g. "GB", "DE")',
    "state": 'state = "Illinois" (the full name, at most 128 bytes)',
    "locality": 'locality = "Springfield" (the city, at most 128 bytes)',
    "organizational_unit": 'organizational_unit = "IT Services" (at most 64 bytes)',
    "email": 'email = "pki-team@example.edu" (ASCII, at most 255 characters)',
}


# ---- end subject fields


class _Member(_Strict):
    name: str = Field(pattern=_NAME_RE.pattern)
    hostname: str | None = None  # a peer known by its address alone: ip only
    ip: list[str]
    endpoints: dict[str, str] = Field(default_factory=dict)

    _host = field_validator("hostname")(
        classmethod(lambda cls, v: None if v is None else _check_appliance_hostname(v))
    )
    _ip = field_validator("ip", mode="before")(classmethod(lambda cls, v: _check_ips(v)))
    # endpoints are checked once the roles are known (_check_endpoints), naming their line


class _Unit(_Strict):
    """A standalone appliance (ip, and hostname when it has one) or an HA pair (primary +
    secondary, service_ip, and virtual_hostname when the pair has one)."""

    name: str = Field(pattern=_NAME_RE.pattern)
    hostname: str | None = None
    ip: list[str] | None = None
    endpoints: dict[str, str] = Field(default_factory=dict)
    primary: _Member | None = None
    secondary: _Member | None = None
    service_ip: str | None = None
    virtual_hostname: str | None = None
    source: Literal["self-signed", "perfigo", "internal", "third-party", "acme"] | None = None
    key: str | None = None
    validity_days: int | None = None
    subject: _Subject = Field(default_factory=_Subject)
    #: None: [deployment]'s (see IdentitySpec.san_ips)
    san_ips: bool | None = None

    _days = field_validator("validity_days", mode="before")(
        classmethod(lambda cls, v: _check_days(v))
    )
    _san_ips = field_validator("san_ips", mode="before")(classmethod(lambda cls, v: _check_flag(v)))

    @field_validator("hostname", "virtual_hostname")
    @classmethod
    def _hosts(cls, v: str | None) -> str | None:
        return None if v is None else _check_appliance_hostname(v)

    @field_validator("ip", mode="before")
    @classmethod
    def _ips(cls, v: Any) -> Any:
        return None if v is None else _check_ips(v)

    @field_validator("service_ip")
    @classmethod
    def _sip(cls, v: str | None) -> str | None:
        return None if v is None else _check_ips(v)[0]

    @field_validator("key")
    @classmethod
    def _key(cls, v: str | None) -> str | None:
        if v is None:
            return None
        try:
            return KeyType.parse(v).value
        except ValueError:
            why = _REFUSED_KEYS.get(str(v).strip().lower().replace("-", "").replace("_", ""))
            if why is not None:
                raise ValueError(f"key type {v!r} is not one ccapki issues: {why}") from None
            raise ValueError(f"unknown key type {v!r} (known: {', '.join(_KEYS)})") from None


class _Header(_Strict):
    name: str = Field(pattern=_NAME_RE.pattern)
    release: str
    organization: str | None = None
    source: Literal["self-signed", "perfigo", "internal", "third-party", "acme"] = "self-signed"
    key: str = "ecdsa-p256"
    validity_days: int | None = None
    ca: Literal["own", "shared"] = "own"
    subject: _Subject = Field(default_factory=_Subject)
    san_ips: bool = True

    _key = field_validator("key")(classmethod(lambda cls, v: _Unit._key(v)))
    _days = field_validator("validity_days", mode="before")(
        classmethod(lambda cls, v: _check_days(v))
    )
    _san_ips = field_validator("san_ips", mode="before")(classmethod(lambda cls, v: _check_flag(v)))

    @field_validator("organization")
    @classmethod
    def _org(cls, v: str | None) -> str | None:
        if v is not None and not (v.strip() and len(v.encode()) <= 64):
            raise ValueError(
                f"{len(v.encode())} bytes: a certificate's organization (O) holds 1 to 64 "
                "(bytes of UTF-8: an accented letter takes 2)"
            )
        # a control character or a space at an end, as the subject's other text is refused
        return None if v is None else _check_subject_text(v, "organization")


_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_env_name(v: str | None) -> str | None:
    if v is not None and not _ENV_RE.match(v):
        raise ValueError(f"{v!r} is not an environment variable name (letters, digits, _)")
    return v


def _number(v: Any, what: str, kinds: tuple[type, ...]) -> Any:
    """Refuse what TOML reads as another type (true, "30") rather than convert it."""
    if isinstance(v, bool) or not isinstance(v, kinds):
        raise ValueError(f"{_toml_value(v)} is not {what}")
    return v


class _Monitoring(_Strict):
    warn_days: list[int] = list(DEFAULT_WARN_DAYS)
    probe_interval: int = 3600
    probe_timeout: float = 5.0

    @field_validator("warn_days", mode="before")
    @classmethod
    def _days_list(cls, v: Any) -> Any:
        if not isinstance(v, list):
            raise ValueError("give a list of days, e.g. warn_days = [60, 30, 7]")
        for d in v:
            _number(d, "a whole number of days", (int,))
        return v

    @field_validator("probe_interval", mode="before")
    @classmethod
    def _interval_type(cls, v: Any) -> Any:
        return _number(v, "a whole number of seconds", (int,))

    @field_validator("probe_timeout", mode="before")
    @classmethod
    def _timeout_type(cls, v: Any) -> Any:
        return _number(v, "a number of seconds", (int, float))

    @field_validator("probe_interval")
    @classmethod
    def _interval(cls, v: int) -> int:
        if not 10 <= v <= 7 * 86400:
            raise ValueError("probe_interval is in seconds, from 10 to 604800 (a week)")
        return v

    @field_validator("probe_timeout")
    @classmethod
    def _timeout(cls, v: float) -> float:
        if not 0 < v <= 300:
            raise ValueError("probe_timeout is in seconds, more than 0 and at most 300")
        return v

    @field_validator("warn_days")
    @classmethod
    def _stages(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("give at least one stage, e.g. warn_days = [60, 30, 7]")
        if any(d < 1 or d > 3650 for d in v):
            raise ValueError("each stage is a number of days from 1 to 3650")
        if len(set(v)) != len(v):
            raise ValueError("a stage is given twice")
        return sorted(v, reverse=True)


class _Renewal(_Strict):
    key: Literal["rotate", "keep"] = "rotate"


class _Notify(_Strict):
    webhook: str | None = None
    webhook_secret_env: str | None = None
    email_to: list[str] = Field(default_factory=list)
    email_from: str | None = None
    smtp: str | None = None
    smtp_starttls: bool = True
    smtp_user: str | None = None
    smtp_password_env: str | None = None

    @field_validator("smtp_starttls", mode="before")
    @classmethod
    def _flag(cls, v: Any) -> Any:
        if not isinstance(v, bool):
            raise ValueError(f"{_toml_value(v)} is not true or false")
        return v

    _env = field_validator("webhook_secret_env", "smtp_password_env")(
        classmethod(lambda cls, v: _check_env_name(v))
    )

    @field_validator("webhook")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^\s/]+", v):
            raise ValueError(f"{v!r} is not an http:// or https:// URL")
        if v is not None:
            from urllib.parse import urlsplit

            try:
                urlsplit(v).port  # noqa: B018 (read: it raises for a bad one)
            except ValueError:
                port = urlsplit(v).netloc.rpartition(":")[2]
                raise ValueError(f"{v!r}: port {port!r} is not a number from 1 to 65535") from None
        return v

    @field_validator("email_to", mode="before")
    @classmethod
    def _to(cls, v: Any) -> Any:
        if not isinstance(v, str | list):
            raise ValueError(f"{_toml_value(v)} is {_toml_kind(v)}, not an e-mail address")
        return [v] if isinstance(v, str) else v

    @field_validator("email_to")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        for a in v:
            if not re.match(r"^[^@\s]+@[^@\s]+$", a):
                raise ValueError(f"{a!r} is not an e-mail address")
        return v

    @field_validator("smtp")
    @classmethod
    def _relay(cls, v: str | None) -> str | None:
        if v is not None:
            split_endpoint(v)
        return v


# ---- ACME enrollment (issue 14): the [acme] table
_TSIG_ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1")


class _Acme(_Strict):
    directory: str
    email: str
    eab_kid: str | None = None
    eab_hmac_env: str | None = None
    ca_bundle: str | None = None
    dns: Literal["rfc2136", "hook"]
    dns_server: str | None = None
    dns_port: int = 53
    zone: str | None = None
    tsig_key_name: str | None = None
    tsig_algorithm: str = "hmac-sha256"
    tsig_secret_env: str | None = None
    hook: list[str] = Field(default_factory=list)
    propagation_wait: float = 0.0
    propagation_timeout: float = 120.0

    _env = field_validator("eab_hmac_env", "tsig_secret_env")(
        classmethod(lambda cls, v: _check_env_name(v))
    )

    @field_validator("directory")
    @classmethod
    def _directory(cls, v: str) -> str:
        if not re.match(r"^https://[^\s/]+(/\S*)?$", v):
            raise ValueError(
                f"{v!r} is not an https:// URL (RFC 8555 requires HTTPS for the directory)"
            )
        return v

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        if not re.match(r"^[^@\s:]+@[^@\s]+$", v):
            raise ValueError(f"{v!r} is not an e-mail address")
        return v

    @field_validator("hook", mode="before")
    @classmethod
    def _hook(cls, v: Any) -> Any:
        if isinstance(v, str):
            import shlex

            try:
                v = shlex.split(v)
            except ValueError as exc:
                raise ValueError(f"cannot split the command: {exc}") from None
        if not isinstance(v, list) or not v or not all(isinstance(a, str) and a for a in v):
            raise ValueError("give the command as a string or a list of its words")
        return v

    @field_validator("dns_port", mode="before")
    @classmethod
    def _port(cls, v: Any) -> Any:
        _number(v, "a port number", (int,))
        if not 0 < v < 65536:
            raise ValueError(f"port {v} is not from 1 to 65535")
        return v

    @field_validator("propagation_wait", "propagation_timeout", mode="before")
    @classmethod
    def _seconds(cls, v: Any) -> Any:
        _number(v, "a number of seconds", (int, float))
        if not 0 <= v <= 3600:
            raise ValueError(f"{v} is not a number of seconds from 0 to 3600")
        return v

    @field_validator("tsig_algorithm")
    @classmethod
    def _alg(cls, v: str) -> str:
        if v.lower() not in _TSIG_ALGORITHMS:
            raise ValueError(f"unknown TSIG algorithm {v!r} (known: {', '.join(_TSIG_ALGORITHMS)})")
        return v.lower()

    @field_validator("dns_server")
    @classmethod
    def _server(cls, v: str | None) -> str | None:
        if v is None:
            return None
        try:
            return str(ipaddress.ip_address(v))
        except ValueError:
            return _check_hostname(v)

    @field_validator("zone", "tsig_key_name")
    @classmethod
    def _dns_name(cls, v: str | None) -> str | None:
        return None if v is None else _check_hostname(v)


# ---- end ACME


# ---- CA keys in a PKCS#11 token (issue 14): the [ca] table
class _Ca(_Strict):
    root_pkcs11_uri: str | None = None
    intermediate_pkcs11_uri: str | None = None
    pkcs11_module: str | None = None

    @field_validator("root_pkcs11_uri", "intermediate_pkcs11_uri")
    @classmethod
    def _uri(cls, v: str | None) -> str | None:
        if v is None:
            return None
        from ccapki.hsm.uri import parse_pkcs11_uri

        try:
            return str(parse_pkcs11_uri(v))
        except InputError as exc:
            raise ValueError(f"{exc.message} ({exc.hint})") from None

    @field_validator("pkcs11_module")
    @classmethod
    def _module(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("/"):
            raise ValueError(f"{v!r} is not an absolute path to a PKCS#11 library (.so)")
        return v


# ---- end PKCS#11


class _File(_Strict):
    deployment: _Header
    cam: _Unit
    cas: list[_Unit] = Field(default_factory=list)
    monitoring: _Monitoring = Field(default_factory=_Monitoring)
    renewal: _Renewal = Field(default_factory=_Renewal)
    notify: _Notify = Field(default_factory=_Notify)
    acme: _Acme | None = None
    ca: _Ca = Field(default_factory=_Ca)


class _LineIndex:
    """Maps a key path such as ``("cas", 2, "primary", "ip")`` to a 1-based line number."""

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\" ]+?)\s*\]\]?\s*(#.*)?$")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"]+)\s*=")

    def __init__(self, text: str) -> None:
        # read at the first question (an error to place): a file without one never is
        self._text = text
        self._lines: dict[tuple[Any, ...], int] | None = None
        self._arrays: set[tuple[Any, ...]] = set()

    @property
    def lines(self) -> dict[tuple[Any, ...], int]:
        """Key path -> the line that writes it."""
        if self._lines is None:
            self._lines = {}
            self._read(self._text)
        return self._lines

    @property
    def arrays(self) -> set[tuple[Any, ...]]:
        """The tables written as arrays of tables ([[cas]])."""
        _ = self.lines
        return self._arrays

    def _read(self, text: str) -> None:
        lines = self.lines
        counters: dict[tuple[Any, ...], int] = {}
        table: tuple[Any, ...] = ()
        for no, line in enumerate(text.splitlines(), start=1):
            h = self._HEADER.match(line)
            if h:
                parts = tuple(p.strip().strip('"') for p in h.group(2).split("."))
                if h.group(1) == "[[":
                    idx = counters.get(parts, -1) + 1
                    counters[parts] = idx
                    table = (*parts, idx)
                    lines.setdefault(parts, no)  # the list itself: its first table
                    self._arrays.add(parts)
                else:
                    # [cas.primary] after [[cas]] refers to the latest cas element
                    resolved: list[Any] = []
                    for p in parts:
                        resolved.append(p)
                        if tuple(resolved) in counters:
                            resolved.append(counters[tuple(resolved)])
                    table = tuple(resolved)
                lines.setdefault(table, no)
                continue
            k = self._KEY.match(line)
            if k:
                key = k.group(1).strip('"')
                lines.setdefault((*table, key), no)
                # keys of an inline table on the same line
                for inner in re.findall(r"[{,]\s*([A-Za-z0-9_\-]+)\s*=", line):
                    lines.setdefault((*table, key, inner), no)

    def find(self, path: Sequence[Any]) -> int | None:
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return None


def _loc_text(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _more_unknown(errors: Sequence[Any], said: Any, index: _LineIndex) -> str:
    """The file's other unknown keys than ``said`` (all fixed in one edit, not one run
    each), as the end of a hint; empty when there are none."""
    more = []
    for e in errors:
        if e is said or e["type"] != "extra_forbidden":
            continue
        loc = [p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        line = index.find(loc)
        at = f" (line {line})" if line else ""
        more.append(f"{loc[-1]!r} in {_loc_text(loc[:-1]) or 'the top level'}{at}")
    if not more:
        return ""
    shown = ", ".join(more[:5]) + (f" and {len(more) - 5} more" if len(more) > 5 else "")
    return f"; the file has {len(more)} more unknown key{'s' if len(more) > 1 else ''}: {shown}"


def _pydantic_error(path: str, index: _LineIndex, exc: ValidationError) -> DeploymentError:
    errors = exc.errors()
    err = errors[0]
    if err["type"] == "missing":
        # a misspelt key (`nam = "cam-a"`) is both an unknown key and a missing one: the
        # unknown key of the same table is what to fix
        table = err["loc"][:-1]
        err = next(
            (e for e in errors if e["type"] == "extra_forbidden" and e["loc"][:-1] == table),
            err,
        )
    loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
    where = _loc_text(loc)
    kind = err["type"]
    line = index.find(loc)
    if kind == "extra_forbidden":
        parent = loc[:-1]
        allowed = _allowed_keys(parent)
        if (
            len(parent) >= 2
            and parent[-1] in ("primary", "secondary")
            and str(loc[-1]) in _PAIR_SETTINGS
        ):
            pair = _loc_text(parent[:-1])
            return DeploymentError(
                path,
                line,
                f"{loc[-1]} is set on the peer {_loc_text(parent)}: an HA pair's two peers "
                "share one certificate and key, so they cannot differ in it",
                f"move {loc[-1]} = ... out of {parent[-1]} to the pair itself ({pair}), "
                f"for both peers; allowed keys in {parent[-1]}: {', '.join(allowed)}",
            )
        if parent and parent[-1] == "subject" and loc[-1] in _SUBJECT_ELSEWHERE:
            return DeploymentError(
                path,
                line,
                f"unknown key {loc[-1]!r} in {_loc_text(parent)}",
                f"{_SUBJECT_ELSEWHERE[str(loc[-1])]}; allowed keys: {', '.join(allowed)}",
            )
        import difflib

        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        meant = f" (did you mean {close[0]!r}?)" if close else ""
        return DeploymentError(
            path,
            line,
            f"unknown key {loc[-1]!r} in {_loc_text(parent) or 'the top level'}{meant}",
            f"remove it or fix its spelling; allowed keys: {', '.join(allowed)}"
            + _more_unknown(errors, err, index),
        )
    if kind == "missing":
        return DeploymentError(
            path,
            index.find(loc[:-1]) or line or 1,  # a missing top-level table: the file's start
            f"{where} is missing",
            (
                # a top-level table ([deployment], [cam]), not a key = value
                f"add a [{loc[0]}] table to the file (every deployment starts with a "
                "[deployment] table and a [cam] table; see examples/faq.toml)"
                if len(loc) == 1
                else f"add {loc[-1]} = ... to {_loc_text(loc[:-1]) or 'the file'}"
            ),
        )
    if len(loc) >= 2 and loc[-2] == "subject" and str(loc[-1]) in _SUBJECT_EXAMPLES:
        if kind == "string_type":
            msg = f"{_toml_value(err['input'])} is {_toml_kind(err['input'])}, not a string"
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
        return DeploymentError(
            path, line, f"{where}: {msg}", f"write it like {_SUBJECT_EXAMPLES[str(loc[-1])]}"
        )
    if kind == "literal_error" and loc == ["deployment", "ca"]:
        return DeploymentError(
            path,
            line,
            f"{where}: {err['input']!r} is not a CA setting",
            'use ca = "own" (the deployment\'s own CAs, the default) or ca = "shared" (the '
            "CAs it shares with the store's other deployments that say so)",
        )
    if kind == "literal_error" and loc == ["renewal", "key"]:
        return DeploymentError(
            path,
            line,
            f"{where}: {err['input']!r} is not a key policy",
            'use key = "rotate" (a new key at every renewal, the default) or key = "keep"',
        )
    if kind == "literal_error" and loc == ["acme", "dns"]:
        return DeploymentError(
            path,
            line,
            f"{where}: {err['input']!r} is not a DNS-01 method",
            'use dns = "rfc2136" (a TSIG-signed dynamic update) or dns = "hook" (a command '
            "that adds and removes the TXT record; see docs/acme.md)",
        )
    if kind == "literal_error":
        return DeploymentError(
            path,
            line,
            f"{where}: {err['input']!r} is not a certificate source",
            f"use one of: {', '.join(_SOURCES)}",
        )
    if kind in ("model_type", "dict_type") and len(loc) == 1 and tuple(loc) in index.arrays:
        # [[cam]] or [[deployment]]: one table each, written as a list of tables
        return DeploymentError(
            path,
            line,
            f"{where}: [[{where}]] (double brackets) makes a list of tables, but [{where}] is "
            "one table",
            f"write [{where}] (single brackets), once, as examples/faq.toml does",
        )
    if kind in ("string_type", "model_type", "dict_type") and loc:
        wanted = "a string" if kind == "string_type" else "a table"
        key = next((str(p) for p in reversed(loc) if isinstance(p, str)), "")
        example = _TYPE_EXAMPLES.get(key) or _EXAMPLES.get(key)
        return DeploymentError(
            path,
            line,
            f"{where}: {_toml_value(err['input'])} is {_toml_kind(err['input'])}, not {wanted}",
            f"write it like {example}" if example else f"make {where} {wanted}",
        )
    if kind == "list_type" and loc == ["cas"] and isinstance(err["input"], dict):
        return DeploymentError(
            path,
            line,
            "cas: [cas] (single brackets) is one table, but the CAS are a list of tables",
            "write [[cas]] (double brackets) above each CAS, as examples/faq.toml does",
        )
    if kind == "list_type" and loc:
        return DeploymentError(
            path,
            line,
            f"{where}: {_toml_value(err['input'])} is {_toml_kind(err['input'])}, not a list",
            f"write it as a list, e.g. {where.rsplit('.', 1)[-1]} = [...]",
        )
    msg = str(err["msg"]).removeprefix("Value error, ")
    if loc and loc[-1] == "validity_days" and kind == "value_error":
        return _days_error(path, line, where, err["input"], msg)
    if kind == "string_pattern_mismatch":
        msg = f"{_toml_value(err['input'])} is not a valid name"
        hint = "names use letters, digits, '.', '_' and '-', starting with a letter or digit"
    elif loc and str(loc[-1]) in _EXAMPLES:
        hint = f"write it like {_EXAMPLES[str(loc[-1])]}"
    else:
        hint = f"fix the value of {where}"
    return DeploymentError(path, line, f"{where}: {msg}", hint)


#: how a setting is written, for the hint of a bad value
_EXAMPLES = {
    "warn_days": "warn_days = [60, 30, 7] (days before expiry, whole numbers)",
    "ip": 'ip = "10.20.0.11" or ip = ["10.20.0.11", "10.20.0.12"] (each address in quotes)',
    "hook": 'hook = "/usr/local/bin/acme-dns-hook" or hook = ["/usr/local/bin/hook", "--zone", '
    '"example.edu"] (each word in quotes)',
    "probe_interval": "probe_interval = 3600 (seconds, a whole number)",
    "probe_timeout": "probe_timeout = 5.0 (seconds)",
    "smtp_starttls": "smtp_starttls = true (or false, unquoted)",
    "webhook": 'webhook = "https://hooks.example.edu/ccapki"',
    "organization": 'organization = "Example University" (at most 64 bytes)',
    "email_to": 'email_to = ["noc@example.edu"]',
    "smtp": 'smtp = "mail.example.edu:587"',
    "webhook_secret_env": 'webhook_secret_env = "CCAPKI_WEBHOOK_SECRET"',
    "smtp_password_env": 'smtp_password_env = "CCAPKI_SMTP_PASSWORD"',
    "hostname": "hostname = \"cas-dorm.example.edu\" (a DNS name: letters, digits and '-' "
    "between dots; no IP address, '_' or '*')",
    "virtual_hostname": 'virtual_hostname = "cas-dorm.example.edu" (a DNS name: letters, '
    "digits and '-' between dots; no IP address, '_' or '*')",
    "service_ip": 'service_ip = "10.20.0.10" (one address, in quotes)',
    "key": 'key = "ecdsa-p256" (the default; or "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096")',
    "san_ips": "san_ips = false (unquoted: false leaves IP addresses out of the certificate's "
    "names; true, the default, puts them in)",
}


#: how a value of the wrong TOML type is written, for the hint (a number for a hostname...)
_TYPE_EXAMPLES = {
    "name": 'name = "cas-dorm" (in quotes)',
    "hostname": 'hostname = "cas.example.edu" (in quotes)',
    "virtual_hostname": 'virtual_hostname = "cas.example.edu" (in quotes)',
    "service_ip": 'service_ip = "10.20.0.10" (one address, in quotes)',
    "primary": 'primary = { name = "cas-dorm-a", hostname = "cas-dorm-a.example.edu", '
    'ip = "10.20.0.11" }',
    "secondary": 'secondary = { name = "cas-dorm-b", hostname = "cas-dorm-b.example.edu", '
    'ip = "10.20.0.12" }',
    "subject": 'subject = { locality = "Springfield" } (or a [deployment.subject] table)',
}

#: subject attributes a ``subject`` table does not take, and where they come from
_SUBJECT_ELSEWHERE = {
    "organization": 'the organization (O) is set once, in [deployment]: organization = "..."',
    "common_name": "the common name (CN) is the identity's (virtual) hostname, or its (Service) "
    "IP address without one: ccapki sets it",
}


def _toml_kind(value: Any) -> str:
    """What TOML calls the type of ``value`` (for an error about a value of the wrong type)."""
    if isinstance(value, bool):
        return "a boolean (true/false)"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return "a date or time" if hasattr(value, "isoformat") else "another kind of value"


def _allowed_keys(parent: Sequence[Any]) -> list[str]:
    names = [p for p in parent if isinstance(p, str)]
    model: type[BaseModel] = _File
    for n in names:
        field = model.model_fields.get(n)
        if field is None:
            break
        ann = field.annotation
        for cand in (_Header, _Unit, _Member, _Monitoring, _Renewal, _Notify, _Acme, _Ca, _Subject):
            if cand is ann or cand in getattr(ann, "__args__", ()):
                model = cand
                break
            inner = getattr(ann, "__args__", ())
            if any(cand in getattr(a, "__args__", ()) for a in inner):
                model = cand
                break
    return sorted(model.model_fields)


def _appliance(role: Role, m: _Member | _Unit) -> Appliance:
    assert m.ip is not None  # hostname None: known by its address alone (its CN is the IP)
    return Appliance(
        name=m.name,
        role=role,
        hostname=m.hostname,
        ips=tuple(_ip_address(i) for i in m.ip),
        endpoints=tuple(sorted(m.endpoints.items())),
    )


def _unit(
    path: str, index: _LineIndex, loc: tuple[Any, ...], role: Role, u: _Unit, hdr: _Header
) -> IdentitySpec:
    def fail(msg: str, hint: str, key: str | None = None) -> DeploymentError:
        return DeploymentError(path, index.find((*loc, key) if key else loc), msg, hint)

    where = _loc_text(loc)
    is_pair = u.primary is not None or u.secondary is not None
    if is_pair:
        if u.primary is None or u.secondary is None:
            have = "primary" if u.primary else "secondary"
            lacking = "secondary" if u.primary else "primary"
            raise fail(
                f"HA pair {u.name!r} has a {have} but no {lacking}",
                f"add {lacking} = {{ name = ..., hostname = ..., ip = ... }}, or make it "
                "standalone with hostname and ip instead",
                have,
            )
        if u.hostname or u.ip:
            raise fail(
                f"{where}: HA pair {u.name!r} gives hostname/ip at the pair level",
                "an HA pair gives virtual_hostname and service_ip; each peer its own "
                "hostname and ip",
                "hostname" if u.hostname else "ip",
            )
        if u.endpoints:
            raise fail(
                f"{where}: HA pair {u.name!r} gives endpoints at the pair level",
                "give each peer its own: primary = { ..., endpoints = { control = "
                '"host:port" } }, and the same for the secondary',
                "endpoints",
            )
        if u.service_ip is None:
            raise fail(
                f"HA pair {u.name!r} has no service_ip",
                'add service_ip = "..." : the Service IP the pair shares (and virtual_hostname '
                "= ..., its DNS name, when it has one)",
            )
        members: tuple[Appliance, ...] = (
            _appliance(role, u.primary),
            _appliance(role, u.secondary),
        )
    else:
        if u.service_ip or u.virtual_hostname:
            raise fail(
                f"{where}: {u.name!r} has a service_ip/virtual_hostname but only one appliance",
                "an HA pair needs primary and secondary; a standalone appliance gives "
                "hostname and ip",
                "service_ip" if u.service_ip else "virtual_hostname",
            )
        if u.ip is None:
            neither = u.hostname is None
            raise fail(
                f"{where}: {u.name!r} has " + ("neither hostname nor ip" if neither else "no ip"),
                'add ip = "..." (the address it answers on'
                + ('; and hostname = "..." when it has a DNS name' if neither else "")
                + ", or primary/secondary tables for an HA pair)",
            )
        members = (_appliance(role, u),)
    acme = (u.source or hdr.source) == "acme"
    if acme and all(m.hostname is None for m in members) and u.virtual_hostname is None:
        raise fail(
            f'{where}: {u.name!r} has source = "acme" and no hostname: ACME DNS-01 proves '
            "DNS names, never an IP address",
            f'give {u.name} a hostname = "..." (its DNS name), or source = "internal" (or '
            '"third-party") for a certificate naming its IP address',
            "source" if u.source else None,
        )
    san_ips = hdr.san_ips if u.san_ips is None else u.san_ips
    if not san_ips:
        _refuse_ip_common_name(path, index, loc, u, members)
    return IdentitySpec(
        name=u.name,
        role=role,
        members=members,
        source=Source.THIRD_PARTY
        if (u.source or hdr.source) == "acme"
        else Source(u.source or hdr.source),
        acme=acme,
        key_type=KeyType(u.key or hdr.key),
        key_type_default=u.key is None and "key" not in hdr.model_fields_set,
        service_ip=_ip_address(u.service_ip) if u.service_ip else None,
        virtual_hostname=u.virtual_hostname,
        validity_days=u.validity_days or hdr.validity_days,
        subject=u.subject.fields().over(hdr.subject.fields()),
        san_ips=san_ips,
    )


def _refuse_ip_common_name(
    path: str, index: _LineIndex, loc: tuple[Any, ...], u: _Unit, members: Sequence[Appliance]
) -> None:
    """``san_ips = false`` for an identity whose common name is an IP address (a standalone
    appliance without hostname, an HA pair without virtual_hostname): the certificate would
    name an address it leaves out of its names (and an appliance known by its address alone,
    nothing at all). Raises :class:`DeploymentError` at the setting's line."""
    if u.virtual_hostname is not None or (len(members) == 1 and members[0].hostname is not None):
        return
    where = _loc_text(loc)
    line = index.find((*loc, "san_ips")) if u.san_ips is not None else None
    if line is None:
        line = index.find(("deployment", "san_ips")) or index.find(loc)
    set_in = "" if u.san_ips is not None else " (from [deployment])"
    if len(members) == 1:
        raise DeploymentError(
            path,
            line,
            f"{where}: {u.name!r} has san_ips = false{set_in} and no hostname: known by its "
            "IP address alone, its certificate would have no name left",
            f'give {u.name} hostname = "..." (its DNS name), or san_ips = true for it (a CA '
            "that signs IP addresses, as ccapki's internal CA or an enterprise CA, names its "
            "address)",
        )
    raise DeploymentError(
        path,
        line,
        f"{where}: HA pair {u.name!r} has san_ips = false{set_in} and no virtual_hostname: "
        "its common name would be its Service IP, which the certificate would not name",
        f'give the pair virtual_hostname = "..." (the DNS name of its Service IP), or '
        f"san_ips = true for {u.name}",
    )


def _release_number_as_text(path: str, text: str, index: _LineIndex, raw: dict[str, Any]) -> None:
    """``release = 4.8`` (a TOML number, not a string) is read as the text written, "4.8",
    and then exactly as the string would be (:func:`parse_release`): ``4.10`` and ``4.70``
    are refused as the release lines they are written as, never read as the float TOML makes
    of them (4.1, 4.7). A number whose text cannot be found is refused."""
    hdr = raw.get("deployment")
    if not isinstance(hdr, dict):
        return
    value = hdr.get("release")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    line = index.find(("deployment", "release"))
    written = None
    if line:
        m = re.match(r"\s*release\s*=\s*([0-9][0-9_.eE+-]*)\s*(#.*)?$", text.splitlines()[line - 1])
        written = m.group(1) if m else None
    if written is None:
        raise DeploymentError(
            path,
            line,
            f"release = {value} is a TOML number, not the release text",
            'write the release as a string, e.g. release = "4.8.0"',
        )
    try:
        parse_release(written)
    except InputError as exc:
        words = exc.message.replace(f"release {written} ", f"release = {written} (a TOML number) ")
        words = words.replace(f"release {written!r} ", f"release = {written} (a TOML number) ")
        raise DeploymentError(path, line, words, exc.hint) from None
    hdr["release"] = written


def parse_deployment(text: str, path: str = "<deployment>") -> Deployment:
    """Parse deployment TOML text. Raises :class:`DeploymentError` naming FILE:LINE."""
    # a large estate's file makes tens of thousands of lasting objects and no cycle: the
    # collector paused, it is not rescanned over and over (half the parse of 10,000 CAS)
    with gc_paused():
        return _parse(text, path)


def _parse(text: str, path: str) -> Deployment:
    text = text.removeprefix("\ufeff")  # a byte-order mark (Notepad's "UTF-8 with BOM")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        pem = re.search(r"^-----BEGIN ([A-Z0-9 #]+)-----", text, re.MULTILINE)
        if pem is not None:  # a certificate or key named where the deployment file goes
            raise DeploymentError(
                path,
                text.count("\n", 0, pem.start()) + 1,
                f"is a PEM file ({'private key' if 'PRIVATE' in pem[1] else pem[1].lower()}), "
                "not a deployment file (TOML)",
                "give the deployment file (TOML, as examples/faq.toml); `ccapki inspect "
                "FILE` reads certificate and key files",
            ) from None
        m = re.search(r"line (\d+)", str(exc))
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise DeploymentError(
            path,
            int(m.group(1)) if m else None,
            f"TOML syntax: {msg}",
            "fix the TOML syntax at that line (strings need quotes, tables [name], lists [a, b])",
        ) from None
    if not raw:  # nothing but blank lines and comments: not a deployment missing its table
        raise _empty_file(path, text)
    index = _LineIndex(text)
    _release_number_as_text(path, text, index, raw)
    try:
        model = _File.model_validate(raw)
    except ValidationError as exc:
        raise _pydantic_error(path, index, exc) from None
    _check_secret_settings(path, index, model)
    hdr = model.deployment
    try:
        release = parse_release(hdr.release)
    except InputError as exc:
        raise DeploymentError(
            path, index.find(("deployment", "release")), exc.message, exc.hint
        ) from None
    cam = _unit(path, index, ("cam",), Role.CAM, model.cam, hdr)
    cas = tuple(_unit(path, index, ("cas", i), Role.CAS, u, hdr) for i, u in enumerate(model.cas))
    dep = Deployment(
        name=hdr.name,
        release=release,
        cam=cam,
        cas=cas,
        organization=hdr.organization,
        source_text=text,
        shared_ca=hdr.ca == "shared",
        monitoring=_monitoring(path, index, model),
        acme=_acme(path, index, model, (cam, *cas)),
        ca_keys=CaKeys(
            model.ca.root_pkcs11_uri, model.ca.intermediate_pkcs11_uri, model.ca.pkcs11_module
        ),
        subject=hdr.subject.fields(),
    )
    _check_unique(path, index, dep, text)
    _check_endpoints(path, index, dep)
    return dep


#: the least a deployment file holds (one standalone CAM), as the empty file's hint says it
_MINIMAL = (
    'a [deployment] table (name = "campus", release = "4.9.0") and a [cam] table '
    '(name = "cam", hostname = "cam.example.edu", ip = "10.10.0.10")'
)


def _empty_file(path: str, text: str) -> DeploymentError:
    """The error for a deployment file with no settings at all (empty, blank, or comments
    only): said as it is, not as a missing [deployment] table."""
    what = "is empty" if not text.strip() else "holds no settings (only comments and blank lines)"
    return DeploymentError(
        path,
        None,
        f"{what}: a deployment file describes the deployment in TOML",
        f"a deployment file holds at least {_MINIMAL}, one standalone CAM; see "
        "examples/faq.toml for a whole one (CAM and CAS HA pairs)",
    )


def _check_secret_settings(path: str, index: _LineIndex, model: _File) -> None:
    """A secret setting (``[notify] smtp_password_env``...) naming one of ccapki's own
    secrets (``CCAPKI_PASSPHRASE``: the SMTP relay would receive the store's passphrase)
    or another setting's variable is refused (see :mod:`ccapki.topology.secretenv`)."""
    for table in (model.notify, model.acme):
        if table is None:
            continue
        section = "notify" if table is model.notify else "acme"
        for setting in SETTING_SECRETS:
            name = getattr(table, setting, None)
            found = borrowed_secret(setting, name) if isinstance(name, str) else None
            if found is not None:
                where = (section, setting)
                raise DeploymentError(
                    path, index.find(where), f"{_loc_text(list(where))}: {found[0]}", found[1]
                )


def _monitoring(path: str, index: _LineIndex, model: _File) -> Monitoring:
    n = model.notify
    if n.email_to and not (n.smtp and n.email_from):
        raise DeploymentError(
            path,
            index.find(("notify", "email_to")),
            "[notify] email_to needs an SMTP relay and a sender",
            'add smtp = "mail.example.edu:587" and email_from = "ccapki@example.edu" to [notify]',
        )
    if n.smtp_user and not n.smtp_starttls:  # (refused here, not first when watch runs)
        raise DeploymentError(
            path,
            index.find(("notify", "smtp_starttls")),
            "[notify] smtp_user logs in without STARTTLS (the password would cross the "
            "network in clear)",
            "set smtp_starttls = true (the default), or remove smtp_user",
        )
    if n.webhook_secret_env and not n.webhook:
        raise DeploymentError(
            path,
            index.find(("notify", "webhook_secret_env")),
            "[notify] webhook_secret_env without a webhook",
            'add webhook = "https://..." to [notify], or remove webhook_secret_env',
        )
    m = model.monitoring
    return Monitoring(
        warn_days=tuple(m.warn_days),
        key_policy=KeyPolicy(model.renewal.key),
        probe_interval=m.probe_interval,
        probe_timeout=m.probe_timeout,
        notify=Notify(
            webhook=n.webhook,
            webhook_secret_env=n.webhook_secret_env,
            email_to=tuple(n.email_to),
            email_from=n.email_from,
            smtp=n.smtp,
            smtp_starttls=n.smtp_starttls,
            smtp_user=n.smtp_user,
            smtp_password_env=n.smtp_password_env,
        ),
    )


def _acme(
    path: str, index: _LineIndex, model: _File, idents: Sequence[IdentitySpec]
) -> AcmeSettings | None:
    """``[acme]``, checked as a whole: what each DNS-01 method needs, and a section for any
    identity with ``source = "acme"``."""
    a = model.acme
    users = [i.name for i in idents if i.acme]
    if a is None:
        if users:
            first = 0 if idents[0].acme else 1 + [i.name for i in idents[1:]].index(users[0])
            loc: tuple[Any, ...] = ("cam",) if first == 0 else ("cas", first - 1)
            raise DeploymentError(
                path,
                index.find((*loc, "source")) or index.find(("deployment", "source")),
                f'{users[0]} has source = "acme" and the file has no [acme] table',
                'add [acme] with directory = "https://...", email = "...", and dns = '
                '"rfc2136" or "hook" (see docs/acme.md)',
            )
        return None

    def fail(key: str, msg: str, hint: str) -> DeploymentError:
        return DeploymentError(path, index.find(("acme", key)) or index.find(("acme",)), msg, hint)

    if (a.eab_kid is None) != (a.eab_hmac_env is None):
        raise fail(
            "eab_kid" if a.eab_kid else "eab_hmac_env",
            "[acme] External Account Binding needs both eab_kid and eab_hmac_env",
            'give eab_kid = "KID from the CA" and eab_hmac_env = "NAME_OF_VARIABLE" (the '
            "variable holds the HMAC key, base64url, as the CA gave it), or neither",
        )
    if a.dns == "rfc2136":
        lacking = [
            k for k in ("dns_server", "tsig_key_name", "tsig_secret_env") if getattr(a, k) is None
        ]
        if lacking:
            raise fail(
                "dns",
                f'[acme] dns = "rfc2136" needs {", ".join(lacking)}',
                'add dns_server = "ns1.example.edu" (the primary that accepts updates), '
                'tsig_key_name = "acme-key." and tsig_secret_env = "ACME_TSIG_SECRET" '
                "(the variable holds the key's base64 secret)",
            )
        if a.hook:
            raise fail(
                "hook", '[acme] hook is for dns = "hook"', 'remove hook, or set dns = "hook"'
            )
    else:
        if not a.hook:
            raise fail(
                "dns",
                '[acme] dns = "hook" needs hook = "COMMAND"',
                'add hook = "/usr/local/bin/acme-dns-hook" (run as COMMAND add|remove RECORD '
                "VALUE; see docs/acme.md)",
            )
        extra = [
            k for k in ("dns_server", "tsig_key_name", "tsig_secret_env", "zone") if getattr(a, k)
        ]
        if extra:
            raise fail(extra[0], f'[acme] {extra[0]} is for dns = "rfc2136"', f"remove {extra[0]}")
    if a.propagation_timeout < a.propagation_wait:
        raise fail(
            "propagation_timeout",
            "[acme] propagation_timeout is shorter than propagation_wait",
            "make propagation_timeout at least propagation_wait (seconds)",
        )
    return AcmeSettings(
        directory=a.directory,
        email=a.email,
        dns=AcmeDnsMethod(a.dns),
        eab_kid=a.eab_kid,
        eab_hmac_env=a.eab_hmac_env,
        ca_bundle=a.ca_bundle,
        dns_server=a.dns_server,
        dns_port=a.dns_port,
        zone=a.zone,
        tsig_key_name=a.tsig_key_name,
        tsig_algorithm=a.tsig_algorithm,
        tsig_secret_env=a.tsig_secret_env,
        hook=tuple(a.hook),
        propagation_wait=float(a.propagation_wait),
        propagation_timeout=float(a.propagation_timeout),
    )


def _member_locs(dep: Deployment) -> dict[int, tuple[Any, ...]]:
    """Where each appliance is written in the file, by ``id(appliance)`` (one pass)."""
    out: dict[int, tuple[Any, ...]] = {}
    for i, ident in enumerate(dep.identities):
        base: tuple[Any, ...] = ("cam",) if i == 0 else ("cas", i - 1)
        for j, m in enumerate(ident.members):
            out[id(m)] = (*base, "primary" if j == 0 else "secondary") if ident.ha else base
    return out


#: the duplicate address's hint when the file writes an IPv4-mapped IPv6 address
_MAPPED_NOTE = "; an IPv4-mapped address (::ffff:172.16.2.11) is the IPv4 address it maps"


def _check_unique(path: str, index: _LineIndex, dep: Deployment, text: str = "") -> None:
    mapped = _MAPPED_NOTE if "::ffff:" in text.lower() else ""
    locs = _member_locs(dep)
    # name without letter case -> (the name as written, what has it, in words): names
    # differing in case alone would be two identities one typo apart, and two CSR or
    # bundle files that are one file on a case-insensitive disk
    seen_names: dict[str, tuple[str, str]] = {}
    for i, ident in enumerate(dep.identities):
        loc: tuple[Any, ...] = ("cam",) if i == 0 else ("cas", i - 1)
        role = "CAM" if ident.role is Role.CAM else "CAS"
        what = f"the HA pair {ident.name}" if ident.ha else f"the {role} {ident.name}"
        named: list[tuple[str, tuple[Any, ...], str]] = [(ident.name, loc, what)]
        if ident.ha:
            named += [
                (m.name, locs[id(m)], f"{m.name}, the {peer} of HA pair {ident.name}")
                for m, peer in zip(ident.members, ("primary", "secondary"), strict=True)
            ]
        for n, nloc, owner in named:
            if n.casefold() in seen_names:
                first, had = seen_names[n.casefold()]
                case = "" if first == n else "; names are compared without letter case"
                raise DeploymentError(
                    path,
                    index.find((*nloc, "name")),
                    f"duplicate name {n!r} (already used by {had}{case})",
                    "give every appliance and HA pair its own name",
                )
            seen_names[n.casefold()] = (n, owner)
    seen_ips: dict[IPAddress, str] = {}
    seen_hosts: dict[str, str] = {}
    for i, ident in enumerate(dep.identities):
        loc = ("cam",) if i == 0 else ("cas", i - 1)
        if ident.service_ip is not None:
            if ident.service_ip in seen_ips:
                raise DeploymentError(
                    path,
                    index.find((*loc, "service_ip")),
                    f"duplicate IP address {ident.service_ip} (already used by "
                    f"{seen_ips[ident.service_ip]})",
                    f"every appliance and Service IP needs its own address{mapped}",
                )
            seen_ips[ident.service_ip] = ident.name
        if ident.virtual_hostname:
            if ident.virtual_hostname in seen_hosts:
                raise DeploymentError(
                    path,
                    index.find((*loc, "virtual_hostname")),
                    f"duplicate hostname {ident.virtual_hostname} on {ident.name} (already used "
                    f"by {seen_hosts[ident.virtual_hostname]})",
                    "every appliance and HA pair needs its own hostname",
                )
            seen_hosts[ident.virtual_hostname] = ident.name
        for m in ident.members:
            mloc = locs[id(m)]
            for ip in m.ips:
                if seen_ips.get(ip) == m.name:  # ip = ["10.0.0.1", "10.0.0.1"]
                    raise DeploymentError(
                        path,
                        index.find((*mloc, "ip")),
                        f"{ip} is listed twice in the ip of {m.name}",
                        "list each address once",
                    )
                if ip in seen_ips:
                    raise DeploymentError(
                        path,
                        index.find((*mloc, "ip")),
                        f"duplicate IP address {ip} on {m.name} (already used by {seen_ips[ip]})",
                        f"every appliance and Service IP needs its own address{mapped}",
                    )
                seen_ips[ip] = m.name
            if m.hostname is None:  # known by its address alone
                continue
            if m.hostname in seen_hosts:
                raise DeploymentError(
                    path,
                    index.find((*mloc, "hostname")),
                    f"duplicate hostname {m.hostname} on {m.name} (already used by "
                    f"{seen_hosts[m.hostname]})",
                    "every appliance needs its own hostname",
                )
            seen_hosts[m.hostname] = m.name


def _check_endpoints(path: str, index: _LineIndex, dep: Deployment) -> None:
    """Every ``endpoints`` entry: a channel this appliance has, and a valid ``host:port``
    (so `verify --live` never meets a bad one at probe time)."""
    locs = _member_locs(dep)
    for ident in dep.identities:
        for m in ident.members:
            mloc = locs[id(m)]
            for kind, address in m.endpoints:
                line = index.find((*mloc, "endpoints", kind))
                where = f"{_loc_text(mloc)}.endpoints.{kind}"
                if kind not in ENDPOINT_NAMES:
                    raise DeploymentError(
                        path,
                        line,
                        f"{where}: unknown endpoint {kind!r} of {m.name}",
                        f"use the channel names: {', '.join(ENDPOINT_NAMES)}",
                    )
                if ident.role is Role.CAM and kind in ("agent", "web-login"):
                    raise DeploymentError(
                        path,
                        line,
                        f"{where}: {m.name} is a CAM, which has no {kind} endpoint (agents "
                        "and the web login talk to a CAS)",
                        "remove it; a CAM's endpoints are control, gui and (HA) heartbeat",
                    )
                if kind == "heartbeat" and not ident.ha:
                    raise DeploymentError(
                        path,
                        line,
                        f"{where}: {m.name} is standalone; a heartbeat endpoint is for a peer "
                        "of an HA pair",
                        "remove it, or describe the HA pair with primary and secondary",
                    )
                try:
                    split_endpoint(address)
                except ValueError as exc:
                    raise DeploymentError(
                        path,
                        line,
                        f"{where} = {address!r}: {exc}",
                        'write it as "host:port" with a port from 1 to 65535 (an IPv6 '
                        'address in brackets: "[2001:db8::1]:443")',
                    ) from None


def load_deployment(path: str | Path) -> Deployment:
    """Read and parse a deployment file."""
    data = read_input_file(path, limit=4 * 1024 * 1024)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise not_utf8(str(path), data) from None
    return parse_deployment(text, str(path))


def not_utf8(path: str, data: bytes) -> DeploymentError:
    """The error for a deployment file ``data`` that is not UTF-8 (FILE:LINE of its first
    bad byte)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return DeploymentError(
            path,
            data[: exc.start].count(b"\n") + 1,
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            "save the deployment file as UTF-8 TOML",
        )
    raise ValueError("the data is UTF-8")
