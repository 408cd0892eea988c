"""Standard output that cannot be written (a full disk; `ccapki plan FILE > /dev/full`) is
the machine's state, not a ccapki bug: one `error:` + `hint:`, exit 2 (walkthrough: exit
70, "this is a ccapki bug")."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from kit.cli import FAQ
from kit.tools import need


def test_a_full_standard_output_is_bad_luck_not_a_bug(tmp_path: Path) -> None:
    full = Path("/dev/full")
    if not full.exists() or not stat.S_ISCHR(full.stat().st_mode):
        need("/dev/full (a character device) is not here")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCAPKI_")}
    env["CCAPKI_HOME"] = str(tmp_path / "no-store")
    with full.open("w") as out:
        r = subprocess.run(
            [sys.executable, "-m", "ccapki", "plan", str(FAQ)],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[0] == "error: could not write the output: No space left on device", r.stderr
    assert lines[1].startswith("hint: make room")
    assert "Traceback" not in r.stderr
    assert len(lines) == 2
