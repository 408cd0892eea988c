"""Walkthrough Q: appliance and HA pair names differing only in letter case ("CAS-RES"
beside "cas-res") were two identities: two CSR files ``CAS-RES.csr`` and ``cas-res.csr``
(one file on a case-insensitive disk), and a name that means another identity when typed
in the other case. They are now duplicate names, as hostnames (compared without case)
already were; and an address listed twice in one appliance's ``ip`` says so."""

from __future__ import annotations

import pytest

from ccapki.errors import DeploymentError
from ccapki.topology import fastload, loader
from kit.cli import deployment, ha_pair, standalone

LOADERS = [loader.parse_deployment, fastload.parse_deployment]


def _solo(name: str) -> str:
    """A standalone CAS named ``name`` with a hostname and IP of its own."""
    return f'name = "{name}"\nhostname = "lib.example.org"\nip = "10.0.3.10"\n'


@pytest.mark.parametrize("parse", LOADERS, ids=["full", "fast"])
def test_names_differing_only_in_case_are_duplicates(parse: object) -> None:
    text = deployment(cas=[ha_pair("cas-res", "10.0.2"), _solo("CAS-RES")])
    with pytest.raises(DeploymentError) as err:
        parse(text, "d.toml")  # type: ignore[operator]
    assert "duplicate name 'CAS-RES'" in err.value.message
    assert "the HA pair cas-res" in err.value.message
    assert "letter case" in err.value.message
    assert err.value.hint


@pytest.mark.parametrize("parse", LOADERS, ids=["full", "fast"])
def test_peer_name_in_other_case_is_a_duplicate(parse: object) -> None:
    text = deployment(cas=[ha_pair("cas-res", "10.0.2"), _solo("Cas-Res-A")])
    with pytest.raises(DeploymentError, match="duplicate name 'Cas-Res-A'"):
        parse(text, "d.toml")  # type: ignore[operator]


@pytest.mark.parametrize("parse", LOADERS, ids=["full", "fast"])
def test_an_address_listed_twice_in_one_appliance(parse: object) -> None:
    text = deployment(cas=[standalone("cas-lib", "10.0.3.10")]).replace(
        'ip = "10.0.3.10"', 'ip = ["10.0.3.10", "10.0.3.10"]'
    )
    with pytest.raises(DeploymentError) as err:
        parse(text, "d.toml")  # type: ignore[operator]
    assert "10.0.3.10 is listed twice in the ip of cas-lib" in err.value.message
    assert "once" in err.value.hint


def test_distinct_names_still_load() -> None:
    text = deployment(cas=[ha_pair("cas-res", "10.0.2"), standalone("cas-lib", "10.0.3.10")])
    assert [i.name for i in loader.parse_deployment(text, "d.toml").identities] == [
        "cam",
        "cas-res",
        "cas-lib",
    ]
