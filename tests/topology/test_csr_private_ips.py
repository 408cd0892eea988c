""":func:`csr_private_ips_warning`: the one line `ccapki csr`, `ccapki renew --commit` and
the service's CSR route say of a third-party CSR naming a private or reserved address (a
public CA refuses it); nothing for a public address, an internal or ACME identity, or an
identity whose file sets ``san_ips = false``."""

from __future__ import annotations

from ccapki.topology.loader import parse_deployment
from ccapki.topology.plan import csr_private_ips_warning, private_ips_in_csr

FILE = """\
[deployment]
name = "ips"
release = "4.9.1"
organization = "Ips"
source = "third-party"
[cam]
name = "cam"
hostname = "cam.ips.edu"
ip = "192.0.2.1"
source = "internal"
[[cas]]
name = "cas-private"
hostname = "cas-private.ips.edu"
ip = ["10.1.0.1", "100.64.0.9", "8.8.8.8"]
[[cas]]
name = "cas-public"
hostname = "cas-public.ips.edu"
ip = "8.8.4.4"
[[cas]]
name = "cas-left-out"
hostname = "cas-left-out.ips.edu"
ip = "10.2.0.1"
san_ips = false
[[cas]]
name = "cas-v6"
hostname = "cas-v6.ips.edu"
ip = "fd00::7"
"""


def test_only_third_party_csrs_naming_non_global_addresses_are_warned_of() -> None:
    dep = parse_deployment(FILE, "ips.toml")
    got = {s.name: private_ips_in_csr(s) for s in dep.identities}
    assert got == {
        "cam": [],  # internal: no CSR to a CA
        "cas-private": ["10.1.0.1", "100.64.0.9"],  # RFC 1918 and CGNAT, not 8.8.8.8
        "cas-public": [],
        "cas-left-out": [],  # san_ips = false: no address in its names at all
        "cas-v6": ["fd00::7"],  # a unique local address
    }
    one = csr_private_ips_warning([dep.identity("cas-v6")])
    assert one.startswith(
        "the CSR of cas-v6 names a private or reserved IP address (fd00::7), which a public "
        "CA refuses"
    ), one
    assert "set san_ips = false (on cas-v6, or in [deployment])" in one
    both = csr_private_ips_warning(list(dep.identities))
    assert both.startswith(
        "the CSRs of 2 identities (cas-private, cas-v6) name private or reserved IP addresses "
        "(10.1.0.1, 100.64.0.9, fd00::7)"
    ), both
    assert csr_private_ips_warning([dep.identity("cas-public"), dep.cam]) == ""
