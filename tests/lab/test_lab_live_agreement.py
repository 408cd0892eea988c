"""Probing every channel of a lab from outside agrees with the lab's own links."""

from __future__ import annotations

import datetime as dt

import pytest

from ccapki.lab import Lab, LabSpec, live_targets
from ccapki.probe import probe_many
from kit.certs import NOW, issue, make_ca
from kit.lab import Deployment, run, with_appliance

#: makes no store (the handshakes are its subject): the PostgreSQL run leaves it out
pytestmark = pytest.mark.no_store


def _scenarios(d: Deployment) -> dict[str, tuple[LabSpec, set[str]]]:
    """name -> (spec, HTTPS endpoints a client trusting the campus root must refuse)."""
    good = d.spec()
    names = ("cas-ha1.example.edu", "cas1a.example.edu", "cas1b.example.edu")
    expired = issue(d.ca, "cas2.example.edu", now=NOW - dt.timedelta(days=400), days=90)
    other_key = issue(d.ca, names[0], names)
    public = make_ca("Example Public Trust")
    https = {"agent", "web-login", "gui"}
    return {
        "healthy": (good, set()),
        "expired": (
            with_appliance(good, "cas2", identity=expired.material(d.trust)),
            {f"{k}:cas2" for k in https},
        ),
        "root removed": (
            with_appliance(good, "cas2", identity=d.cas2.material(make_ca("Unrelated").root_pem)),
            set(),
        ),
        "secondary other key": (
            with_appliance(good, "cas1b", identity=other_key.material(d.trust)),
            set(),
        ),
        "cam third-party": (
            with_appliance(
                good, "cam", identity=issue(public, "cam.example.edu").material(d.trust)
            ),
            {"gui:cam"},
        ),
    }


@pytest.mark.parametrize(
    "scenario", ["healthy", "expired", "root removed", "secondary other key", "cam third-party"]
)
def test_live_probes_agree_with_lab_links(deployment: Deployment, scenario: str) -> None:
    spec, https_refused = _scenarios(deployment)[scenario]

    async def go() -> tuple[set[str], set[str], set[str]]:
        async with Lab(spec) as lab:
            st = lab.status()
            targets = live_targets(spec, st, client_trust_pem=deployment.trust, timeout=3)
            results = await probe_many(targets)
        failed = {r.target.label for r in results if not r.ok}
        links = {x.name for x in st.links}
        return st.broken_links(), failed & links, failed - links

    lab_broken, probe_broken_links, probe_broken_https = run(go())
    assert probe_broken_links == lab_broken
    assert probe_broken_https == https_refused
    if scenario == "healthy":
        assert not lab_broken
