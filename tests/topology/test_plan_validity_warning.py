"""The FAQ's "do nothing" self-signed path on CCA 4.8/4.9 is said up front: `plan` and `apply`
warn, once, of the identities planned for longer than clients accept a TLS server certificate
(the release's five-year kind against Apple's 825 days), naming who refuses them where and
the `validity_days` that fixes it, decided by the client policies `trust check` applies.

Found in an audit: `plan` and `apply` of a 4.8.0 self-signed deployment issued 1826-day
certificates silently, and `ccapki trust check` then failed every web-login and admin-gui cell
(validity-too-long), exit 1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ccapki.pki.issue import issue_identity
from ccapki.pki.keys import KeyType, generate_key
from ccapki.pki.request import IdentityRequest
from ccapki.pki.validitycaps import APPLE_825, CAPS
from ccapki.topology.loader import load_deployment
from ccapki.topology.plan import make_plan
from ccapki.trust._model import Code
from ccapki.trust._policy import (
    CHANNEL_PLATFORMS,
    PLATFORMS,
    MaxValidity,
    client_refusals,
    validity_refusals,
)
from kit.certs import NOW
from kit.cli import Cli, deployment, ok, standalone, write


def _file(tmp_path: Path, *, days: int | None = None, cas: int = 1, **kw: str) -> Path:
    text = deployment(
        release=kw.pop("release", "4.8.0"),
        source=kw.pop("source", "self-signed"),
        cam=standalone("cam", "10.0.0.1"),
        cas=[standalone(f"cas{n}", f"10.{n}.0.1") for n in range(1, cas + 1)],
    )
    if days is not None:  # in [deployment], for every identity
        text = text.replace('key = "ecdsa-p256"\n', f'key = "ecdsa-p256"\nvalidity_days = {days}\n')
    return write(tmp_path / "d.toml", text)


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning: ")]


def test_plan_and_apply_say_it_up_front_and_the_fix_they_give_passes_trust_check(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    file = _file(tmp_path)  # 4.8.0, self-signed, no validity_days: the FAQ's "nothing"
    plan = ok(cli("plan", file, home_dir=None))  # no store: the plan alone
    (said,) = _warnings(plan.err)
    assert said.startswith("warning: 2 identities (cam, cas1) are planned valid for 1826 days")
    assert "the CCA 4.8.0 default for a self-signed identity" in said
    clients, _, rest = said.partition(" refuse TLS server certificates valid over 825 days")
    assert "macOS 10.15+" in clients
    assert "iOS 13+" in clients
    # the Agent on macOS is said with macOS, not as a second "macOS 10.15+" that reads like
    # a repeat (a walkthrough: "Clean Access Agent on macOS 10.15+, macOS 10.15+ and ...")
    assert clients.count("macOS 10.15+") == 1, clients
    assert "macOS 10.15+ (its browsers and the Clean Access Agent)" in clients
    assert rest.startswith(" (Apple HT210176")
    assert "web-login and admin-gui, and `ccapki trust check` fails those cells" in rest
    assert "validity_days = 824 or less" in said
    assert "1826" in plan.out  # the default stays the release's own: five years
    data = ok(cli("plan", file, "--json", home_dir=None)).json()
    assert data["warnings"] == [said.removeprefix("warning: ")]
    assert {i["validity_days"] for i in data["identities"]} == {1826}

    dry = ok(cli("apply", file, "--dry-run"))
    assert _warnings(dry.err) == [said]
    applied = ok(cli("apply", file, "--json"))
    assert applied.json()["warnings"] == [said.removeprefix("warning: ")]
    assert _warnings(applied.err) == [said]
    # the warning said what trust check finds: those cells fail, for that reason
    check = cli("trust", "check", "--json")
    assert check.code == 1, check.both
    assert Code.VALIDITY_TOO_LONG in check.out
    # nothing left to issue: apply does not say it again (plan and trust check still do)
    assert _warnings(ok(cli("apply", file)).err) == []
    assert _warnings(ok(cli("plan", file)).err) == [said]

    # the fix it names: validity_days = 824 in the file; apply reissues, silently
    fixed = _file(tmp_path, days=824)
    assert _warnings(ok(cli("plan", fixed)).err) == []
    r = ok(cli("apply", fixed))
    assert "reissued cam" in r.out
    assert _warnings(r.err) == []
    ok(cli("trust", "check"))  # every cell passes


def test_825_days_is_over_and_is_said(cli: Cli, keyfile_store: Path, tmp_path: Path) -> None:
    """A certificate starts minutes early: asked for 825 days, it lasts longer than 825."""
    file = _file(tmp_path, days=825, source="internal")
    (said,) = _warnings(ok(cli("plan", file)).err)
    assert said.startswith("warning: 2 identities (cam, cas1) are planned valid for 825 days:")
    assert "default" not in said  # the file asked for it
    assert _warnings(ok(cli("apply", file)).err) == [said]
    assert cli("trust", "check").code == 1


def test_at_scale_the_identities_are_counted(cli: Cli, tmp_path: Path) -> None:
    r = ok(cli("plan", _file(tmp_path, cas=12, release="4.9.1"), home_dir=None))
    (said,) = _warnings(r.err)
    assert said.startswith("warning: 13 identities (cam, cas1, cas2 +10) are planned valid")
    assert "cas12" not in said


@pytest.mark.parametrize(
    ("release", "source", "days"),
    [
        ("4.7.2", "self-signed", None),  # 90 days
        ("4.8.0", "internal", None),  # 397 days
        ("4.8.0", "self-signed", 824),
        ("4.8.0", "third-party", 3650),  # the CA decides its validity, not the file
        ("4.6.1", "self-signed", None),  # Perfigo-signed, a year
    ],
)
def test_no_warning_within_what_clients_accept(
    cli: Cli, tmp_path: Path, release: str, source: str, days: int | None
) -> None:
    file = _file(tmp_path, days=days, release=release, source=source)
    r = ok(cli("plan", file, "--json", home_dir=None))
    # (4.7.2's 90 days by default get a warning of their own: test_short_default_warning)
    assert not [w for w in r.json()["warnings"] if "refuse TLS server certificates" in w]
    assert not [w for w in _warnings(r.err) if "refuse TLS server certificates" in w]


def test_the_plan_decides_as_the_client_policies_do_on_real_certificates() -> None:
    """validity_refusals (what the plan reads) names the platforms client_refusals (what
    trust check reads) refuses for validity-too-long, on certificates issued for N days."""
    key = generate_key(KeyType.ECDSA_P256)
    request = IdentityRequest(common_name="cas.example.org", dns_names=("cas.example.org",))
    for days in (397, APPLE_825.longest_request, APPLE_825.days, 826, 1826):
        cert = issue_identity(request, key.public_key(), now=NOW, days=days, self_key=key)
        for platforms in {*CHANNEL_PLATFORMS.values()}:
            found = client_refusals(cert, platforms, NOW, publicly_trusted=False)
            refusing = {
                p for p, fs in found.items() if any(f.code == "validity-too-long" for f in fs)
            }
            assert set(validity_refusals(days, platforms)) == refusing, (days, platforms)
    assert {"macos", "ios"} <= set(validity_refusals(1826, None))
    assert not {"windows", "chrome", "firefox"} & set(validity_refusals(1826, None))


def test_every_validity_rule_is_one_of_the_caps_the_plan_reads() -> None:
    """The plan reads no policy below the caps (``ccapki plan FILE`` imports no
    cryptography then): every MaxValidity rule a platform applies is built from one."""
    rules = {e.rule for p in PLATFORMS.values() for e in p.rules if isinstance(e.rule, MaxValidity)}
    assert rules
    assert rules <= {MaxValidity.of(c) for c in CAPS}


def test_the_warning_is_the_plans(tmp_path: Path) -> None:
    plan = make_plan(load_deployment(_file(tmp_path, cas=2)))
    (said,) = plan.warnings
    assert said.startswith("3 identities (cam, cas1, cas2) are planned valid for 1826 days")
    assert plan.to_json()["warnings"] == [said]
