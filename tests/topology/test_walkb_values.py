"""Walkthrough B: deployment-file values a new administrator gets wrong.

- an IPv6 address with a zone index (``fe80::1%eth0``) was taken: the certificate holds the
  address alone, so the file never matched it again and every ``apply`` reissued;
- a hostname refused said only "not a valid hostname" / "fix the value of cam.hostname":
  now it says why (an IP address, non-ASCII with its xn-- form, a wildcard, '_') and how
  one is written;
- ``[cas]`` in single brackets gave pydantic's "Input should be a valid list"; ``[[cam]]``
  in double brackets said "is a list, not a table", with no line;
- a missing ``[deployment]`` or ``[cam]`` table said "add deployment = ... to the file";
- ``ip = "0.0.0.0"`` (or ``::``, a multicast or the broadcast address) went into the
  certificate's SANs: no appliance has such an address.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ccapki.errors import InputError
from ccapki.topology import fastload, loader
from kit.cli import CliRunner, error_with_hint, line_of, write

from .test_value_types import BASE  # the same small deployment file


@pytest.mark.parametrize(
    ("old", "new", "where", "plain"),
    [
        ('ip = "10.1.0.10"', 'ip = ["10.1.0.10", "fe80::1%eth0"]', "cas[0].ip", "fe80::1"),
        ('service_ip = "10.0.0.10"', 'service_ip = "fe80::a%2"', "cam.service_ip", "fe80::a"),
        ('ip = "10.0.0.11" }', 'ip = "fe80::b%eth1" }', "cam.primary.ip", "fe80::b"),
    ],
)
def test_an_ipv6_zone_index_is_refused_naming_the_address_to_write(
    cli: CliRunner, tmp_path: Path, old: str, new: str, where: str, plain: str
) -> None:
    text = BASE.replace(old, new, 1)
    path = write(tmp_path / "d.toml", text)
    r = error_with_hint(cli("plan", str(path)))
    first = r.err.splitlines()[0]
    assert first.startswith(f"error: {path}:{line_of(text, new)}: {where}: "), first
    assert "zone index" in first, first
    assert f"write {plain!r}" in first, first
    # both loaders refuse it (the fast path hands it to the full loader)
    for parse in (fastload.parse_deployment, loader.parse_deployment):
        with pytest.raises(InputError):
            parse(text, str(path))


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (
            "10.1.0.10",
            "it is an IP address (put addresses in ip, the DNS name in hostname; an "
            "appliance known by its address alone leaves hostname out)",
        ),
        ("bücher.example.org", "write it in its xn-- form: 'xn--bcher-kva.example.org'"),
        ("*.example.org", "a wildcard names no one appliance"),
        ("cas_1.example.org", "'_' is not allowed in a hostname (use '-')"),
    ],
)
def test_a_refused_hostname_says_why_and_how_one_is_written(
    cli: CliRunner, tmp_path: Path, value: str, why: str
) -> None:
    new = f'hostname = "{value}"'
    text = BASE.replace('hostname = "cas1.example.org"', new, 1)
    path = write(tmp_path / "d.toml", text)
    r = error_with_hint(cli("plan", str(path)))
    first, hint = r.err.splitlines()[:2]
    assert first.startswith(
        f"error: {path}:{line_of(text, new)}: cas[0].hostname: {value!r} is not a valid hostname: "
    ), first
    assert why in first, first
    assert hint.startswith('hint: write it like hostname = "cas-dorm.example.edu" (a DNS'), hint
    assert "fix the value of" not in hint


def test_cas_in_single_brackets_says_to_write_double_brackets(
    cli: CliRunner, tmp_path: Path
) -> None:
    text = BASE.replace("[[cas]]", "[cas]", 1)
    path = write(tmp_path / "d.toml", text)
    r = error_with_hint(cli("plan", str(path)))
    first, hint = r.err.splitlines()[:2]
    assert first == (
        f"error: {path}:{line_of(text, '[cas]')}: cas: [cas] (single brackets) is one table, "
        "but the CAS are a list of tables"
    )
    assert hint == "hint: write [[cas]] (double brackets) above each CAS, as examples/faq.toml does"
    assert "Input should be" not in r.both


@pytest.mark.parametrize("table", ["cam", "deployment"])
def test_a_single_table_in_double_brackets_says_to_write_single_brackets(
    cli: CliRunner, tmp_path: Path, table: str
) -> None:
    """``[[cam]]`` said "cam: [{ ... }] is a list, not a table" with no line and the hint
    "make cam a table" (found in a walkthrough)."""
    text = BASE.replace(f"[{table}]", f"[[{table}]]", 1)
    assert f"[[{table}]]" in text
    _refused_by_both_loaders(
        cli,
        tmp_path,
        f"[{table}]",
        f"[[{table}]]",
        f"{table}: [[{table}]] (double brackets) makes a list of tables, but [{table}] is "
        "one table",
    )
    r = error_with_hint(cli("plan", str(tmp_path / "d.toml")))
    assert r.err.splitlines()[1] == (
        f"hint: write [{table}] (single brackets), once, as examples/faq.toml does"
    )


@pytest.mark.parametrize(
    ("text", "table"),
    [
        # an empty file is said to be empty (tests/topology/test_empty_file_and_mapped_ip.py)
        ('[cam]\nname = "c"\nhostname = "c.example.org"\nip = "10.0.0.1"\n', "deployment"),
        ('[deployment]\nname = "t"\nrelease = "4.8.0"\n', "cam"),
    ],
)
def test_a_missing_table_is_added_as_a_table_not_as_key_equals(
    cli: CliRunner, tmp_path: Path, text: str, table: str
) -> None:
    path = write(tmp_path / "d.toml", text)
    r = error_with_hint(cli("plan", str(path)))
    first, hint = r.err.splitlines()[:2]
    assert first == f"error: {path}:1: {table} is missing"
    assert hint.startswith(f"hint: add a [{table}] table to the file"), hint
    assert f"{table} = ..." not in hint


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ("0.0.0.0", "the unspecified address"),
        ("::", "the unspecified address"),
        ("224.0.0.5", "a multicast or broadcast address"),
        ("255.255.255.255", "a multicast or broadcast address"),
    ],
)
def test_an_address_no_appliance_has_is_refused(
    cli: CliRunner, tmp_path: Path, value: str, what: str
) -> None:
    new = f'ip = "{value}"'
    text = BASE.replace('ip = "10.1.0.10"', new, 1)
    path = write(tmp_path / "d.toml", text)
    r = error_with_hint(cli("plan", str(path)))
    assert r.err.splitlines()[0] == (
        f"error: {path}:{line_of(text, new)}: cas[0].ip: {value!r} is {what}: no appliance has "
        "it (give the address the appliance answers on)"
    )
    for parse in (fastload.parse_deployment, loader.parse_deployment):
        with pytest.raises(InputError):
            parse(text, str(path))


@pytest.mark.parametrize(
    ("old", "new", "where", "value"),
    [
        ('ip = "10.1.0.10"', 'ip = "127.0.0.1"', "cas[0].ip", "127.0.0.1"),
        ('ip = "10.1.0.10"', 'ip = ["10.1.0.10", "127.3.2.1"]', "cas[0].ip", "127.3.2.1"),
        ('ip = "10.1.0.10"', 'ip = "::1"', "cas[0].ip", "::1"),
        ('ip = "10.1.0.10"', 'ip = "::ffff:127.0.0.1"', "cas[0].ip", "::ffff:127.0.0.1"),
        ('service_ip = "10.0.0.10"', 'service_ip = "127.0.0.1"', "cam.service_ip", "127.0.0.1"),
        ('ip = "10.0.0.11" }', 'ip = "127.0.0.11" }', "cam.primary.ip", "127.0.0.11"),
    ],
)
def test_a_loopback_address_is_refused(
    cli: CliRunner, tmp_path: Path, old: str, new: str, where: str, value: str
) -> None:
    """127.0.0.0/8 and ::1 name the machine itself: a certificate naming one is reached by
    no client of the appliance (it went into the SANs before)."""
    _refused_by_both_loaders(
        cli,
        tmp_path,
        old,
        new,
        f"{where}: {value!r} is a loopback address: it names the machine itself, so no client "
        "reaches an appliance at it (give the address the appliance answers on)",
    )


@pytest.mark.parametrize(
    ("old", "new", "where", "value"),
    [
        ('hostname = "cas1.example.org"', 'hostname = "localhost"', "cas[0].hostname", "localhost"),
        (
            'hostname = "cas1.example.org"',
            'hostname = "CAS1.LocalHost."',
            "cas[0].hostname",
            "CAS1.LocalHost.",
        ),
        (
            'virtual_hostname = "cam.example.org"',
            'virtual_hostname = "localhost"',
            "cam.virtual_hostname",
            "localhost",
        ),
        (
            'hostname = "cam-1.example.org"',
            'hostname = "cam.localhost"',
            "cam.primary.hostname",
            "cam.localhost",
        ),
    ],
)
def test_localhost_as_an_appliance_s_name_is_refused(
    cli: CliRunner, tmp_path: Path, old: str, new: str, where: str, value: str
) -> None:
    """localhost and every name under it are the machine itself (RFC 6761): no appliance's
    certificate can be matched by them. A name that merely starts with it is a name."""
    _refused_by_both_loaders(
        cli,
        tmp_path,
        old,
        new,
        f"{where}: {value!r} names the machine itself (localhost, RFC 6761): no client reaches "
        "an appliance by it, and a certificate for it matches no appliance (give the "
        "appliance's own DNS name)",
    )
    fine = BASE.replace(old, new.replace(value, "localhost-2.example.org"), 1)
    for parse in (fastload.parse_deployment, loader.parse_deployment):
        parse(fine, "<fine>")


def _refused_by_both_loaders(cli: CliRunner, tmp_path: Path, old: str, new: str, said: str) -> None:
    """BASE with ``old`` replaced by ``new``: `plan` says ``error: FILE:LINE: said`` with a
    hint, and both loaders (the fast one and the full one) refuse it."""
    text = BASE.replace(old, new, 1)
    path = write(tmp_path / "d.toml", text)
    r = error_with_hint(cli("plan", str(path)))
    assert r.err.splitlines()[0] == f"error: {path}:{line_of(text, new)}: {said}"
    for parse in (fastload.parse_deployment, loader.parse_deployment):
        with pytest.raises(InputError):
            parse(text, str(path))
