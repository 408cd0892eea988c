"""``backup appliance NAME --out DIR`` writes one kit per folder (walkthrough: a second
appliance's kit into the folder of a first one replaced its README.txt and trusted-ca-N.pem
and left the first one's bundles and extra roots beside them: a folder that described no
one appliance). A folder holding another kit, or any file of no kit, is refused (exit 2,
nothing written, nothing logged, before the password is asked); the same appliance's kit
(or its HA pair's) is replaced in place, its stale trusted-ca-N.pem files removed."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccapki.pki.certs import fingerprint
from ccapki.store import Store
from kit.certs import OutsideCA, pem
from kit.cli import FAQ, Cli, error_with_hint, ok, write

PW = {"CCAPKI_EXPORT_PASSWORD": "kitpass12"}


@pytest.fixture
def applied(cli: Cli, keyfile_store: Path) -> Path:
    ok(cli("apply", FAQ))
    return keyfile_store


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _audit_rows(home: Path) -> int:
    with Store.open(home) as store:
        return len(store.audit.log(10_000))


def test_a_second_appliance_kit_into_the_same_folder_is_refused(
    cli: Cli, applied: Path, tmp_path: Path
) -> None:
    kit = tmp_path / "kit3"
    ok(cli("backup", "appliance", "cam", "--out", kit, env=PW))
    before = _snapshot(kit)
    assert sorted(before) == ["README.txt", "cam-upload.pem", "cam.p12", "trusted-ca-1.pem"]
    rows = _audit_rows(applied)
    r = error_with_hint(cli("backup", "appliance", "cas-dorm", "--out", kit, env=PW))
    first, hint = r.err.splitlines()[:2]
    assert first == (
        f"error: {kit}: cannot write ({kit} holds the recovery kit of cam, not of cas-dorm); "
        "nothing was written"
    )
    assert "another --out folder" in hint
    assert f"out of {kit}" in hint
    assert _snapshot(kit) == before  # the first kit, byte for byte
    assert _audit_rows(applied) == rows  # no key exported, nothing logged
    # refused before the password is asked (none given: the folder is what is said)
    r = error_with_hint(cli("backup", "appliance", "cas-dorm", "--out", kit))
    assert "holds the recovery kit of cam" in r.err
    assert "CCAPKI_EXPORT_PASSWORD" not in r.err
    # another folder takes the second kit
    ok(cli("backup", "appliance", "cas-dorm", "--out", tmp_path / "kit-cas-dorm", env=PW))
    assert _snapshot(kit) == before


def test_another_kit_is_known_by_its_key_files_without_its_readme(
    cli: Cli, applied: Path, tmp_path: Path
) -> None:
    kit = tmp_path / "kit"
    ok(cli("backup", "appliance", "cam", "--out", kit, env=PW))
    (kit / "README.txt").unlink()
    before = _snapshot(kit)
    r = error_with_hint(cli("backup", "appliance", "cas-clinic", "--out", kit, env=PW))
    assert "holds the recovery kit of cam, not of cas-clinic" in r.err
    assert _snapshot(kit) == before


@pytest.mark.parametrize(
    "files",
    [
        {"notes.txt": b"my notes\n"},
        {"trusted-ca-1.pem": b"a root of who knows what\n"},  # no kit says it is its own
        {"README.txt": b"the README of something else\n"},
        {"server.p12": b"not a kit\n"},
    ],
    ids=["other-file", "lone-root", "other-readme", "lone-p12"],
)
def test_a_folder_of_other_files_is_refused(
    cli: Cli, applied: Path, tmp_path: Path, files: dict[str, bytes]
) -> None:
    kit = tmp_path / "kit"
    for name, data in files.items():
        write(kit / name, data)
    r = error_with_hint(cli("backup", "appliance", "cas-dorm", "--out", kit, env=PW))
    assert "holds files that are not a recovery kit of cas-dorm: " + ", ".join(files) in r.err
    assert _snapshot(kit) == files


def test_a_folder_in_the_kit_folder_is_refused(cli: Cli, applied: Path, tmp_path: Path) -> None:
    kit = tmp_path / "kit"
    (kit / "old").mkdir(parents=True)
    r = error_with_hint(cli("backup", "appliance", "cas-dorm", "--out", kit, env=PW))
    assert "not a recovery kit of cas-dorm: old" in r.err
    assert [p.name for p in kit.iterdir()] == ["old"]


def test_a_stray_file_beside_the_appliance_own_kit_is_refused(
    cli: Cli, applied: Path, tmp_path: Path
) -> None:
    kit = tmp_path / "kit"
    ok(cli("backup", "appliance", "cas-dorm", "--out", kit, env=PW))
    write(kit / "notes.txt", "mine\n")
    before = _snapshot(kit)
    r = error_with_hint(cli("backup", "appliance", "cas-dorm", "--out", kit, env=PW))
    assert "not a recovery kit of cas-dorm: notes.txt" in r.err
    assert _snapshot(kit) == before


def test_the_same_kit_again_is_replaced_in_place_and_its_stale_roots_removed(
    cli: Cli, applied: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    """cas-clinic's trust store holds an outside root too: its kit has two roots; once the
    root is removed, the kit written again into the same folder has one, and the earlier
    kit's trusted-ca-2.pem (which README.txt no longer names) is gone."""
    kit = tmp_path / "kit"
    ok(cli("trust", "add", "cas-clinic", write(tmp_path / "r.pem", pem(outside.root))))
    ok(cli("backup", "appliance", "cas-clinic", "--out", kit, env=PW))
    assert sorted(p.name for p in kit.iterdir()) == [
        "README.txt",
        "cas-clinic-upload.pem",
        "cas-clinic.p12",
        "trusted-ca-1.pem",
        "trusted-ca-2.pem",
    ]
    assert "trusted-ca-2.pem" in (kit / "README.txt").read_text()
    ok(cli("trust", "remove", "cas-clinic", fingerprint(outside.root)))
    r = ok(cli("backup", "appliance", "cas-clinic", "--out", kit, env=PW))
    assert "trusted-ca-2.pem" not in r.out
    assert sorted(p.name for p in kit.iterdir()) == [
        "README.txt",
        "cas-clinic-upload.pem",
        "cas-clinic.p12",
        "trusted-ca-1.pem",
    ]
    assert "trusted-ca-2.pem" not in (kit / "README.txt").read_text()
    with Store.open(applied) as store:
        entry = store.audit.log(1)[0]
    assert entry.action == "backup-appliance"
    assert entry.detail["removed"] == ["trusted-ca-2.pem"]


def test_an_ha_pair_kit_by_either_peer_name_is_the_same_kit(
    cli: Cli, applied: Path, tmp_path: Path
) -> None:
    kit = tmp_path / "kit"
    ok(cli("backup", "appliance", "cas-dorm-b", "--out", kit, env=PW))
    ok(cli("backup", "appliance", "cas-dorm", "--out", kit, env=PW))
    ok(cli("backup", "appliance", "cas-dorm-a", "--out", kit, env=PW))
    assert sorted(p.name for p in kit.iterdir()) == [
        "README.txt",
        "cas-dorm-upload.pem",
        "cas-dorm.p12",
        "trusted-ca-1.pem",
    ]
