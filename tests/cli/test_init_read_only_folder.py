"""Walkthrough: ``ccapki init`` into a folder that exists but cannot be written (a
read-only mount, or no write permission) ended in "internal error: OSError: [Errno 30]
Read-only file system" (exit 70). It must say why in one ``error:`` line with a ``hint:``,
exit 2, and leave the folder as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.cli import error_with_hint
from kit.readonly import run_read_only


@pytest.mark.sqlite_only  # the SQLite store's folder (PostgreSQL: the server's rights)
@pytest.mark.parametrize("key_file", [False, True])
def test_init_into_a_folder_that_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key_file: bool
) -> None:
    monkeypatch.setenv("CCAPKI_PASSPHRASE", "a long enough passphrase")
    home = tmp_path / "store"
    home.mkdir(mode=0o700)
    args = ("init", "--key-file") if key_file else ("init",)
    r = error_with_hint(run_read_only(home, *args))
    assert "internal error" not in r.err, r.both
    assert "read-only" in r.err or "may not write" in r.err, r.both
    assert "--home" in r.err, r.both
    assert list(home.iterdir()) == []
