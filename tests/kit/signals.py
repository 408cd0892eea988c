"""When a ``ccapki`` process has taken over its signals.

Before ``ccapki.cli.main`` sets its SIGINT and SIGTERM handlers, a signal gets what the
start of any program gets: the system's default (killed by SIGTERM, nothing written) or
Python's (a KeyboardInterrupt traceback). Tests that signal a process early wait for this
point; before it, the interpreter is still starting (more than 50 ms on a loaded machine).
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

LINUX = Path("/proc/self/status").exists()


def caught(pid: int) -> int:
    """The signals process ``pid`` has handlers for (Linux's ``SigCgt`` mask); 0 if gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("SigCgt:"):
            return int(line.split()[1], 16)
    return 0


def handling(proc: subprocess.Popen[str], timeout: float = 60) -> bool:
    """Until ``proc`` has handlers for SIGINT and SIGTERM; False if it ended first.

    Off Linux (no ``/proc``), a generous half second of start-up."""
    if not LINUX:
        time.sleep(0.5)
        return proc.poll() is None
    want = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if caught(proc.pid) & want == want:
            return True
        time.sleep(0.001)
    return False
