"""The deployment loader's fast path: the plain deployment file without pydantic.

:func:`parse_deployment` and :func:`load_deployment` return exactly what
:func:`ccapki.topology.loader.parse_deployment` and ``load_deployment`` return, and raise
exactly what they raise. A file made only of ``[deployment]``, ``[cam]`` and ``[[cas]]``
with the keys below, every value of the type the full loader wants and valid, is built here
directly (the pydantic models of the full loader cost more to import than the command that
reads the file). Anything else (another table or key, such as ``[monitoring]``,
``endpoints`` or ``source = "acme"``; a value of another type; a broken or duplicate
value; a TOML error) is handed to the full loader, which builds it or raises the
``error: FILE:LINE`` it would have raised anyway. So this module never words an error, and
a key the full loader learns is read by the full loader until it is taught here too.

``tests/topology/test_fastload.py`` compares both loaders' results on every example file,
every deployment file written in the tests, and generated files.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ccapki._util import gc_paused
from ccapki.errors import InputError
from ccapki.pki.keytypes import KeyType
from ccapki.topology.model import (
    Appliance,
    Deployment,
    IdentitySpec,
    IPAddress,
    Role,
    Source,
    is_localhost,
)
from ccapki.topology.releases import parse_release

__all__ = ["load_deployment", "parse_deployment"]

#: the full loader's ``_HOSTNAME_RE`` (a test keeps them equal)
_HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$"
)
#: the full loader's ``_NAME_RE``, matched whole
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
#: the full loader's ``MAX_DAYS``
_MAX_DAYS = 36500

#: what the fast path reads; any other key or table goes to the full loader
_TOP_KEYS = frozenset({"deployment", "cam", "cas"})
_HEADER_KEYS = frozenset(
    {"name", "release", "organization", "source", "key", "validity_days", "ca"}
)
_UNIT_KEYS = frozenset(
    {
        "name",
        "hostname",
        "ip",
        "primary",
        "secondary",
        "service_ip",
        "virtual_hostname",
        "source",
        "key",
        "validity_days",
    }
)
_MEMBER_KEYS = frozenset({"name", "hostname", "ip"})
_SOURCES = frozenset({"self-signed", "perfigo", "internal", "third-party"})


_T = TypeVar("_T")


class _Full(Exception):
    """Not for the fast path: the full loader reads this file."""


def _name(v: Any) -> str:
    if type(v) is not str or not _NAME_RE.fullmatch(v):
        raise _Full
    return v


def _hostname(v: Any) -> str:
    if type(v) is not str or "\n" in v or not _HOSTNAME_RE.match(v):
        raise _Full
    if v.replace(".", "").isdigit():
        raise _Full
    host = v.rstrip(".").lower()
    if is_localhost(host):
        raise _Full  # the machine itself: the full loader refuses it
    return host


def _parsed(v: Any, parse: Callable[[str], _T]) -> _T:
    """``parse(v)`` of a string ``v``; anything else, or a ValueError, goes to the full
    loader."""
    if type(v) is not str:
        raise _Full
    try:
        return parse(v)
    except ValueError:
        raise _Full from None


def _ip(v: Any) -> IPAddress:
    addr = _parsed(v, ipaddress.ip_address)
    if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id is not None:
        raise _Full  # a zone index (fe80::1%eth0): the full loader refuses it
    if addr.is_unspecified or addr.is_multicast or addr.is_loopback:
        raise _Full  # 0.0.0.0, ::, 224.0.0.1, 127.0.0.1...: the full loader refuses them
    if str(addr) == "255.255.255.255":
        raise _Full
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        raise _Full  # ::ffff:172.16.2.11: the full loader reads it as 172.16.2.11
    return addr


def _ips(v: Any) -> tuple[IPAddress, ...]:
    items = [v] if type(v) is str else v
    if type(items) is not list or not items:
        raise _Full
    return tuple(_ip(i) for i in items)


def _key(v: Any) -> KeyType:
    return _parsed(v, KeyType.parse)


def _days(v: Any) -> int | None:
    if v is None:
        return None
    if type(v) is not int or not 1 <= v <= _MAX_DAYS:
        raise _Full
    return v


def _source(v: Any) -> str:
    if type(v) is not str or v not in _SOURCES:
        raise _Full
    return v


def _table(v: Any, keys: frozenset[str], required: tuple[str, ...]) -> dict[str, Any]:
    if type(v) is not dict or not keys.issuperset(v) or any(k not in v for k in required):
        raise _Full
    return v


def _appliance(role: Role, name: str, m: dict[str, Any]) -> Appliance:
    """An appliance (a hostname, or its address alone) of the table ``m``."""
    hostname = _hostname(m["hostname"]) if "hostname" in m else None
    return Appliance(name=name, role=role, hostname=hostname, ips=_ips(m["ip"]))


def _member(role: Role, v: Any) -> Appliance:
    m = _table(v, _MEMBER_KEYS, ("name", "ip"))
    return _appliance(role, _name(m["name"]), m)


def _unit(role: Role, v: Any, header: dict[str, Any]) -> IdentitySpec:
    u = _table(v, _UNIT_KEYS, ("name",))
    name = _name(u["name"])
    if "primary" in u or "secondary" in u:
        if "hostname" in u or "ip" in u:
            raise _Full
        members: tuple[Appliance, ...] = (
            _member(role, u.get("primary")),
            _member(role, u.get("secondary")),
        )
        if "service_ip" not in u:
            raise _Full
        service_ip: IPAddress | None = _ip(u["service_ip"])
        virtual = _hostname(u["virtual_hostname"]) if "virtual_hostname" in u else None
    else:
        if "service_ip" in u or "virtual_hostname" in u or "ip" not in u:
            raise _Full
        members = (_appliance(role, name, u),)
        service_ip, virtual = None, None
    source = _source(u["source"]) if "source" in u else header["source"]
    key = _key(u["key"]) if "key" in u else header["key"]
    return IdentitySpec(
        name=name,
        role=role,
        members=members,
        source=Source(source),
        key_type=key,
        key_type_default="key" not in u and header["key_default"],
        service_ip=service_ip,
        virtual_hostname=virtual,
        validity_days=_days(u.get("validity_days")) or header["validity_days"],
    )


def _header(v: Any) -> dict[str, Any]:
    h = _table(v, _HEADER_KEYS, ("name", "release"))
    organization = h.get("organization")
    if organization is not None and (
        type(organization) is not str
        or not organization.strip()
        or len(organization.encode()) > 64
        or not organization.isprintable()  # a control character: the full loader says which
        or organization != organization.strip()
    ):
        raise _Full
    ca = h.get("ca", "own")
    if ca not in ("own", "shared"):
        raise _Full
    release = h["release"]
    if type(release) is not str:
        raise _Full  # a TOML number: the full loader reads it as written, or says why not
    try:
        parsed = parse_release(release)
    except InputError:
        raise _Full from None
    return {
        "name": _name(h["name"]),
        "release": parsed,
        "organization": organization,
        "source": _source(h.get("source", "self-signed")),
        "key": _key(h["key"]) if "key" in h else KeyType.ECDSA_P256,
        "key_default": "key" not in h,
        "validity_days": _days(h.get("validity_days")),
        "shared_ca": ca == "shared",
    }


def _check_unique(identities: tuple[IdentitySpec, ...]) -> None:
    """Every name, address and hostname once (else the full loader says which)."""
    names: set[str] = set()
    ips: set[IPAddress] = set()
    hosts: set[str] = set()
    for ident in identities:
        for n in (ident.name, *(m.name for m in ident.members if ident.ha)):
            if n.casefold() in names:  # compared without letter case, as the full loader
                raise _Full
            names.add(n.casefold())
        for host in (ident.virtual_hostname, *(m.hostname for m in ident.members)):
            if host is not None:
                if host in hosts:
                    raise _Full
                hosts.add(host)
        for ip in (ident.service_ip, *(ip for m in ident.members for ip in m.ips)):
            if ip is not None:
                if ip in ips:
                    raise _Full
                ips.add(ip)


def _fast(text: str) -> Deployment:
    """The deployment of ``text``; raises :class:`_Full` for anything not plain."""
    import tomllib

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        raise _Full from None
    if not _TOP_KEYS.issuperset(raw) or "deployment" not in raw or "cam" not in raw:
        raise _Full
    header = _header(raw["deployment"])
    cas_raw = raw.get("cas", [])
    if type(cas_raw) is not list:
        raise _Full
    cam = _unit(Role.CAM, raw["cam"], header)
    cas = tuple(_unit(Role.CAS, u, header) for u in cas_raw)
    _check_unique((cam, *cas))
    return Deployment(
        name=header["name"],
        release=header["release"],
        cam=cam,
        cas=cas,
        organization=header["organization"],
        source_text=text,
        shared_ca=header["shared_ca"],
    )


def parse_deployment(text: str, path: str = "<deployment>") -> Deployment:
    """Parse deployment TOML text: what :func:`ccapki.topology.loader.parse_deployment`
    returns. Raises :class:`~ccapki.errors.DeploymentError` naming FILE:LINE."""
    text = text.removeprefix("\ufeff")  # a byte-order mark (Notepad's "UTF-8 with BOM")
    try:
        # tens of thousands of lasting objects and no cycle: the collector paused, a large
        # estate's file is not rescanned over and over
        with gc_paused():
            return _fast(text)
    except _Full:
        from ccapki.topology import loader

        return loader.parse_deployment(text, path)


def load_deployment(path: str | Path) -> Deployment:
    """Read and parse a deployment file: what :func:`ccapki.topology.loader.load_deployment`
    returns. Raises :class:`~ccapki.errors.InputError` for a file that cannot be read and
    :class:`~ccapki.errors.DeploymentError` naming FILE:LINE."""
    from ccapki.fsutil import read_input_file

    data = read_input_file(path, limit=4 * 1024 * 1024)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        from ccapki.topology import loader

        raise loader.not_utf8(str(path), data) from None
    return parse_deployment(text, str(path))
