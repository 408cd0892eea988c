"""A command run in a real terminal (a pseudo-terminal the test makes): what it shows."""

from __future__ import annotations

import os
import select
import time

__all__ = ["read_terminal"]


def read_terminal(fd: int, until: bytes | None = None, limit: float = 60.0) -> bytes:
    """What the terminal ``fd`` (a ``pty.fork()`` parent's end) shows, until ``until``
    appears, the other end closes, or ``limit`` seconds pass (``until`` None: to the end)."""
    out = b""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the other end closed (EIO)
            break
        if not chunk:
            break
        out += chunk
        if until is not None and until in out:
            break
    return out
