"""Issue 12, items 1 and 5: ``ccapki status`` on real stores: the table, ``--json``,
``--nagios`` (codes 0-3), each warning stage under ``CCAPKI_NOW``, custom warn_days,
temporary certificates, a pending CSR, what is served, several deployments."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from ccapki.store import Store
from ccapki.store.records import ProbeRecord, ProbeVerdict
from kit.certs import NOW
from kit.cli import (
    FAQ,
    Cli,
    db_bytes,
    deployment,
    error_with_hint,
    ha_pair,
    ok,
    standalone,
    write,
)
from kit.pgmode import no_store

DAY = dt.timedelta(days=1)
IDENTITIES = {"cam", "cas-dorm", "cas-library", "cas-guest", "cas-clinic", "cas-annex"}


@pytest.fixture
def faq(cli: Cli, keyfile_store: Path) -> Path:
    ok(cli("apply", FAQ))
    return keyfile_store


def _identities(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["name"]: i for i in data["items"] if i["kind"] == "identity"}


def _not_after(cli: Cli) -> dt.datetime:
    cam = _identities(ok(cli("status", "--json")).json())["cam"]
    return dt.datetime.fromisoformat(cam["not_after"])


def test_status_lists_every_certificate_by_days_left(cli: Cli, faq: Path) -> None:
    r = ok(cli("status"))
    lines = r.out.splitlines()
    assert lines[0].startswith("faq-campus: CCA 4.8.0; warnings at 60, 30, 7 days; as of ")
    assert lines[1].split() == ["STAGE", "DAYS", "KIND", "NAME", "EXPIRES", "SERVED"]
    kinds = [line.split()[2] for line in lines[2:-1] if not line.startswith(" ")]
    assert kinds == ["identity"] * 6 + ["ca", "ca", "trust-root"]
    for name in IDENTITIES:
        assert any(line.split()[3] == name for line in lines[2:8])
    assert "not probed" in lines[2]
    assert "(on 10 appliances: cam-a, cam-b" in r.out  # one row for the root all ten trust
    assert lines[-1] == "summary: 9 certificates fine, none within 60 days"  # one per row
    data = ok(cli("status", "--json")).json()
    assert data["exit_code"] == 0
    assert data["deployments"] == {"faq-campus": {"release": "4.8.0", "warn_days": [60, 30, 7]}}
    assert len([i for i in data["items"] if i["kind"] == "trust-root"]) == 10
    # a walkthrough: counts.items (rows: the root once) was not len(items) and nothing
    # said why; counts.listed is
    assert (data["counts"]["items"], data["counts"]["listed"]) == (9, len(data["items"]))
    assert set(_identities(data)) == IDENTITIES
    r = ok(cli("status", "--nagios"))
    assert r.out.splitlines() == [
        "CCAPKI OK - 9 certificates fine, none within 60 days | expired=0 warning=0 "
        "wrong_served=0 ok=9 pending=0 temporary=0 unreachable=0 missing=0 "
        f"min_days_left={(_not_after(cli) - NOW).days}"
    ]


@pytest.mark.parametrize(
    ("left", "stage", "nagios", "line"),
    [
        (45, "60", 1, "CCAPKI WARNING - 6 within 60 days | expired=0 warning=6 "),
        (20, "30", 1, "CCAPKI WARNING - 6 within 30 days | expired=0 warning=6 "),
        (3, "7", 1, "CCAPKI WARNING - 6 within 7 days | expired=0 warning=6 "),
        (-1, "expired", 2, "CCAPKI CRITICAL - 6 expired | expired=6 warning=0 "),
    ],
)
def test_each_stage_under_a_what_if_clock(
    cli: Cli, faq: Path, left: int, stage: str, nagios: int, line: str
) -> None:
    when = _not_after(cli) - left * DAY
    before = db_bytes(faq)
    r = cli(
        "status", "--json", env={"CCAPKI_NOW": when.isoformat(), "CCAPKI_NOW_ALLOW_WRITES": None}
    )
    assert r.code == 1, r.both
    ids = _identities(r.json())
    assert {i["stage"] for i in ids.values()} == {stage}
    assert {i["days_left"] for i in ids.values()} == {left}
    assert r.json()["now"] == when.isoformat()
    r = cli("status", now=when)
    assert r.code == 1
    shown = "EXPIRED" if stage == "expired" else f"<={stage}d"
    assert sum(1 for x in r.out.splitlines() if x.startswith(shown)) == 6
    r = cli("status", "--nagios", now=when)
    assert r.code == nagios, r.both
    assert r.out.startswith(line)
    assert len(r.out.splitlines()) == 7  # the status line, then one line per identity
    assert db_bytes(faq) == before  # read only


def test_nagios_unknown_on_any_error(cli: Cli, home: Path) -> None:
    r = cli("status", "--nagios")
    assert r.code == 3, r.both
    assert re.match(f"CCAPKI UNKNOWN - {no_store(home)}", r.out), r.out
    assert re.match(f"error: {no_store(home)}", r.err), r.err
    assert "\nhint: " in r.err
    error_with_hint(cli("status"))  # without --nagios: the CLI's usual exit 2
    r = cli("status", "--nagios", env={"CCAPKI_NOW": "next tuesday"})
    assert r.code == 3
    assert "CCAPKI_NOW" in r.out
    ok(cli("init", "--key-file"))
    r = cli("status", "--nagios")  # a store with no deployment yet
    assert r.code == 3
    assert "holds no deployment yet" in r.out
    r = cli("status", "--nagios", "--json")
    assert r.code == 3
    assert "--json and --nagios" in r.err


def test_custom_warn_days_and_temporary_certificates_of_472(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    text = deployment(
        name="old-campus",
        release="4.7.2",
        source="self-signed",
        cam=ha_pair("cam", "10.0.0"),
        cas=[standalone("cas1", "10.1.0.1"), standalone("cas2", "10.2.0.1", source="internal")],
    )
    ok(cli("apply", write(tmp_path / "d.toml", text + "\n[monitoring]\nwarn_days = [75, 20]\n")))
    data = ok(cli("status", "--json")).json()  # 90 days left: not yet within 75
    assert data["deployments"]["old-campus"]["warn_days"] == [75, 20]
    ids = _identities(data)
    # issued by ccapki from the file, not the release's install-time ones: not temporary
    # (tests/cli/test_adopted_certificates_said.py: an adopted one is)
    assert not ids["cam"]["temporary"]
    assert not ids["cas1"]["temporary"]
    assert not ids["cas2"]["temporary"]
    assert ids["cam"]["note"].startswith("true self-signed, issued by ccapki")
    assert "3 months" not in ids["cam"]["note"]
    r = cli("status", now=NOW + 60 * DAY)
    assert r.code == 1
    assert "TEMPORARY" not in r.out
    # the two true self-signed certificates, each also in the trust stores of its peers
    # (the CAM's in 4: both CAM peers, both CAS; cas1's in both CAM peers): one row each,
    # the identity's, saying where it is trusted (walkthrough 22)
    assert "2 within 75 days" in r.out.splitlines()[-1]
    assert "the CAM cam's certificate (true self-" not in r.out
    assert "in the trust store of 4 appliances: cam-a, cam-b, cas1, cas2" in r.out
    assert "temporary" not in r.out.splitlines()[-1]
    stages = {
        i["name"]: i["stage"]
        for i in cli("status", "--json", now=NOW + 75 * DAY).json()["items"]
        if i["kind"] == "identity"
    }
    assert stages["cam"] == "20"
    assert stages["cas2"] == "ok"


def test_a_pending_csr_is_shown_beside_its_identity(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    text = deployment(
        name="tp",
        cam=standalone("cam", "10.0.0.1"),
        cas=[standalone("cas-tp", "10.6.0.1", source="third-party")],
    )
    ok(cli("apply", write(tmp_path / "d.toml", text)))
    ok(cli("csr", "cas-tp", "--out", tmp_path / "csr"))
    r = ok(cli("status"))  # a pending CSR alone is no warning
    (row,) = [x for x in r.out.splitlines() if " csr " in x]
    assert row.split()[:3] == ["pending", "-", "csr"]
    assert "cas-tp (key " in row
    assert "no certificate yet" in r.out
    assert "1 CSR pending" in r.out.splitlines()[-1]
    (csr,) = [i for i in ok(cli("status", "--json")).json()["items"] if i["kind"] == "csr"]
    assert (csr["name"], csr["stage"], csr["not_after"]) == ("cas-tp", "pending", None)


def _probe(
    appliance: str, kind: str, at: dt.datetime, verdict: ProbeVerdict, leaf: str, ident: str
) -> ProbeRecord:
    return ProbeRecord(
        appliance, kind, "127.0.0.9:8443", at, verdict, leaf_sha256=leaf, identity=ident
    )


def test_what_each_appliance_serves_from_the_last_probe(cli: Cli, faq: Path) -> None:
    with Store.open(faq) as store:
        cur = store.identities.current()
        cam, dorm = cur["cam"].fingerprint, cur["cas-dorm"].fingerprint
        store.probes.add(
            [
                _probe("cam-a", "control", NOW - 2 * DAY, ProbeVerdict.EXPECTED, cam, "cam"),
                _probe(
                    "cas-dorm-b", "agent", NOW - 2 * DAY, ProbeVerdict.EXPECTED, dorm, "cas-dorm"
                ),
            ]
        )
        store.probes.add(
            [
                _probe("cam-a", "control", NOW - DAY, ProbeVerdict.EXPECTED, cam, "cam"),
                _probe(
                    "cas-dorm-b", "agent", NOW - DAY, ProbeVerdict.UNKNOWN, "ab" * 32, "cas-dorm"
                ),
            ]
        )
    r = cli("status")
    assert r.code == 1, r.both
    rows = {x.split()[3]: x for x in r.out.splitlines() if " identity " in x}
    assert rows["cam"].endswith("expected on 1 endpoint since 2026-11-25 00:00")
    assert "cas-dorm-b/agent UNKNOWN since 2026-11-26" in rows["cas-dorm"]
    assert rows["cas-guest"].endswith("not probed")
    assert "1 wrong certificate served" in r.out.splitlines()[-1]
    r = cli("status", "--nagios")
    assert r.code == 2
    assert r.out.startswith("CCAPKI CRITICAL - 1 wrong certificate served | ")
    assert (
        "cas-dorm-b agent (127.0.0.9:8443) serves an unknown certificate instead of cas-dorm"
        in r.out
    )
    served = _identities(cli("status", "--json").json())["cam"]["served"]
    assert served == [
        {
            "appliance": "cam-a",
            "kind": "control",
            "address": "127.0.0.9:8443",
            "verdict": "expected",
            "at": (NOW - DAY).isoformat(),
            "since": (NOW - 2 * DAY).isoformat(),
            "reason": "",
            "wrong": False,
            "outdated": False,
        }
    ]


def test_several_deployments_in_one_store(cli: Cli, faq: Path, tmp_path: Path) -> None:
    text = deployment(name="hospital", cam=standalone("cam", "10.9.0.1"))
    ok(cli("apply", write(tmp_path / "h.toml", text + "\n[monitoring]\nwarn_days = [30]\n")))
    r = error_with_hint(cli("status"))
    assert "2 deployments (faq-campus, hospital)" in r.err
    assert cli("status", "--nagios").code == 3
    r = ok(cli("status", "--all"))
    heads = [x for x in r.out.splitlines() if ": CCA " in x]
    assert [h.split(":")[0] for h in heads] == ["faq-campus", "hospital"]
    assert "hospital: CCA 4.8.0; warnings at 30 days" in heads[1]
    data = ok(cli("status", "--all", "--json")).json()
    assert {i["deployment"] for i in data["items"]} == {"faq-campus", "hospital"}
    r = ok(cli("--deployment", "hospital", "status", "--json"))
    assert {i["deployment"] for i in r.json()["items"]} == {"hospital"}
    assert set(_identities(r.json())) == {"cam"}
    r = ok(cli("status", "--nagios", "--all"))
    assert r.out.startswith("CCAPKI OK - ")
    r = cli("--deployment", "nowhere", "status", "--nagios")
    assert r.code == 3
    assert "no deployment 'nowhere'" in r.out


def test_status_on_postgresql(cli: Cli, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:

    from kit.tools import clean_pg_url

    url = clean_pg_url()  # an empty database
    monkeypatch.setenv("CCAPKI_DATABASE_URL", url)
    ok(cli("init", "--key-file"))
    ok(cli("apply", FAQ))
    data = ok(cli("status", "--json")).json()
    assert set(_identities(data)) == IDENTITIES
    assert data["counts"]["ok"] == 9  # the root ten appliances trust: one row
    # the walkthrough: counts.items (rows) was not len(items) and nothing said why
    assert data["counts"]["listed"] == len(data["items"]) > data["counts"]["items"]
    when = _not_after(cli) - 3 * DAY
    assert cli("status", "--nagios", now=when).out.startswith("CCAPKI WARNING - 6 within 7 days")


def test_a_terminal_gets_a_rich_table(cli: Cli, faq: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import re
    import sys

    when = _not_after(cli) + DAY
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setenv("COLUMNS", "200")
    r = cli("status", now=when)
    assert r.code == 1
    text = re.sub(r"\x1b\[[0-9;]*m", "", r.out)
    assert "┃ stage" in text
    assert "faq-campus: CCA 4.8.0; warnings at 60, 30, 7 days" in text
    rows = [x for x in text.splitlines() if "│ identity" in x]
    assert len(rows) == 6
    assert all("EXPIRED" in x for x in rows)
    assert text.splitlines()[-1] == "summary: 6 expired"


def test_several_deployments_none_named_hints_at_all(cli: Cli, faq: Path, tmp_path: Path) -> None:
    """Walkthrough: the hint named --deployment only; status can also show them all."""
    other = write(tmp_path / "other.toml", FAQ.read_text().replace("faq-campus", "other", 1))
    ok(cli("apply", other, "--new-deployment"))  # the same appliances, on purpose
    r = error_with_hint(cli("status"))
    assert "2 deployments (faq-campus, other)" in r.err, r.err
    assert "`ccapki status --all`" in r.err, r.err
    both = ok(cli("status", "--all"))
    assert "faq-campus:" in both.out, both.out
    assert "other:" in both.out, both.out


def test_a_long_name_does_not_widen_every_row(cli: Cli, faq: Path) -> None:
    """Walkthrough: the trust-store root's row ("root CA ... (on 10 appliances: cam-a, ...
    +6)") padded the NAME column of every row to its length (~110 columns of spaces)."""
    out = ok(cli("status")).out.splitlines()
    identity_rows = [x for x in out if "  identity  " in x]
    assert identity_rows
    assert all(len(x) <= 100 for x in identity_rows), max(identity_rows, key=len)
    root = next(x for x in out if "  trust-root  " in x)
    assert "(on 10 appliances: cam-a, cam-b, cas-annex, cas-clinic +6)" in root  # whole
    expires = {x.index(" 20") for x in [*identity_rows, root]}
    assert len(expires) == 1  # the columns stay aligned, the root's row too (walkthrough)


@pytest.mark.parametrize(
    ("offset", "words"),
    [
        (dt.timedelta(hours=-5), "expires in 5 hours"),
        (dt.timedelta(hours=16), "expired 16 hours ago"),
    ],
)
def test_nagios_lines_say_the_last_day_in_hours(
    cli: Cli, faq: Path, offset: dt.timedelta, words: str
) -> None:
    """Walkthrough K: README says every command says expiry within 24 hours in hours;
    ``--nagios`` said "0 days left" and "expired" alone."""
    end = _not_after(cli)
    r = cli("status", "--nagios", now=end + offset)
    stamp = f"{end.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"
    lines = [x for x in r.out.splitlines() if x.startswith("identity cam:")]
    assert lines == [
        f"identity cam: {words} ({stamp})"
        + (" (stage 7)" if offset.total_seconds() < 0 else " (stage expired)")
    ], r.out
