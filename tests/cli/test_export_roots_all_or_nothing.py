"""``export-roots --out DIR`` writes its files all or nothing (walkthrough: on a full disk
it wrote four of its six files, then said "nothing was written"); a full disk's hint says
to free space, not to choose a folder that exists."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccapki import fsutil
from ccapki.errors import InputError
from kit.cli import FAQ, Cli
from kit.tools import need, require_tool


def test_a_file_that_cannot_be_written_leaves_the_folder_as_it_was(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    assert cli("apply", FAQ).code == 0
    out = tmp_path / "roots"
    (out / "ccapki-roots.mobileconfig").mkdir(parents=True)  # the fifth file cannot go there
    (out / "ccapki-roots.pem").write_bytes(b"the old roots\n")
    r = cli("export-roots", "--out", out)
    assert r.code == 2, r.both
    assert r.err.startswith("error: "), r.err
    assert "nothing was written" in r.err
    assert "\nhint: " in r.err
    assert sorted(p.name for p in out.iterdir()) == [
        "ccapki-roots.mobileconfig",
        "ccapki-roots.pem",
    ], "a refused export-roots left files behind"
    assert (out / "ccapki-roots.pem").read_bytes() == b"the old roots\n"
    (out / "ccapki-roots.mobileconfig").rmdir()
    r = cli("export-roots", "--out", out)
    assert r.code == 0, r.both
    assert {p.name for p in out.iterdir()} >= {
        "ccapki-roots.pem",
        "ccapki-roots.p7b",
        "ccapki-root-1.cer",
        "ccapki-roots.mobileconfig",
        "INSTALL.txt",
    }
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture
def full_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder on a 64 KiB tmpfs filled up (mounting needs root: CI runs as root)."""
    mount, umount = require_tool("mount"), require_tool("umount")
    if os.geteuid() != 0:
        need("mounting a small tmpfs needs root")
    folder = tmp_path / "full"
    folder.mkdir()
    subprocess.run([mount, "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], check=True)
    try:
        with contextlib.suppress(OSError), (folder / "filler").open("wb") as fh:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
        yield folder
    finally:
        subprocess.run([umount, str(folder)], check=True)


def test_a_full_disk_hint_says_free_space(full_folder: Path) -> None:
    for write in (
        lambda: fsutil.atomic_write(full_folder / "a.pem", b"x" * 8192),
        lambda: fsutil.atomic_write_all([(full_folder / "b.pem", b"x" * 8192)]),
    ):
        with pytest.raises(InputError) as caught:
            write()
        assert "No space left on device" in caught.value.message
        assert caught.value.hint.startswith("free space"), caught.value.hint
    assert [p.name for p in full_folder.iterdir()] == ["filler"]
