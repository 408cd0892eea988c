"""The agent channel is judged for the Clean Access Agent on Windows and on a Mac (audit,
item 3): DESIGN.md names "Windows CryptoAPI / macOS Security" for it and the FAQ singles
Macs out. The Mac agent follows the macOS policy the browser cells use (Apple HT210176);
what the Windows agent refuses (or warns of) too is said once, as the agent's, so the cells
where the two agree read as before."""

from __future__ import annotations

from ccapki.pki.issue import IdentityRequest, issue_identity
from ccapki.pki.keys import KeyType, generate_key
from ccapki.trust import PLATFORMS, Code, client_findings, client_refusals
from ccapki.trust._policy import CHANNEL_PLATFORMS
from kit.certs import CLIENT_AUTH

from .conftest import NOW, mint

AGENT = CHANNEL_PLATFORMS["agent"]


def test_the_agent_channel_is_judged_on_windows_and_on_a_mac() -> None:
    assert AGENT == ("agent", "agent-macos")
    mac = PLATFORMS["agent-macos"]
    assert "macOS" in mac.title
    # the very rules of the macOS browser platform
    assert [e.rule for e in mac.rules] == [e.rule for e in PLATFORMS["macos"].rules]
    assert [(e.public, e.private) for e in mac.rules] == [
        (e.public, e.private) for e in PLATFORMS["macos"].rules
    ]


def test_a_five_year_certificate_is_refused_by_the_mac_agent_only() -> None:
    key = generate_key(KeyType.ECDSA_P256)
    temp = issue_identity(
        IdentityRequest("cas-dorm.example.edu", ("cas-dorm.example.edu",)),
        key.public_key(),
        now=NOW,
        days=5 * 365 + 1,
        self_key=key,
    )
    refusals = client_refusals(temp, AGENT, NOW, publicly_trusted=False)
    assert refusals["agent"] == []
    (f,) = refusals["agent-macos"]
    assert (f.code, f.severity) == (Code.VALIDITY_TOO_LONG, "error")
    assert f.reason.startswith("Clean Access Agent on macOS 10.15+: ")
    assert "825 days" in f.reason
    # as the macOS browser cell says it
    (browser,) = client_refusals(temp, ("macos",), NOW, publicly_trusted=False)["macos"]
    assert browser.code == f.code
    assert browser.fix == f.fix


def test_what_both_agents_refuse_is_said_once_as_the_agents() -> None:
    client_only = mint("cas1.example.com", eku=[CLIENT_AUTH]).cert
    refusals = client_refusals(client_only, AGENT, NOW, publicly_trusted=False)
    assert [f.code for f in refusals["agent"]] == [Code.WRONG_EKU]
    assert refusals["agent-macos"] == []
    # judged alone, the Mac agent refuses it too
    alone = client_refusals(client_only, ("agent-macos",), NOW, publicly_trusted=False)
    assert [f.code for f in alone["agent-macos"]] == [Code.WRONG_EKU]


def test_what_the_windows_agent_only_warns_of_the_mac_agent_refuses() -> None:
    no_san = mint("cas1.example.com", san=None).cert
    found = client_findings(no_san, AGENT, NOW, publicly_trusted=False)
    assert [(f.code, f.severity) for f in found["agent"]] == [(Code.MISSING_SAN, "warning")]
    assert [(f.code, f.severity) for f in found["agent-macos"]] == [(Code.MISSING_SAN, "error")]
    refusals = client_refusals(no_san, AGENT, NOW, publicly_trusted=False)
    assert refusals["agent"] == []
    assert [f.code for f in refusals["agent-macos"]] == [Code.MISSING_SAN]


def test_a_warning_both_give_is_the_agents() -> None:
    expired = mint("cas1.example.com", start=NOW.replace(year=NOW.year - 2)).cert
    found = client_findings(expired, AGENT, NOW, publicly_trusted=False)
    assert [(f.code, f.severity) for f in found["agent"]] == [(Code.EXPIRED, "warning")]
    assert found["agent-macos"] == []
