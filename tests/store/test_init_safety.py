"""`ccapki init` never overwrites a store or its key file (a lost data key = lost keys)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccapki.cli import main
from kit.cli import db_bytes


@pytest.mark.sqlite_only  # the SQLite file moved away from its data.key
def test_init_refuses_existing_key_file_without_db(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    assert main(["--home", str(home), "init", "--key-file"]) == 0
    key = (home / "data.key").read_bytes()
    (home / "ccapki.db").rename(tmp_path / "moved.db")  # e.g. a half-restored backup
    capsys.readouterr()
    assert main(["--home", str(home), "init", "--key-file"]) == 2
    err = capsys.readouterr().err
    assert "error: a store already exists" in err
    assert "hint:" in err
    assert (home / "data.key").read_bytes() == key
    assert not (home / "ccapki.db").exists()


def test_init_twice_keeps_everything(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    assert main(["--home", str(home), "init", "--key-file"]) == 0
    db = db_bytes(home)
    key = (home / "data.key").read_bytes()
    assert main(["--home", str(home), "init", "--key-file"]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert db_bytes(home) == db
    assert (home / "data.key").read_bytes() == key
