"""``backup restore --force`` counts the identities it forced among those "with new
versions" (walkthrough: "1 identity with new versions: 4 certificates" when it had added a
version to 4 identities, 3 of them forced)."""

from __future__ import annotations

from pathlib import Path

from kit.cli import FAQ, CliRunner, ok, write

PASS = {"CCAPKI_BACKUP_PASSPHRASE": "a backup passphrase"}


def test_forced_identities_count_as_new_versions(
    cli: CliRunner, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", FAQ))
    archive = tmp_path / "store.backup"
    ok(cli("backup", "create", "--out", archive, env=PASS))
    moved = FAQ.read_text().replace("10.31.0.10", "10.31.0.99").replace("10.30.0.10", "10.30.0.99")
    ok(cli("apply", write(tmp_path / "moved.toml", moved)))  # cas-annex, cas-clinic v2
    r = ok(cli("backup", "restore", archive, "--force", env=PASS))
    assert "2 identities with new versions: 2 certificates" in r.out, r.out
    assert "forced: faq-campus/cas-annex" in r.out
    assert "forced: faq-campus/cas-clinic" in r.out
    data = ok(cli("backup", "restore", archive, "--force", "--json", env=PASS)).json()
    assert data["forced"] == []  # the backup's certificates are current now: nothing to do
