"""Issue 13: a signal that lands inside a PostgreSQL statement of a bulk ``apply`` still says
how many identities were kept.

psycopg sends a bulk insert as a pipeline; a SIGINT/SIGTERM handled while it waits for the
server's answer leaves the driver unable to end the pipeline ("cannot exit pipeline mode
while busy"), and that driver error, not the interruption, is what leaves the statement.
The test makes that moment certain, not lucky: a trigger on the store's ``audit`` table
(apply's last bulk insert of a batch, small enough to be sent whole) waits for an advisory
lock the test holds, once a batch of identities was committed before; so the signal comes
while apply's second batch waits for its insert's answer. The interrupted run must exit
128 + signal and say "N of M identities were kept", N being what the store holds.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from kit.cli import deployment, standalone, write
from kit.jobs import pg_schema, wait_for
from kit.storecheck import check_store

EXE = shutil.which("ccapki", path=str(Path(sys.executable).parent))
TOTAL = 600
KEPT = re.compile(r"hint: (\d+) of (\d+) identities were kept; run the command again to finish")


def _bulk(total: int) -> str:
    cas = [standalone(f"cas{i}", f"10.{16 + i // 250}.{i % 250}.1") for i in range(total - 1)]
    return deployment(cas=cas)


def _ccapki(home: Path, url: str, *args: str) -> subprocess.Popen[str]:
    assert EXE is not None
    return subprocess.Popen(
        [EXE, "--home", str(home), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CCAPKI_DATABASE_URL": url},
        start_new_session=True,
    )


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_signal_inside_a_pipelined_insert_still_says_what_was_kept(
    tmp_path: Path, how: signal.Signals
) -> None:
    path = write(tmp_path / "bulk.toml", _bulk(TOTAL))
    home = tmp_path / "store"
    lock = random.SystemRandom().randrange(1, 2**31)  # tests on one database at once
    with pg_schema() as url:
        init = _ccapki(home, url, "init", "--key-file")
        _out, err = init.communicate(timeout=120)
        assert init.returncode == 0, err
        engine = create_engine(url)
        holder = engine.connect()
        try:
            with engine.begin() as c:
                # an issue row, once certificates were committed by an earlier
                # transaction (apply's first batch), waits for the lock the test holds
                c.execute(
                    text(
                        "CREATE FUNCTION hold_issue() RETURNS trigger LANGUAGE plpgsql AS $$ "
                        "BEGIN IF EXISTS (SELECT 1 FROM certificates "
                        "WHERE xmin <> pg_current_xact_id()::xid) THEN "
                        f"PERFORM pg_advisory_xact_lock_shared({lock}); END IF; "
                        "RETURN NEW; END $$"
                    )
                )
                c.execute(
                    text(
                        "CREATE TRIGGER hold_issue BEFORE INSERT ON audit FOR EACH ROW "
                        "WHEN (NEW.action = 'issue') EXECUTE FUNCTION hold_issue()"
                    )
                )
            holder.execute(text(f"SELECT pg_advisory_lock({lock})"))
            holder.commit()
            proc = _ccapki(home, url, "apply", str(path))
            try:

                def waiting() -> bool:
                    assert proc.poll() is None, proc.communicate()
                    with engine.connect() as c:
                        return bool(
                            c.execute(
                                text(
                                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                    "AND NOT granted AND objid = :k AND objsubid = 1"
                                ),
                                {"k": lock},
                            ).scalar_one()
                        )

                wait_for(waiting, "apply's second batch to wait inside its insert")
                os.kill(proc.pid, how)
                try:
                    _out, err = proc.communicate(timeout=10)
                except subprocess.TimeoutExpired:  # still sending: the server must read on
                    holder.execute(text(f"SELECT pg_advisory_unlock({lock})"))
                    holder.commit()
                    _out, err = proc.communicate(timeout=120)
            finally:
                holder.rollback()
                holder.execute(text("SELECT pg_advisory_unlock_all()"))
                holder.commit()
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.communicate()
            with engine.begin() as c:
                c.execute(text("DROP TRIGGER hold_issue ON audit"))
            facts = check_store(home, url)  # whole identities only, each key with its certificate
            held = len(facts.versions)
        finally:
            holder.close()
            engine.dispose()
        assert "Traceback" not in err, err
        assert proc.returncode == 128 + how, err
        lines = err.strip().splitlines()
        assert lines[0] == f"error: interrupted ({how.name})", err
        kept = KEPT.fullmatch(lines[1])
        assert kept, err
        assert 0 < held < TOTAL
        assert (int(kept.group(1)), int(kept.group(2))) == (held, TOTAL), err
