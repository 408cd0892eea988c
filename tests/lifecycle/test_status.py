"""Issue 12, item 1: the estate's status. The pure part (stages, items from plain facts and
``now``) and :func:`estate_status` on real stores: the FAQ deployment applied, custom
warn_days, 4.7.2's three-month temporary certificates, a third-party identity's pending CSR,
trust-store roots, probe results, several deployments."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from ccapki.errors import DeploymentError, NotFoundError
from ccapki.lifecycle.notify import expiry_notices
from ccapki.lifecycle.status import (
    CaFact,
    CsrFact,
    DeploymentFacts,
    StatusItem,
    StatusReport,
    TrustFact,
    build_report,
    days_left,
    estate_status,
    read_settings,
    settings_of,
    stage_for,
)
from ccapki.store.identities import CurrentFact
from ccapki.store.records import ProbeRecord, ProbeVerdict
from ccapki.topology.loader import parse_deployment
from kit.certs import NOW, OutsideCA, key_pem, mint, pem, utcnow
from kit.cli import FAQ, Cli, ha_pair, ok, standalone, write

from .conftest import THIRD_PARTY_DEP, deployment, open_store

DAY = dt.timedelta(days=1)

# ---------------------------------------------------------------------------- pure part


@pytest.mark.parametrize(
    ("left", "stage"),
    [
        (400, "ok"),
        (61, "ok"),
        (60, "60"),
        (31, "60"),
        (30, "30"),
        (8, "30"),
        (7, "7"),
        (0, "7"),
        (-1, "expired"),
        (-400, "expired"),
    ],
)
def test_stage_is_the_tightest_warning_reached(left: int, stage: str) -> None:
    assert stage_for(left, (60, 30, 7)) == stage
    assert stage_for(left, [7, 60, 30]) == stage  # the order given does not matter


def test_custom_stages() -> None:
    assert [stage_for(d, (90, 14)) for d in (91, 90, 15, 14, 0, -1)] == [
        "ok",
        "90",
        "90",
        "14",
        "14",
        "expired",
    ]


def test_days_left_rounds_down_and_is_negative_once_expired() -> None:
    assert days_left(NOW + DAY - dt.timedelta(seconds=1), NOW) == 0
    assert days_left(NOW + dt.timedelta(hours=1), NOW) == 0
    assert days_left(NOW + 30 * DAY, NOW) == 30
    assert days_left(NOW - dt.timedelta(seconds=1), NOW) == -1


def _fact(name: str, days: float, source: str = "internal", version: int = 1) -> CurrentFact:
    fp = (name.encode().hex() + "0" * 64)[:64]
    return CurrentFact(name, version, fp, "spki-" + name, NOW + days * DAY, source)


def _probe(appliance: str, verdict: ProbeVerdict, leaf: str | None, **kw: object) -> ProbeRecord:
    return ProbeRecord(
        appliance,
        "control",
        "127.0.0.1:8443",
        NOW - dt.timedelta(minutes=30),  # a recent probe (an older one is outdated)
        verdict,
        leaf_sha256=leaf,
        since=NOW - 3 * DAY if leaf else None,
        **kw,  # type: ignore[arg-type]
    )


def _by_name(report: StatusReport, kind: str = "identity") -> dict[str, StatusItem]:
    return {i.name: i for i in report.items if i.kind == kind}


def test_items_by_days_left_with_stages_and_exit_codes() -> None:
    facts = DeploymentFacts(
        "campus",
        identities=(_fact("far", 200), _fact("soon", 20), _fact("gone", -2), _fact("mid", 45)),
        cas=(CaFact("Root", "internal-root", "ab" * 32, NOW + 3000 * DAY),),
        trust=(TrustFact("cam-a", "root CA Root", "ab" * 32, NOW + 3000 * DAY),),
        chain_fingerprints=frozenset({"ab" * 32}),
    )
    report = build_report([facts], NOW)
    assert [(i.kind, i.name, i.stage) for i in report.items] == [
        ("identity", "gone", "expired"),
        ("identity", "soon", "30"),
        ("identity", "mid", "60"),
        ("identity", "far", "ok"),
        ("ca", "Root", "ok"),
        ("trust-root", "cam-a: root CA Root", "ok"),
    ]
    assert [i.days_left for i in report.items[:4]] == [-2, 20, 45, 200]
    assert report.exit_code == 1
    assert report.nagios_code == 2  # expired
    assert report.summary() == "1 expired, 1 within 30 days, 1 within 60 days"
    line = report.nagios_line()
    assert line.startswith("CCAPKI CRITICAL - 1 expired, 1 within 30 days, 1 within 60 days | ")
    assert "expired=1 warning=2 " in line
    assert "min_days_left=-2" in line

    calm = build_report([DeploymentFacts("campus", identities=(_fact("far", 200),))], NOW)
    assert (calm.exit_code, calm.nagios_code) == (0, 0)
    assert calm.summary() == "1 certificate fine, none within 60 days"
    soon = build_report([DeploymentFacts("campus", identities=(_fact("soon", 5),))], NOW)
    assert (soon.exit_code, soon.nagios_code) == (1, 1)
    assert soon.nagios_line().startswith("CCAPKI WARNING - 1 within 7 days | ")


def test_a_pending_csr_says_when_the_certificate_it_replaces_is_due() -> None:
    csr = CsrFact("cas-tp", "cd" * 32, NOW - 2 * DAY)
    due = build_report([DeploymentFacts("d", identities=(_fact("cas-tp", 12),), csrs=(csr,))], NOW)
    item = _by_name(due, "csr")["cas-tp"]
    assert (item.stage, item.fingerprint, item.not_after, item.days_left) == (
        "pending",
        "cd" * 32,
        None,
        None,
    )
    assert not item.warning
    assert "pending while the current certificate is in the 30-day stage (12 days left)" in (
        item.note
    )
    # listed beside its identity
    assert [i.kind for i in due.items] == ["identity", "csr"]
    calm = build_report(
        [DeploymentFacts("d", identities=(_fact("cas-tp", 200),), csrs=(csr,))], NOW
    )
    assert "stays in use" in _by_name(calm, "csr")["cas-tp"].note
    assert calm.exit_code == 0  # a pending CSR alone is no warning
    late = build_report([DeploymentFacts("d", identities=(_fact("cas-tp", -3),), csrs=(csr,))], NOW)
    assert "pending while the current certificate expired 3 days ago" in (
        _by_name(late, "csr")["cas-tp"].note
    )
    alone = build_report([DeploymentFacts("d", csrs=(csr,))], NOW)
    assert "no certificate yet" in _by_name(alone, "csr")["cas-tp"].note
    assert alone.counts()["pending"] == 1


def test_temporary_certificates_and_the_three_month_ones() -> None:
    ids = (_fact("cam", 80, "self-signed"), _fact("cas", 80, "perfigo"), _fact("x", 80))
    adopted = frozenset({"cam", "cas", "x"})  # the appliances' own, imported
    short = build_report(
        [DeploymentFacts("d", release="4.7.2", temporary_days=90, identities=ids, adopted=adopted)],
        NOW,
    )
    items = _by_name(short)
    assert items["cam"].temporary
    assert items["cas"].temporary
    assert not items["x"].temporary
    assert items["cam"].note.startswith("TEMPORARY: CCA 4.7.2's self-signed install-time")
    assert "3 months" in items["cam"].note
    assert "Perfigo-signed" in items["cas"].note
    # a Perfigo-style certificate on 4.7.2 is not the release's 3-month one (that is
    # self-signed from 4.7): a walkthrough found it called so
    assert "3 months" not in items["cas"].note
    assert "before 4.7" in items["cas"].note
    assert short.counts()["temporary_3_months"] == 1
    assert "2 temporary (1 of them for 3 months)" in short.summary()
    long = build_report(
        [
            DeploymentFacts(
                "d", release="4.8.0", temporary_days=1826, identities=ids, adopted=adopted
            )
        ],
        NOW,
    )
    assert _by_name(long)["cam"].temporary
    assert "3 months" not in _by_name(long)["cam"].note
    assert long.counts()["temporary_3_months"] == 0


def test_what_is_served_and_wrong_certificates() -> None:
    cam, cas = _fact("cam", 200, version=2), _fact("cas", 200)
    probes = (
        _probe("cam-a", ProbeVerdict.EXPECTED, cam.fingerprint, identity="cam"),
        # judged "expected" before a renewal: now an older version (stale)
        _probe("cam-b", ProbeVerdict.EXPECTED, "ee" * 32, identity="cam", version=1),
        _probe("cas-1", ProbeVerdict.UNREACHABLE, None, reason="connection refused"),
        _probe("gone-appliance", ProbeVerdict.UNKNOWN, "ff" * 32),
    )
    facts = DeploymentFacts(
        "d", identities=(cam, cas), probes=probes, appliances={"cas-1": "cas", "cam-a": "cam"}
    )
    report = build_report([facts], NOW)
    items = _by_name(report)
    served = {s.appliance: s for s in items["cam"].served}
    assert served["cam-a"].verdict is ProbeVerdict.EXPECTED
    assert served["cam-a"].since == NOW - 3 * DAY
    assert served["cam-b"].verdict is ProbeVerdict.STALE
    assert "version 1" in served["cam-b"].reason
    assert "version 2" in served["cam-b"].reason
    assert items["cam"].wrong_served == (served["cam-b"],)
    (down,) = items["cas"].served  # by the deployment's appliance -> identity map
    assert down.verdict is ProbeVerdict.UNREACHABLE
    assert not down.wrong
    assert report.counts()["unreachable"] == 1
    assert report.counts()["wrong_served"] == 1
    assert (report.exit_code, report.nagios_code) == (1, 2)  # all valid, a wrong cert served
    assert "1 wrong certificate served" in report.summary()
    data = report.to_dict()
    cam_json = next(i for i in data["items"] if i["name"] == "cam")  # type: ignore[attr-defined]
    assert {s["verdict"] for s in cam_json["served"]} == {"expected", "stale"}


def test_an_unused_ca_warns_nobody() -> None:
    old = CaFact("Old CA", "internal-ca", "aa" * 32, NOW - 5 * DAY)
    facts = DeploymentFacts("d", cas=(old,), chain_fingerprints=frozenset({"bb" * 32}))
    report = build_report([facts], NOW)
    (item,) = report.items
    assert (item.stage, item.in_use, item.warning) == ("expired", False, False)
    assert "unused" in item.note
    assert (report.exit_code, report.nagios_code) == (0, 0)
    used = build_report(
        [DeploymentFacts("d", cas=(old,), chain_fingerprints=frozenset({"aa" * 32}))], NOW
    )
    assert (used.exit_code, used.nagios_code) == (1, 2)


# ---------------------------------------------------------------------------- on stores


@pytest.fixture
def faq(cli: Cli, home: Path) -> Path:
    ok(cli("init"))
    ok(cli("apply", FAQ))
    return home


def test_the_faq_deployment_at_each_stage(faq: Path) -> None:
    with open_store(faq) as store:
        report = estate_status(store, now=NOW)
        current = store.identities.current()
        trust = {a: store.trust.entries(a) for a in ("cam-a", "cas-clinic")}
    assert report.warn_days == {"faq-campus": (60, 30, 7)}
    assert report.releases == {"faq-campus": "4.8.0"}
    ids = _by_name(report)
    assert set(ids) == {"cam", "cas-dorm", "cas-library", "cas-guest", "cas-clinic", "cas-annex"}
    for name, item in ids.items():
        assert item.fingerprint == current[name].fingerprint
        assert item.not_after == current[name].not_after
        assert item.stage == "ok"
        assert not item.temporary
    cas = _by_name(report, "ca")
    assert {c.rsplit(" ", 2)[-2] for c in cas} == {"Appliance", "Root"}
    roots = _by_name(report, "trust-root")
    assert len(roots) == 10  # every appliance trusts the root
    label = trust["cam-a"][0].label
    assert f"cam-a: {label}" in roots
    assert roots[f"cam-a: {label}"].fingerprint == trust["cam-a"][0].fingerprint
    assert (report.exit_code, report.nagios_code) == (0, 0)

    not_after = ids["cam"].not_after
    assert not_after is not None
    for left, stage, code in ((45, "60", 1), (20, "30", 1), (3, "7", 1), (-1, "expired", 2)):
        with open_store(faq) as store:
            later = estate_status(store, now=not_after - left * DAY)
        assert {i.stage for i in _by_name(later).values()} == {stage}
        assert {i.days_left for i in _by_name(later).values()} == {left}
        assert later.exit_code == 1
        assert later.nagios_code == code


def test_custom_warn_days_from_the_deployment_file(
    deployed: Callable[[str], Path], home: Path
) -> None:
    text = deployment(cam=standalone("cam", "10.0.0.1"))
    deployed(text + "\n[monitoring]\nwarn_days = [14, 90]\n")
    with open_store(home) as store:
        report = estate_status(store, now=NOW)
        not_after = store.identities.get("cam").not_after  # type: ignore[union-attr]
        assert report.warn_days == {"wf": (90, 14)}
        at80 = estate_status(store, now=not_after - 80 * DAY)
        at10 = estate_status(store, now=not_after - 10 * DAY)
    assert _by_name(at80)["cam"].stage == "90"
    assert _by_name(at10)["cam"].stage == "14"
    assert at80.summary().startswith("1 within 90 days")


def test_temporary_certificates_of_a_472_self_signed_deployment(
    cli: Cli, deployed: Callable[[str], Path], home: Path, tmp_path: Path
) -> None:
    """Only an appliance's own install-time certificate, adopted, is temporary: the
    self-signed certificates ccapki issues from the file are its own, renewed by it."""
    deployed(
        deployment(
            release="4.7.2",
            source="self-signed",
            cam=ha_pair("cam", "10.0.0"),
            cas=[standalone("cas1", "10.1.0.1"), standalone("cas2", "10.2.0.1", source="internal")],
        )
    )
    with open_store(home) as store:
        report = estate_status(store, now=NOW)
    ids = _by_name(report)
    assert not ids["cam"].temporary
    assert not ids["cas1"].temporary
    assert not ids["cas2"].temporary
    assert ids["cas1"].note.startswith("true self-signed, issued by ccapki")
    assert "3 months" not in ids["cam"].note
    assert report.counts()["temporary"] == 0
    assert "temporary" not in report.summary()

    # cas1's own 3-month certificate, as the appliance made it at install: adopted
    host = "cas1.example.org"
    own = mint(host, san=[host, "10.1.0.1"], start=utcnow() - 5 * DAY, days=90)
    files = [
        write(tmp_path / "cas1.pem", pem(own.cert)),
        write(tmp_path / "cas1.key", key_pem(own.key)),
    ]
    ok(cli("import", *files))
    with open_store(home) as store:
        report = estate_status(store, now=NOW)
    ids = _by_name(report)
    assert ids["cas1"].temporary
    assert not ids["cam"].temporary
    assert "3 months" in ids["cas1"].note
    assert "CCA 4.7.2" in ids["cas1"].note
    assert ids["cas1"].days_left is not None
    assert 85 <= ids["cas1"].days_left <= 90
    assert "1 temporary (3 months)" in report.summary()
    assert report.counts()["temporary"] == 1


def test_a_pending_csr_of_a_third_party_identity(
    cli: Cli, deployed: Callable[[str], Path], home: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    from cryptography import x509

    deployed(THIRD_PARTY_DEP)
    ok(cli("csr", "cas-tp", "--out", tmp_path / "c1"))
    with open_store(home) as store:
        first = estate_status(store, now=NOW)
    (csr,) = [i for i in first.items if i.kind == "csr"]
    assert (csr.name, csr.stage) == ("cas-tp", "pending")
    assert "no certificate yet" in csr.note
    assert "cas-tp" not in _by_name(first)
    assert first.exit_code == 0

    # the CA answers; a renewal's CSR is then pending while that certificate runs out
    request = x509.load_pem_x509_csr((tmp_path / "c1" / "cas-tp.csr").read_bytes())
    cert = outside.sign_csr(request, days=365)
    chain = pem(outside.inter) + pem(outside.root)
    ok(cli("import", write(tmp_path / "ret" / "cas-tp.pem", pem(cert) + chain)))
    ok(cli("csr", "cas-tp", "--out", tmp_path / "c2"))
    renewal = x509.load_pem_x509_csr((tmp_path / "c2" / "cas-tp.csr").read_bytes())
    with open_store(home) as store:
        due = estate_status(store, now=cert.not_valid_after_utc - 20 * DAY)
    (csr,) = [i for i in due.items if i.kind == "csr"]
    from ccapki.pki.keys import public_key_fingerprint

    assert csr.fingerprint == public_key_fingerprint(renewal.public_key())
    assert _by_name(due)["cas-tp"].stage == "30"
    assert "pending while the current certificate is in the 30-day stage" in csr.note
    # the outside CA's root is in the CA list (external) and in use
    assert any(i.kind == "ca" and i.in_use for i in due.items)


def test_trust_roots_removed_are_gone(cli: Cli, faq: Path) -> None:
    with open_store(faq) as store:
        entry = store.trust.entries("cas-clinic")[0]
    ok(cli("trust", "remove", "cas-clinic", entry.fingerprint[:16]))
    with open_store(faq) as store:
        roots = _by_name(estate_status(store, now=NOW), "trust-root")
    assert len(roots) == 9
    assert not any(n.startswith("cas-clinic: ") for n in roots)


def test_probe_results_are_shown_as_served_since(faq: Path) -> None:
    with open_store(faq) as store:
        cur = store.identities.current()
        first = [
            ProbeRecord(
                "cam-a",
                "control",
                "127.0.0.2:8443",
                NOW - 2 * DAY,
                ProbeVerdict.EXPECTED,
                leaf_sha256=cur["cam"].fingerprint,
                identity="cam",
                version=1,
            ),
            ProbeRecord(
                "cas-dorm-b",
                "agent",
                "127.0.0.3:443",
                NOW - 2 * DAY,
                ProbeVerdict.EXPECTED,
                leaf_sha256=cur["cas-dorm"].fingerprint,
                identity="cas-dorm",
                version=1,
            ),
        ]
        store.probes.add(first)
        store.probes.add(
            [
                ProbeRecord(
                    "cam-a",
                    "control",
                    "127.0.0.2:8443",
                    NOW - DAY,
                    ProbeVerdict.EXPECTED,
                    leaf_sha256=cur["cam"].fingerprint,
                    identity="cam",
                    version=1,
                ),
                ProbeRecord(
                    "cas-dorm-b",
                    "agent",
                    "127.0.0.3:443",
                    NOW - DAY,
                    ProbeVerdict.UNKNOWN,
                    reason="a certificate the store does not know",
                    leaf_sha256="ab" * 32,
                    identity="cas-dorm",
                ),
            ]
        )
        report = estate_status(store, now=NOW)
    ids = _by_name(report)
    (cam,) = ids["cam"].served
    assert (cam.verdict, cam.at, cam.since) == (ProbeVerdict.EXPECTED, NOW - DAY, NOW - 2 * DAY)
    (dorm,) = ids["cas-dorm"].served
    assert (dorm.verdict, dorm.since) == (ProbeVerdict.UNKNOWN, NOW - DAY)
    assert ids["cas-guest"].served == ()
    assert (report.exit_code, report.nagios_code) == (1, 2)


def test_several_deployments_in_one_store(cli: Cli, faq: Path, tmp_path: Path) -> None:
    text = deployment(name="hospital", cam=standalone("cam", "10.9.0.1"))
    ok(cli("apply", write(tmp_path / "hospital.toml", text + "\n[monitoring]\nwarn_days = [45]\n")))
    with open_store(faq) as store:
        both = estate_status(store, now=NOW)
        one = estate_status(store, now=NOW, deployments=["hospital"])
        with pytest.raises(NotFoundError, match="no deployment 'nowhere'"):
            estate_status(store, now=NOW, deployments=["nowhere"])
    assert both.warn_days == {"faq-campus": (60, 30, 7), "hospital": (45,)}
    assert both.deployments == ("faq-campus", "hospital")
    # grouped per deployment, in that order
    deps = [i.deployment for i in both.items]
    assert deps == sorted(deps)
    assert {i.name for i in both.items if i.kind == "identity" and i.deployment == "hospital"} == {
        "cam"
    }
    assert {i.deployment for i in one.items} == {"hospital"}
    assert one.releases == {"hospital": "4.8.0"}


# ---------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "text",
    [
        FAQ.read_text(),
        deployment(release="4.7.2", source="self-signed", cam=ha_pair("cam", "10.0.0"))
        + "\n[monitoring]\nwarn_days = [10, 90, 45]\n",
        deployment(cam=standalone("cam", "10.0.0.1"), cas=[ha_pair("c", "10.2.0")]).replace(
            'name = "wf"', 'name = "wf"\nca = "shared"'
        ),
    ],
)
def test_settings_read_for_status_are_the_parsers(text: str) -> None:
    assert read_settings(text) == settings_of(parse_deployment(text))


def test_settings_of_a_file_that_no_longer_parses_name_the_line() -> None:
    text = deployment(cam=standalone("cam", "10.0.0.1")) + "\n[monitoring]\nwarn_days = [0]\n"
    with pytest.raises(DeploymentError, match="warn_days"):
        read_settings(text, "kept.toml")


def test_an_outdated_probe_is_shown_but_judges_nothing() -> None:
    """A walkthrough found `status --nagios` CRITICAL for weeks from a probe long gone."""
    cam = _fact("cam", 200, version=2)
    old = ProbeRecord(
        "cam-a", "gui", "127.0.0.1:8443", NOW - 9 * DAY, ProbeVerdict.UNKNOWN, leaf_sha256="ff" * 32
    )
    facts = DeploymentFacts("d", identities=(cam,), probes=(old,), appliances={"cam-a": "cam"})
    report = build_report([facts], NOW)
    (served,) = _by_name(report)["cam"].served
    assert served.outdated
    assert not served.wrong
    assert "last probed 9 days ago" in served.reason
    assert (report.exit_code, report.nagios_code) == (0, 0)
    fresh = DeploymentFacts(
        "d",
        identities=(cam,),
        probes=(old,),
        appliances={"cam-a": "cam"},
        probe_interval=5 * 86400,
    )
    assert build_report([fresh], NOW).nagios_code == 2  # within twice its interval: judged


def test_an_identity_without_certificate_is_missing_not_hidden() -> None:
    """A third-party identity with no certificate and no CSR was not shown at all."""
    facts = DeploymentFacts(
        "d",
        identities=(_fact("cam", 200),),
        planned={"cam": "internal", "cas-pub": "third-party", "cas-2": "internal"},
        csrs=(CsrFact("cas-2", "spki-x", NOW - DAY),),
    )
    report = build_report([facts], NOW)
    items = _by_name(report)
    assert items["cas-pub"].stage == "missing"
    assert "`ccapki csr cas-pub`" in items["cas-pub"].note
    assert "cas-2" not in items  # its CSR's row says it waits for the CA
    assert [i.stage for i in report.items if i.kind == "csr"] == ["pending"]
    assert report.counts()["missing"] == 1
    assert "1 identity without a certificate" in report.summary()
    assert (report.exit_code, report.nagios_code) == (1, 1)
    # in JSON it has no fingerprint (null, not the word "none"), in both writers
    assert items["cas-pub"].to_dict()["fingerprint"] is None
    assert json.loads(items["cas-pub"].to_json())["fingerprint"] is None


def test_two_versions_of_one_trust_root_are_told_apart() -> None:
    same = "the CAM cam's certificate (true self-signed)"
    trust = (
        TrustFact("cam-a", same, "aa" * 32, NOW + 10 * DAY),
        TrustFact("cam-a", same, "bb" * 32, NOW + 400 * DAY),
        TrustFact("cam-b", same, "aa" * 32, NOW + 10 * DAY),
    )
    report = build_report([DeploymentFacts("d", trust=trust)], NOW)
    names = [i.name for i in report.items if i.kind == "trust-root"]
    assert len(set(names)) == 3
    assert any("sha256 aaaaaaaaaaaa" in n for n in names)
    assert "cam-b: " + same in names  # unambiguous on cam-b: the plain label


def test_a_renewal_csr_on_the_same_key_is_shown_pending(
    cli: Cli, deployed: Callable[[str], Path], home: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    """With [renewal] key = "keep" the renewal's CSR has the active key, no pending one:
    status showed nothing while renew knew a CSR awaited the CA."""
    from cryptography import x509

    deployed(THIRD_PARTY_DEP + '\n[renewal]\nkey = "keep"\n')
    ok(cli("csr", "cas-tp", "--out", tmp_path / "c1"))
    request = x509.load_pem_x509_csr((tmp_path / "c1" / "cas-tp.csr").read_bytes())
    cert = outside.sign_csr(request, days=365)
    chain = pem(outside.inter) + pem(outside.root)
    ok(cli("import", write(tmp_path / "ret" / "cas-tp.pem", pem(cert) + chain)))
    with open_store(home) as store:
        assert not [i for i in estate_status(store, now=NOW).items if i.kind == "csr"]
    later = NOW + DAY  # the renewal, a day after the import
    ok(cli("renew", "cas-tp", "--commit", "--out", tmp_path / "c2", now=later))
    with open_store(home) as store:
        report = estate_status(store, now=later)
    (csr,) = [i for i in report.items if i.kind == "csr"]
    assert (csr.name, csr.stage) == ("cas-tp", "pending")
    assert "the current certificate stays in use" in csr.note


def test_a_short_temporary_certificate_says_its_own_lifetime() -> None:
    """4.7.2's temporary certificates last 90 days; one issued for 10 said only "90"."""
    short = CurrentFact(
        "cam", 1, "cc" * 32, "spki-cam", NOW + 5 * DAY, "self-signed", NOW - 5 * DAY, NOW - 5 * DAY
    )
    report = build_report(
        [
            DeploymentFacts(
                "d",
                release="4.7.2",
                temporary_days=90,
                identities=(short,),
                adopted=frozenset({"cam"}),
            )
        ],
        NOW,
    )
    note = _by_name(report)["cam"].note
    assert "lasts 3 months (90 days); this one was issued for 10 days" in note
    assert report.counts()["temporary_3_months"] == 1


ACME_DEP = """[deployment]
name = "t"
release = "4.8.0"
source = "internal"

[cam]
name = "cam"
hostname = "cam.example.org"
ip = "10.0.0.1"
source = "acme"

[[cas]]
name = "cas-tp"
hostname = "cas-tp.example.org"
ip = "10.0.0.2"
source = "third-party"

[acme]
directory = "https://127.0.0.1:9/directory"
email = "pki@example.org"
dns = "hook"
hook = "/usr/local/bin/acme-dns-hook --zone example.org"
"""


def test_a_missing_acme_identity_is_to_be_ordered_not_given_a_csr() -> None:
    dep = parse_deployment(ACME_DEP, "t.toml")
    # the source status reads is "acme" however the settings are read: the file's text,
    # the parsed deployment, or the facts the store keeps with the file
    planned = settings_of(dep).identities
    assert planned == {"cam": "acme", "cas-tp": "third-party"}
    assert read_settings(ACME_DEP).identities == planned
    from ccapki.lifecycle.status import settings_json

    assert read_settings("", facts=settings_json(dep)).identities == planned
    items = {
        i.name: i.note for i in build_report([DeploymentFacts("t", planned=planned)], NOW).items
    }
    assert "ccapki acme order cam" in items["cam"]
    assert "csr" not in items["cam"]
    assert "ccapki csr cas-tp" in items["cas-tp"]


def test_the_summary_counts_every_temporary_certificate_as_the_nagios_data_does() -> None:
    """Walkthrough: `status --nagios` said "2 temporary (3 months)" beside `temporary=4`:
    the Perfigo-style temporary certificates were counted, not named."""
    ids = (
        _fact("cam", 80, source="self-signed"),
        _fact("cas-a", 80, source="self-signed"),
        _fact("cas-b", 900, source="perfigo"),
        _fact("cas-c", 900, source="perfigo"),
    )
    adopted = frozenset(f.identity for f in ids)
    mixed = build_report(
        [DeploymentFacts("d", release="4.7.2", temporary_days=90, identities=ids, adopted=adopted)],
        NOW,
    )
    n = mixed.counts()
    assert (n["temporary"], n["temporary_3_months"]) == (4, 2)
    assert "4 temporary (2 of them for 3 months)" in mixed.summary()
    assert "temporary=4" in mixed.nagios_line()
    five_years = build_report(
        [
            DeploymentFacts(
                "d", release="4.8.0", temporary_days=1826, identities=ids[:2], adopted=adopted
            )
        ],
        NOW,
    )
    assert "2 temporary" in five_years.summary()
    assert "3 months" not in five_years.summary()


def test_an_earlier_version_left_in_a_trust_store_warns_nobody(
    cli: Cli, deployed: Callable[[str], Path], home: Path
) -> None:
    """A 4.7.2 CAM renewed every 3 months left each earlier self-signed certificate in the
    CAS's trust store until `trust apply --prune`: once expired, status called it
    CRITICAL and watch notified it, though nothing presents it (a walkthrough found it)."""
    deployed(
        deployment(
            release="4.7.2",
            source="self-signed",
            cam=standalone("cam", "10.0.0.1"),
            cas=[standalone("cas", "10.1.0.1")],
        )
    )
    renewed = NOW + 80 * DAY
    ok(cli("renew", "--due", "--commit", now=renewed))
    ok(cli("trust", "apply", now=renewed))  # the new versions trusted, the old ones kept
    later = NOW + 95 * DAY  # the first versions expired 5 days ago, v2 has 75 left
    with open_store(home) as store:
        report = estate_status(store, now=later)
    roots = [i for i in report.items if i.kind == "trust-root" and i.name.startswith("cas: ")]
    old = [i for i in roots if i.stage == "expired"]
    assert len(roots) == 2, [(i.name, i.stage) for i in roots]
    assert len(old) == 1, [(i.name, i.stage) for i in roots]
    assert not old[0].in_use
    assert "cam v1, renewed since (the current is v2)" in old[0].note
    assert "`ccapki trust apply --prune`" in old[0].note
    assert (report.exit_code, report.nagios_code) == (0, 0)
    assert report.counts()["unused"] == 2  # cam v1 on the CAS, cas v1 on the CAM
    assert expiry_notices(report.items) == []
    # pruned, it is gone from the report
    ok(cli("trust", "apply", "--prune", now=later))
    with open_store(home) as store:
        after = estate_status(store, now=later)
    assert [i.name for i in after.items if i.kind == "trust-root" and not i.in_use] == []


def test_the_summary_of_deployments_with_other_stages_names_no_one_widest() -> None:
    a = DeploymentFacts("north", warn_days=(45, 14, 3), identities=(_fact("cam", 50),))
    b = DeploymentFacts("south", identities=(_fact("cam", 70),))  # 60, 30, 7
    both = build_report([a, b], NOW)
    assert both.summary() == ("2 certificates fine, none within its deployment's warning stages")
    assert build_report([b], NOW).summary() == "1 certificate fine, none within 60 days"
