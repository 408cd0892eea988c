"""Writing where one cannot: one `error:` + `hint:` line pair, exit 2, nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccapki.cli import main
from ccapki.store import Store
from kit.cli import FAQ


def test_export_to_unwritable_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    assert main(["--home", str(home), "init", "--key-file"]) == 0
    assert main(["--home", str(home), "apply", str(FAQ)]) == 0
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    capsys.readouterr()
    code = main(
        ["--home", str(home), "export", "cas-dorm", "--format", "key", "--out",
         str(blocker / "sub" / "key.pem")]
    )  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 2
    assert "error:" in err
    assert "cannot write" in err
    assert "hint:" in err
    assert "Traceback" not in err
    assert blocker.read_text() == "not a folder"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    with Store.open(home) as store:
        assert not [a for a in store.audit.log() if a.action == "key-export"]
