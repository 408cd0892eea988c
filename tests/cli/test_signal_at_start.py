"""A Ctrl-C or SIGTERM as ``ccapki`` starts: from the moment its own code has set its
handlers (``ccapki.cli.main``), one ``error: interrupted`` line and a hint, exit 130 or 143,
no traceback, nothing written.

Before that moment the interpreter is still starting and the signal is the system's or
Python's; ``main`` sets its handlers before it imports anything heavy, so that window is
the interpreter's start-up alone (``typing`` is not imported for the annotations).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kit.cli import deployment, standalone, write
from kit.signals import LINUX, handling

EXE = shutil.which("ccapki", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(not LINUX, reason="reads the process's signal mask in /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_as_soon_as_ccapki_handles_it(tmp_path: Path, sig: signal.Signals) -> None:
    assert EXE is not None
    cas = [standalone(f"cas{i}", f"10.1.{i // 250}.{i % 250 + 1}") for i in range(300)]
    path = write(tmp_path / "d.toml", deployment(cas=cas))
    home = tmp_path / "home"  # never made: the command is stopped before it gets there
    for _ in range(5):
        proc = subprocess.Popen(
            [EXE, "--home", str(home), "plan", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            assert handling(proc), "ccapki ended before it set its handlers"
            os.kill(proc.pid, sig)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
        assert proc.returncode == 128 + sig, err
        assert "Traceback" not in err, err
        lines = err.splitlines()
        assert lines[0] == f"error: interrupted ({sig.name})", err
        assert lines[1].startswith("hint: "), err
        assert "run the command again" in lines[1], err
        assert len(lines) == 2, err
        assert out == ""
    assert not home.exists()


def test_ccapki_cli_imports_nothing_heavy() -> None:
    """Until main() runs, only ``sys`` and ``ccapki``'s package: the interpreter's start-up
    is the whole window in which a signal is not ccapki's."""
    code = (
        "import sys; before = set(sys.modules); import ccapki.cli; "
        "print(sorted(set(sys.modules) - before))"
    )
    got = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "typing" not in got, got
    assert "collections.abc" not in got, got
