"""Client platform policies: which clients refuse a certificate outright."""

from __future__ import annotations

import datetime as dt

import pytest

from ccapki.errors import InputError
from ccapki.pki.issue import IdentityRequest, Issuer, issue_identity, make_root_ca
from ccapki.pki.keys import KeyType, generate_key
from ccapki.trust import (
    PLATFORMS,
    Code,
    MaxValidity,
    Policy,
    PolicyRule,
    client_findings,
    client_refusals,
)
from kit.certs import CLIENT_AUTH, rsa_key
from kit.der import resign_sha1

from .conftest import NOW, mint

ALL = ("windows", "macos", "ios", "chrome", "firefox", "agent")


def test_platforms_named() -> None:
    assert set(ALL) <= set(PLATFORMS)


def test_cca_48_five_year_self_signed_refused_by_apple_only() -> None:
    """The example to get right: the 4.8 temporary certificate on macOS/iOS."""
    key = generate_key(KeyType.ECDSA_P256)
    temp = issue_identity(
        IdentityRequest("cas-dorm.example.edu", ("cas-dorm.example.edu",)),
        key.public_key(),
        now=NOW,
        days=5 * 365,
        self_key=key,
    )
    refusals = client_refusals(temp, ALL, NOW, publicly_trusted=False)
    for apple in ("macos", "ios"):
        (f,) = refusals[apple]
        assert f.code == Code.VALIDITY_TOO_LONG
        assert "825 days" in f.reason
        assert "HT210176" in f.reason
        assert f.fix.startswith("re-issue cas-dorm.example.edu valid for at most 824 days")
        assert "set validity_days = 824 or less for this identity in the deployment file" in f.fix
        assert f.severity == "error"
    for other in ("windows", "chrome", "firefox", "agent"):
        assert refusals[other] == [], other


def test_397_day_internal_ca_cert_accepted_everywhere() -> None:
    root_key = generate_key(KeyType.ECDSA_P256)
    root = make_root_ca("Campus Root CA", root_key, now=NOW, days=3650)
    key = generate_key(KeyType.ECDSA_P256)
    cert = issue_identity(
        IdentityRequest("cas-dorm.example.edu", ("cas-dorm.example.edu",)),
        key.public_key(),
        now=NOW,
        days=397,
        issuer=Issuer(root, root_key),
    )
    for public in (False, True):
        findings = client_findings(cert, None, NOW, publicly_trusted=public)
        assert set(findings) == set(PLATFORMS)
        assert all(v == [] for v in findings.values()), findings


def test_398_day_cap_applies_only_to_publicly_trusted() -> None:
    cert = mint("cas1.example.com", days=500).cert
    private = client_refusals(cert, ALL, NOW, publicly_trusted=False)
    assert all(v == [] for v in private.values())
    public = client_refusals(cert, ALL, NOW, publicly_trusted=True)
    for name in ("macos", "ios", "chrome"):
        assert [f.code for f in public[name]] == [Code.VALIDITY_TOO_LONG], name
        assert "398 days" in public[name][0].reason
    assert public["windows"] == []
    windows = client_findings(cert, ["windows"], NOW, publicly_trusted=True)["windows"]
    assert [(f.code, f.severity) for f in windows] == [(Code.VALIDITY_TOO_LONG, "warning")]


def test_cn_only_refused_by_chrome_and_apple_warned_by_windows() -> None:
    cert = mint("cas1.example.com", san=None).cert
    refusals = client_refusals(cert, ALL, NOW, publicly_trusted=False)
    for name in ("chrome", "macos", "ios"):
        assert [f.code for f in refusals[name]] == [Code.MISSING_SAN], name
    assert "Chrome 58" in refusals["chrome"][0].reason
    assert refusals["windows"] == []
    windows = client_findings(cert, ["windows"], NOW, publicly_trusted=False)["windows"]
    assert [(f.code, f.severity) for f in windows] == [(Code.MISSING_SAN, "warning")]


def test_eku_without_server_auth_refused_everywhere() -> None:
    cert = mint("cas1.example.com", eku=[CLIENT_AUTH]).cert
    refusals = client_refusals(cert, ALL, NOW, publicly_trusted=False)
    for name in ALL:
        assert [f.code for f in refusals[name]] == [Code.WRONG_EKU], name


def test_missing_eku_refused_by_apple_only() -> None:
    cert = mint("cas1.example.com", eku=None).cert
    refusals = client_refusals(cert, ALL, NOW, publicly_trusted=False)
    assert [f.code for f in refusals["macos"]] == [Code.WRONG_EKU]
    assert "HT210176" in refusals["ios"][0].reason
    assert refusals["chrome"] == refusals["windows"] == []


def test_sha1_refused_by_chrome_and_apple() -> None:
    cert = resign_sha1(mint("cas1.example.com", key=rsa_key(2048)).cert, rsa_key(2048))
    refusals = client_refusals(cert, ALL, NOW, publicly_trusted=False)
    for name in ("chrome", "macos", "ios"):
        assert [f.code for f in refusals[name]] == [Code.WEAK_SIGNATURE], name
        assert refusals[name][0].fix == "re-issue cas1.example.com with a SHA-256 signature"
    assert refusals["windows"] == []  # private root: a warning only
    assert client_refusals(cert, ["windows"], NOW, publicly_trusted=True)["windows"]


def test_rsa_1024_refused_by_apple_warned_elsewhere() -> None:
    cert = mint("cas1.example.com", key=rsa_key(1024)).cert
    refusals = client_refusals(cert, ALL, NOW, publicly_trusted=False)
    assert [f.code for f in refusals["macos"]] == [Code.WEAK_KEY]
    assert "1024-bit" in refusals["macos"][0].reason
    assert refusals["chrome"] == []
    chrome = client_findings(cert, ["chrome"], NOW, publicly_trusted=False)["chrome"]
    assert [(f.code, f.severity) for f in chrome] == [(Code.WEAK_KEY, "warning")]


def test_expired_is_a_warning_not_a_refusal() -> None:
    cert = mint("cas1.example.com", days=30, start=NOW - dt.timedelta(days=60)).cert
    assert all(v == [] for v in client_refusals(cert, ALL, NOW, publicly_trusted=False).values())
    found = client_findings(cert, ["chrome"], NOW, publicly_trusted=False)["chrome"]
    assert [f.code for f in found] == [Code.EXPIRED]


def test_apple_rule_only_for_certificates_issued_after_july_2019() -> None:
    old = mint("cas1.example.com", days=5 * 365, start=dt.datetime(2019, 6, 1, tzinfo=dt.UTC))
    assert client_refusals(old.cert, ["macos"], dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
                           publicly_trusted=False) == {"macos": []}  # fmt: skip


def test_custom_policy_object() -> None:
    short = MaxValidity(90, dt.datetime(2000, 1, 1, tzinfo=dt.UTC), "house rule")
    policy = Policy("lab", "Lab browsers", (PolicyRule(short, "refuse", "warn"),))
    cert = mint("cas1.example.com", days=397).cert
    (f,) = policy.evaluate(cert, NOW)
    assert f.severity == "warning"
    assert f.reason.startswith("Lab browsers: ")
    assert policy.refusals(cert, NOW, publicly_trusted=True)[0].code == Code.VALIDITY_TOO_LONG


def test_unknown_platform_is_input_error() -> None:
    with pytest.raises(InputError) as err:
        client_refusals(mint("x").cert, ["netscape"], NOW, publicly_trusted=False)
    assert "macos" in err.value.hint
