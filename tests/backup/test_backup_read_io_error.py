"""A backup file whose reading fails with an input/output error (a failing disk; here
/proc/self/mem, which answers EIO at offset 0) was reported as "could not write the
output": it is said as an input/output error, a disk or device failing, exit 2."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kit.cli import Cli, error_with_hint


@pytest.mark.skipif(sys.platform != "linux", reason="/proc/self/mem is Linux's")
def test_an_input_output_error_reading_a_backup_is_not_called_a_write(cli: Cli) -> None:
    r = error_with_hint(
        cli(
            "backup",
            "verify",
            Path("/proc/self/mem"),
            env={"CCAPKI_BACKUP_PASSPHRASE": "correct horse battery staple"},
        )
    )
    assert "input/output error" in r.err
    assert "could not write the output" not in r.err
    assert "dmesg" in r.err
