"""Deployment files of appliances known by their IP address alone: a standalone appliance
gives ``ip`` without ``hostname``, an HA pair ``service_ip`` without ``virtual_hostname``
(each peer ``ip``, its ``hostname`` when it has one). Both loaders read them alike (the
fast path itself); the identity's CN is the address, which is in the SAN's IP addresses,
and no DNS name is made up. What cannot be planned is one ``error:`` line and a hint."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from ccapki.errors import DeploymentError
from ccapki.pki.request import IdentityRequest
from ccapki.topology import fastload, loader
from ccapki.topology.plan import csr_differences, make_plan
from kit.cli import CliRunner, deployment, error_with_hint, line_of, write

from .test_fastload import check

#: a CAM by its hostname, a CAS by its address, an HA pair by its addresses (one peer with a
#: hostname of its own)
TEXT = """
[deployment]
name = "bare"
release = "4.9.0"
organization = "Bare Org"
source = "internal"

[cam]
name = "cam"
hostname = "cam.example.org"
ip = "10.0.0.1"

[[cas]]
name = "s2"
ip = ["10.4.0.10", "2001:db8::10"]

[[cas]]
name = "pair"
service_ip = "10.6.0.10"
primary = { name = "pair-a", ip = "10.6.0.11" }
secondary = { name = "pair-b", hostname = "pair-b.example.org", ip = "10.6.0.12" }
"""

ip = ipaddress.ip_address


def test_both_loaders_read_appliances_known_by_their_address() -> None:
    assert check(TEXT)  # the fast path builds it, exactly as the full loader does
    dep = loader.parse_deployment(TEXT)
    s2 = dep.identity("s2")
    assert s2.primary.hostname is None
    assert s2.primary.host == "10.4.0.10"
    assert s2.common_name == "10.4.0.10"
    assert s2.dns_names == ()
    assert s2.ip_addresses == (ip("10.4.0.10"), ip("2001:db8::10"))
    pair = dep.identity("pair")
    assert pair.virtual_hostname is None
    assert pair.common_name == "10.6.0.10"  # the Service IP: what the pair shares
    assert pair.dns_names == ("pair-b.example.org",)
    assert pair.ip_addresses == (ip("10.6.0.10"), ip("10.6.0.11"), ip("10.6.0.12"))
    assert [m.host for m in pair.members] == ["10.6.0.11", "pair-b.example.org"]
    # a hostname given: as before
    assert dep.cam.common_name == "cam.example.org"
    assert dep.cam.dns_names == ("cam.example.org",)


def test_the_plan_names_the_address_in_the_cn_and_the_san() -> None:
    plan = make_plan(loader.parse_deployment(TEXT))
    assert plan.certificates_needed == 3
    s2 = plan.get("s2").to_json()
    assert (s2["subject"], s2["common_name"], s2["san_dns"], s2["san_ip"]) == (
        "CN=10.4.0.10,O=Bare Org",
        "10.4.0.10",
        [],
        ["10.4.0.10", "2001:db8::10"],
    )
    san = plan.get("s2").request.san
    assert [str(n.value) for n in san] == ["10.4.0.10", "2001:db8::10"]
    assert plan.get("pair-a").to_json()["common_name"] == "10.6.0.10"


def test_a_csr_for_the_address_differs_in_nothing() -> None:
    from ccapki.pki.issue import build_csr
    from ccapki.pki.keys import generate_key
    from ccapki.pki.keytypes import KeyType

    plan = make_plan(loader.parse_deployment(TEXT))
    spec = plan.get("s2").spec
    csr = build_csr(plan.get("s2").request, generate_key(KeyType.ECDSA_P256))
    assert csr_differences(spec, csr) == []


def test_an_address_cn_without_its_san_entry_is_never_built() -> None:
    """Chromium matches an address against the SAN's iPAddress entries alone."""
    with pytest.raises(ValueError, match="IP address the subjectAltName does not list"):
        IdentityRequest("10.4.0.10")
    with pytest.raises(ValueError, match="does not list"):
        IdentityRequest("10.4.0.10", ip_addresses=(ip("10.4.0.11"),))
    assert IdentityRequest("10.4.0.10", ip_addresses=(ip("10.4.0.10"),)).common_name_ip == ip(
        "10.4.0.10"
    )
    assert IdentityRequest("cas.example.org").common_name_ip is None


@pytest.mark.parametrize(
    ("body", "needle", "words", "hint"),
    [
        (
            'name = "s2"\nsource = "internal"\n',
            "[[cas]]",
            "cas[0]: 's2' has neither hostname nor ip",
            'add ip = "..." (the address it answers on; and hostname = "..." when it has '
            "a DNS name, or primary/secondary tables for an HA pair)",
        ),
        (
            'name = "s2"\nhostname = "s2.example.org"\n',
            "[[cas]]",
            "cas[0]: 's2' has no ip",
            'add ip = "..." (the address it answers on, or primary/secondary tables for an '
            "HA pair)",
        ),
        (
            'name = "pair"\nvirtual_hostname = "pair.example.org"\n'
            'primary = { name = "pair-a", ip = "10.6.0.11" }\n'
            'secondary = { name = "pair-b", ip = "10.6.0.12" }\n',
            "[[cas]]",
            "HA pair 'pair' has no service_ip",
            'add service_ip = "..." : the Service IP the pair shares (and virtual_hostname = '
            "..., its DNS name, when it has one)",
        ),
        (
            'name = "pair"\nservice_ip = "10.6.0.10"\n'
            'primary = { name = "pair-a", hostname = "pair-a.example.org" }\n'
            'secondary = { name = "pair-b", ip = "10.6.0.12" }\n',
            "primary = {",
            "cas[0].primary.ip is missing",
            "add ip = ... to cas[0].primary",
        ),
    ],
)
def test_an_appliance_it_cannot_name_is_one_error_and_a_hint(
    cli: CliRunner, tmp_path: Path, body: str, needle: str, words: str, hint: str
) -> None:
    text = deployment(cas=[body])
    path = write(tmp_path / "d.toml", text)
    r = error_with_hint(cli("plan", str(path), home_dir=None))
    assert r.out == ""
    assert r.err.splitlines() == [
        f"error: {path}:{line_of(text, needle)}: {words}",
        f"hint: {hint}",
    ]
    check(text)  # the fast path hands it to the full loader: the same error


def test_acme_for_an_appliance_known_by_its_address_is_refused_at_load() -> None:
    """ACME DNS-01 proves DNS names: an order for an address alone cannot be made."""
    text = (
        deployment(cas=['name = "s2"\nip = "10.4.0.10"\nsource = "acme"\n'])
        + '\n[acme]\ndirectory = "https://127.0.0.1:9/directory"\nemail = "pki@example.org"\n'
        'dns = "hook"\nhook = "/usr/local/bin/acme-dns-hook"\n'
    )
    with pytest.raises(DeploymentError) as exc:
        fastload.parse_deployment(text, "d.toml")
    err = exc.value
    assert err.line == line_of(text, 'source = "acme"')
    assert err.message == (
        f"d.toml:{err.line}: cas[0]: 's2' has source = \"acme\" and no hostname: ACME DNS-01 "
        "proves DNS names, never an IP address"
    )
    assert err.hint.startswith('give s2 a hostname = "..."')
