"""`check-ha --primary A --secondary B` reads the files `export` wrote with
CCAPKI_EXPORT_PASSWORD from that variable too (walkthrough: only --password worked, while
`export` and `inspect` read the variable)."""

from __future__ import annotations

from pathlib import Path

from kit.cli import FAQ, Cli, ok

PW = "pw-env-12345"


def test_check_ha_reads_the_export_password_from_the_environment(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", FAQ))
    a, b = tmp_path / "a.p12", tmp_path / "b.p12"
    env = {"CCAPKI_EXPORT_PASSWORD": PW}
    ok(cli("export", "cas-dorm", "--for-peer", "--out", a, env=env))
    ok(cli("export", "cas-dorm", "--for-peer", "--out", b, env=env))
    r = ok(cli("check-ha", "cas-dorm", "--primary", a, "--secondary", b, env=env))
    assert "cas-dorm: fit for HA" in r.out
    wrong = cli(
        "check-ha", "cas-dorm", "--primary", a, "--secondary", b,
        env={"CCAPKI_EXPORT_PASSWORD": "not-the-password"},
    )  # fmt: skip
    assert wrong.code == 2
    assert "hint:" in wrong.err
