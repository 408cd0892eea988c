"""Issue 8 item 16, issue 11 item 5: Ctrl-C and SIGTERM during a bulk ``apply`` (forked
workers).

A real ``ccapki apply`` of a ~600-identity deployment runs as a subprocess; once its worker
processes are issuing, it is interrupted. It must print one ``error: interrupted`` line and
a hint saying how many identities were kept, no traceback, exit 130 (SIGINT) or 143
(SIGTERM) and leave no worker behind; standard output names the CAs and identities kept.
What it committed is kept, each identity whole (its certificate with its key).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ccapki.store import Store
from kit.cli import CliRunner, write
from kit.storecheck import check_store

N = 600


def _deployment(n: int) -> str:
    out = [
        '[deployment]\nname = "bulk"\nrelease = "4.9.1"\nsource = "internal"\nkey = "rsa-2048"\n',
        '[cam]\nname = "cam"\nhostname = "cam.bulk.test"\nip = "10.0.0.1"\n',
    ]
    for i in range(n):
        ip = ipaddress.ip_address(int(ipaddress.ip_address("10.1.0.0")) + i)
        out.append(f'[[cas]]\nname = "cas{i}"\nhostname = "cas{i}.bulk.test"\nip = "{ip}"\n')
    return "\n".join(out)


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="workers need two cores")
@pytest.mark.parametrize(
    ("sig", "code", "name"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "SIGINT")]
)
def test_interrupted_apply_is_clean(
    cli: CliRunner, home: Path, tmp_path: Path, sig: signal.Signals, code: int, name: str
) -> None:
    assert cli("init", "--key-file").code == 0
    path = write(tmp_path / "bulk.toml", _deployment(N))
    exe = shutil.which("ccapki", path=str(Path(sys.executable).parent))
    assert exe is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCAPKI_NOW")}
    proc = subprocess.Popen(
        [exe, "--home", str(home), "apply", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, as a shell job is
    )
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 30
        while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            workers = _children(proc.pid)
        assert len(workers) >= 2, "apply never started its workers"
        time.sleep(1.0)  # let them issue for a second
        assert proc.poll() is None, "apply finished before it could be interrupted"
        if sig is signal.SIGINT:
            os.killpg(proc.pid, sig)  # Ctrl-C: the terminal signals the whole group
        else:
            os.kill(proc.pid, sig)  # `kill PID`: the parent only
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == code, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert lines[0] == f"error: interrupted ({name})", err
    kept = re.fullmatch(
        rf"hint: (\d+) of {N + 1} identities were kept; run the command again to finish",
        lines[1],
    )
    assert kept, err
    assert len(lines) == 2, err
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [w for w in workers if _alive(w)], "worker processes outlived apply"
    # what the hint says was kept is there, whole; nothing else is
    facts = check_store(home)
    assert len(facts.versions) == int(kept.group(1))
    assert set(facts.versions.values()) <= {1}
    with Store.open(home) as store:  # the CAs it made first are kept too
        assert {ca.kind for ca in store.cas.list()} == {"internal-root", "internal-ca"}
        made = sorted(ca.name for ca in store.cas.list())
    # and standard output names them: the CAs, then each identity kept (a walkthrough
    # found "2 of 31 identities were kept" and no word of which)
    said = out.splitlines()
    assert sorted(ln for ln in said if ln.startswith("created CA ")) == [
        f"created CA {n} (kept)" for n in made
    ], out
    named = [ln.removeprefix("issued ").removesuffix(" (kept)") for ln in said if "issued" in ln]
    assert sorted(named) == sorted(facts.versions), out
    # (running it again completes the rest: tests/lifecycle/test_apply_killed.py)
