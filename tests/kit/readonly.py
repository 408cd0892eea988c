"""A store made read-only for real, and ``ccapki`` run on it in a subprocess.

As root, a mode bit stops nothing (root writes through ``chmod 0500``), so the store folder
is bind-mounted read-only (``mount --bind -o ro``) inside a private mount namespace
(``unshare -m``) that lives as long as the one command; otherwise the folder and database
lose their write bits (0500 / 0400) for the command's time. Either way SQLite, and every
writer, finds the store read-only, as on a read-only mount in the field.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kit.cli import Result
from kit.tools import need, require_tool

__all__ = ["run_mode_bits_hold", "run_read_only"]

_MOUNT = 'mount --bind -o ro "$1" "$2" && shift 2 && exec "$@"'


def run_read_only(home: Path, *args: str, timeout: float = 120) -> Result:
    """``ccapki --home H ARGS`` with ``home`` read-only (H: where it is seen read-only);
    the environment is this process's. Skips (fails under CI) where neither way exists."""
    cli = [sys.executable, "-m", "ccapki"]
    if os.geteuid() == 0:
        unshare = require_tool("unshare")
        mnt = home.parent / f"{home.name}-ro"
        mnt.mkdir(exist_ok=True)
        probe = subprocess.run(
            [unshare, "-m", "sh", "-c", _MOUNT, "sh", str(home), str(mnt), "true"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if probe.returncode != 0:
            need(f"no read-only bind mount here (unshare -m, mount --bind): {probe.stderr}")
        cmd = [unshare, "-m", "sh", "-c", _MOUNT, "sh", str(home), str(mnt), *cli]
        done = subprocess.run(
            [*cmd, "--home", str(mnt), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        return Result(done.returncode, done.stdout, done.stderr, ("--home", str(mnt), *args))
    modes = {p: p.stat().st_mode & 0o777 for p in (home, *home.iterdir())}
    try:
        for p in modes:
            p.chmod(0o500 if p.is_dir() else 0o400)
        done = subprocess.run(
            [*cli, "--home", str(home), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    finally:
        for p, mode in modes.items():
            p.chmod(mode)
    return Result(done.returncode, done.stdout, done.stderr, ("--home", str(home), *args))


def run_mode_bits_hold(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``ccapki --home HOME ARGS`` run so that file mode bits hold: as this user, or, as
    root, with the capabilities that pass them dropped (``setpriv``; fails under CI
    without it). The environment is this process's."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        caps = "-dac_override,-dac_read_search,-fowner"
        prefix = [require_tool("setpriv"), f"--bounding-set={caps}", f"--inh-caps={caps}", "--"]
    return subprocess.run(
        [*prefix, sys.executable, "-m", "ccapki", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
