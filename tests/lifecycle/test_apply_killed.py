"""Issue 11 item 5: a bulk ``apply`` keeps what it finished when it is killed.

``apply`` commits in batches, each identity whole (its certificate with its key). Real
``ccapki apply`` processes of a 1,500-identity deployment (ECDSA P-256, HA pairs among
them) are killed at 50+ random points: mostly SIGKILL (of apply alone, or of its whole
process group), some SIGINT (Ctrl-C, to the group) and SIGTERM. After each kill the store
is checked (:func:`kit.storecheck.check_store`: integrity, versions, no certificate without
its key, every key decrypts and matches its certificate, the audit log); an interrupted run
says how many identities it kept, and that is what the store gained. The next run goes on
where the killed one stopped, and a last run completes everything.

A terminal gets a progress bar on standard error; a pipe and ``--json`` get none.
"""

from __future__ import annotations

import contextlib
import os
import pty
import random
import re
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from ccapki.store import Store
from kit.cli import deployment, ha_pair, standalone, write
from kit.pgmode import BACKEND, store_url
from kit.signals import handling
from kit.storecheck import check_store

DB = "ccapki.db"
EXE = shutil.which("ccapki", path=str(Path(sys.executable).parent))
HA_PAIRS = 20
TOTAL = 1500  # identities: the CAM, the HA pairs and standalone CAS
KILLS = 52
KEPT = re.compile(r"hint: (\d+) of (\d+) identities were kept; run the command again to finish")


def _bulk(total: int, ha_pairs: int = 0) -> str:
    cas = [ha_pair(f"ha{i}", f"10.5.{i}") for i in range(ha_pairs)]
    n = total - 1 - ha_pairs
    cas += [standalone(f"cas{i}", f"10.{16 + i // 250}.{i % 250}.1") for i in range(n)]
    return deployment(cas=cas)


def _ccapki(
    home: Path, *args: str, stdout: object = subprocess.PIPE, stderr: object = subprocess.PIPE
) -> subprocess.Popen[str]:
    assert EXE is not None
    env = dict(os.environ)
    if BACKEND == "postgresql":  # the store of home: its schema
        env["CCAPKI_DATABASE_URL"] = store_url(home)
        env["PGAPPNAME"] = _app_name(home)  # libpq's: its sessions are told apart
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [EXE, "--home", str(home), *args],
        stdout=stdout,
        stderr=stderr,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, as a shell job is
    )


def _init(home: Path) -> None:
    p = _ccapki(home, "init", "--key-file")
    _out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err


def _reap(proc: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=600)  # generous: CI machines may be busy
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything left of the group
        proc.communicate()  # reap it and close its pipes


def _app_name(home: Path) -> str:
    """The application name the ccapki processes on ``home`` give PostgreSQL."""
    return f"ccapki-killed-{home.name}-{os.getpid()}"


def _settled(home: Path) -> None:
    """On PostgreSQL, until no session of a ccapki run on ``home`` is left: a client
    killed (SIGKILL) just after it sent COMMIT leaves the server to finish that commit on
    its own, a moment after the client is gone; the store is read once it has (seen once:
    the next run's count included the batch the killed one had committed)."""
    if BACKEND != "postgresql":
        return
    engine = create_engine(store_url(home))
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            with engine.connect() as c:
                others = c.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :n"),
                    {"n": _app_name(home)},
                ).scalar_one()
            if not others:
                return
            time.sleep(0.05)
    finally:
        engine.dispose()


def _wait_for(home: Path, count: int, proc: subprocess.Popen[str]) -> None:
    """Until the store holds ``count`` certificates (or apply ends): the kill points follow
    apply's progress, however loaded the machine is."""
    deadline = time.monotonic() + 120
    if BACKEND == "postgresql":
        engine = create_engine(store_url(home))
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                with engine.connect() as c, contextlib.suppress(ProgrammingError):  # not made yet
                    if c.execute(text("SELECT count(*) FROM certificates")).scalar_one() >= count:
                        return
                time.sleep(0.02)
        finally:
            engine.dispose()
        return
    while proc.poll() is None and time.monotonic() < deadline:
        uri = f"{(home / DB).as_uri()}?mode=ro"
        with (
            contextlib.closing(sqlite3.connect(uri, uri=True)) as c,
            contextlib.suppress(sqlite3.OperationalError),  # not made yet
        ):
            if c.execute("SELECT count(*) FROM certificates").fetchone()[0] >= count:
                return
        time.sleep(0.02)


@pytest.mark.slow
def test_apply_killed_at_random_points_keeps_whole_identities(tmp_path: Path) -> None:
    path = write(tmp_path / "bulk.toml", _bulk(TOTAL, HA_PAIRS))
    seed = int(os.environ.get("CCAPKI_TEST_SEED") or random.SystemRandom().randrange(10**6))
    rng = random.Random(seed)
    kills: dict[str, int] = {}
    #: where the kills landed: before anything was kept, part kept, all kept (trust stores
    #: or the report were left)
    landed = {"none kept": 0, "part kept": 0, "all kept": 0}
    survived = stores = completed = 0
    # the kill points follow apply's progress (how many identities the store holds), so
    # they spread over its batches however fast or loaded the machine is; a store's last
    # kill often lands after its last batch (filling the trust stores, reporting)
    while survived < KILLS:
        stores += 1
        home = tmp_path / f"store{stores}"
        _init(home)
        held = 0
        while True:
            proc = _ccapki(home, "apply", str(path), stdout=subprocess.DEVNULL)
            if rng.random() < 0.2:  # early: starting, planning, making the CAs
                handling(proc)  # a signal before it is the system's or Python's
                time.sleep(rng.uniform(0.0, 0.95))
            else:  # once the store holds a random number of identities, a moment later
                _wait_for(home, rng.randint(held + 1, TOTAL), proc)
                time.sleep(rng.uniform(0.0, 0.05))
            how = rng.choices(["KILL", "KILL-group", "INT", "TERM"], [5, 2, 2, 2])[0]
            if proc.poll() is None:
                if how == "KILL":
                    os.kill(proc.pid, signal.SIGKILL)  # apply alone: its workers follow it
                elif how == "KILL-group":
                    os.killpg(proc.pid, signal.SIGKILL)
                elif how == "INT":
                    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole group
                else:
                    os.kill(proc.pid, signal.SIGTERM)
            _out, err = _reap(proc)
            assert "Traceback" not in err, f"seed {seed}, SIG{how}: {err}"
            _settled(home)
            facts = check_store(home)
            assert set(facts.versions.values()) <= {1}, f"seed {seed}: an identity was issued twice"
            gained = len(facts.versions) - held
            if proc.returncode == 0:  # it finished before the signal
                assert len(facts.versions) == TOTAL, f"seed {seed}"
                completed += 1
                break
            survived += 1
            kills[how] = kills.get(how, 0) + 1
            if how in ("INT", "TERM"):
                assert proc.returncode == (130 if how == "INT" else 143), (
                    f"seed {seed}, SIG{how}: {err}"
                )
                lines = err.strip().splitlines()
                assert lines[0] == f"error: interrupted (SIG{how})", f"seed {seed}, SIG{how}: {err}"
                kept = KEPT.fullmatch(lines[1])
                if kept:  # interrupted while issuing: what it says it kept is what it kept
                    assert int(kept.group(1)) == gained, f"seed {seed}, SIG{how}: {err}"
                    assert int(kept.group(2)) == TOTAL - held, f"seed {seed}, SIG{how}: {err}"
                else:  # interrupted before it began to issue
                    assert gained == 0, f"seed {seed}: {err}"
                    assert "run the command again" in lines[1], f"seed {seed}, SIG{how}: {err}"
            else:
                assert proc.returncode == -signal.SIGKILL, f"seed {seed}: {err}"
            held = len(facts.versions)
            landed["none kept" if held == 0 else "part kept" if held < TOTAL else "all kept"] += 1
            if survived >= KILLS or held == TOTAL:
                break
    assert landed["part kept"] >= KILLS // 3, (seed, landed)  # most while issuing
    # a last run completes what the last kill left
    proc = _ccapki(home, "apply", str(path))
    _out, err = _reap(proc)
    assert proc.returncode == 0, f"seed {seed}, the last run: {err}"
    facts = check_store(home)
    assert len(facts.versions) == TOTAL, f"seed {seed}"
    assert set(facts.versions.values()) == {1}
    with Store.open(home) as store:
        trusted = store.trust.all()
        assert len(trusted) == TOTAL + HA_PAIRS, "every appliance's trust store is filled"
    print(
        f"\nseed {seed}: {survived} kill points survived of {survived} ({kills}; {landed}); "
        f"{stores} stores, {completed} runs finished before their signal"
    )


def _read_all(fd: int, proc: subprocess.Popen[str]) -> bytes:
    got = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the other side closed
                break
            if not chunk:
                break
            got += chunk
        elif proc.poll() is not None:
            break
    return got


@pytest.mark.skipif(not hasattr(pty, "openpty"), reason="needs a pseudo-terminal")
@pytest.mark.parametrize("as_json", [False, True])
def test_progress_bar_on_a_terminal_only(tmp_path: Path, as_json: bool) -> None:
    home = tmp_path / "store"
    _init(home)
    path = write(tmp_path / "bulk.toml", _bulk(400))
    master, slave = os.openpty()
    report = tmp_path / "stdout.txt"
    try:
        extra = ["--json"] if as_json else []
        with report.open("w") as sink:  # a file: the pseudo-terminal is read meanwhile
            proc = _ccapki(home, "apply", str(path), *extra, stdout=sink, stderr=slave)
            os.close(slave)
            raw = _read_all(master, proc).decode(errors="replace")
            shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw)  # colours, cursor moves
            _reap(proc)
    finally:
        os.close(master)
    out = report.read_text()
    assert proc.returncode == 0, shown
    if as_json:
        assert shown == "", shown
        return
    assert "issuing" in shown, shown
    assert re.search(r"\b400/400\b", shown), shown  # counts
    assert re.search(r"[\d,]+/s", shown), shown  # rate
    assert "issued cas0 v1" in out  # the report itself is on standard output, as before
