"""Reading a SQLite store without SQLAlchemy (issue 9: a command on the store within 3.5x
the import of cryptography.x509; SQLAlchemy's import alone is ~3x).

:meth:`Store.open` on a store's SQLite file at this ccapki's schema reads through sqlite3's
own connection (``PRAGMA query_only``) and makes the SQLAlchemy engine when something
writes, reads inside a transaction or snapshot, or reads from another thread. These tests
prove both paths read the same records, that the reader never writes, and that reads
after a write see it.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ccapki.errors import StoreError
from ccapki.store import Store
from ccapki.store.records import ProbeRecord, ProbeVerdict
from kit.cli import FAQ, CliRunner

pytestmark = pytest.mark.sqlite_only  # the sqlite3 reader is the SQLite file's


@pytest.fixture
def faq_home(cli: CliRunner, home: Path) -> Path:
    assert cli("init", "--key-file").code == 0
    assert cli("apply", str(FAQ)).code == 0
    assert cli("csr", "cas-dorm", "--out", str(home.parent / "dorm.csr")).code == 0  # pending
    with Store.open(home) as store:  # two probes of one endpoint, one of another
        cam = store.identities.get("cam")
        assert cam is not None
        at = cam.created_at
        seen = ProbeRecord(
            "cam-a",
            "control",
            "10.0.0.1:443",
            at,
            ProbeVerdict.EXPECTED,
            protocol="TLSv1.2",
            leaf_sha256=cam.fingerprint,
            chain_pem="x",
            identity="cam",
            version=1,
            latency_ms=3,
        )
        store.probes.add(
            [
                seen,
                replace(
                    seen,
                    kind="gui",
                    verdict=ProbeVerdict.UNREACHABLE,
                    leaf_sha256=None,
                    chain_pem=None,
                    protocol=None,
                ),
            ]
        )
        store.probes.add([replace(seen, at=at + dt.timedelta(hours=1))])
    return home


def _reads(store: Store) -> dict[str, object]:
    """What the reading commands read, through the store's repositories."""
    return {
        "names": store.deployments.names(),
        "latest": store.deployments.latest(),
        "keys": store.keys.list(),
        "active keys": store.keys.list(state=store.keys.list()[0].state),
        "keys of cam": store.keys.list(identity="cam"),
        "has": store.keys.has(store.keys.list()[0].fingerprint),
        "has not": store.keys.has("00" * 32),
        "current": store.identities.current(),
        "cam": store.identities.get("cam"),
        "nobody": store.identities.get("nobody"),
        "history": store.identities.history("cam"),
        "chain": store.identities.chain_certificates(),
        "cas": store.cas.list(),
        "cas by kind": store.cas.list(kind=store.cas.list()[0].kind),
        "ca names": store.cas.names_by_key(),
        "trust all": store.trust.all(),
        "trust cam-a": store.trust.entries("cam-a"),
        "trust nowhere": store.trust.entries("nowhere"),
        "token keys": store.token_keys.list(),
        "schema": store.schema_moved(),
        "facts": store.identities.current_facts(),
        "chain fps": store.identities.current_chain_fingerprints(),
        "csrs": store.csrs.list(),
        "csrs of cam": store.csrs.list("cam"),
        "probes": store.probes.latest(),
        "probes without chains": store.probes.latest(chains=False),
        "in a list": store.rows(
            "SELECT identity FROM certificates WHERE identity IN :names ORDER BY identity",
            {"names": ["cam", "cas-dorm", "nobody"]},
        ),
        "in no list": store.rows("SELECT identity FROM keys WHERE identity IN :n", {"n": []}),
    }


def test_the_reader_and_the_engine_read_the_same(faq_home: Path) -> None:
    with Store.open(faq_home) as store:
        assert store._reader is not None  # opened on the file at this schema: the reader
        fast = _reads(store)
        assert store._engine is None  # ...and nothing above needed SQLAlchemy
        with store.read_snapshot():  # inside a snapshot: the engine's connection
            slow = _reads(store)
        assert store._engine is not None
    assert fast == slow
    # the rows are there (not two empty answers)
    assert len(fast["current"]) == 6  # type: ignore[arg-type]
    assert fast["trust cam-a"]
    assert not fast["trust nowhere"]
    assert fast["keys of cam"]
    assert fast["history"]
    assert fast["in a list"] == [("cam",), ("cas-dorm",)]
    assert fast["in no list"] == []
    assert fast["csrs"]
    assert not fast["csrs of cam"]
    probes = fast["probes"]
    assert isinstance(probes, list)
    assert [p.kind for p in probes] == ["control", "gui"]
    assert probes[0].at - probes[0].since == dt.timedelta(hours=1)  # kept from the first
    assert probes[1].since is None  # nothing presented
    assert probes[0].chain_pem == "x"
    assert fast["probes without chains"][0].chain_pem is None  # type: ignore[index]
    assert fast["nobody"] is None
    assert fast["has"]
    assert not fast["has not"]
    # datetimes come back aware, in UTC, on both paths
    keys = fast["keys"]
    assert isinstance(keys, list)
    assert all(k.created_at.utcoffset() is not None for k in keys)


def test_reads_outside_a_transaction_load_no_sqlalchemy(faq_home: Path) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from ccapki.store import Store\n"
        f"with Store.open(Path({str(faq_home)!r})) as s:\n"
        "    assert len(s.identities.current()) == 6\n"
        "    assert s.keys.list() and s.cas.list() and s.trust.all()\n"
        "    assert s.deployments.latest() is not None\n"
        "    assert s.keyring is not None  # the key file's data key: meta read too\n"
        "    print('sqlalchemy' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCAPKI_")}
    r = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_the_reader_never_writes(faq_home: Path) -> None:
    with Store.open(faq_home) as store:
        assert store.rows("PRAGMA query_only") == [(1,)]
        reader = store._reader
        assert reader is not None
        import sqlite3

        with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only|query_only"):
            reader.execute("DELETE FROM audit")


def test_reads_after_a_write_see_it(faq_home: Path) -> None:
    with Store.open(faq_home) as store:
        before = store.deployments.names()
        assert store.deployments.record("second", "[deployment]\n", None)  # the engine writes
        assert store._reader is not None  # ...and the reader reads on
        assert store.deployments.names() == sorted([*before, "second"])
        with store.transaction():
            store.deployments.record("third", "[deployment]\n", None)
            # inside the transaction: its own connection sees the row not yet committed
            assert "third" in store.deployments.names()
        assert "third" in store.deployments.names()


def test_another_thread_reads_through_the_engine(faq_home: Path) -> None:
    with Store.open(faq_home) as store:
        here = store.keys.list()
        there: list[object] = []
        worker = threading.Thread(target=lambda: there.append(store.keys.list()))
        worker.start()
        worker.join(30)
        assert store._engine is not None  # the other thread did not use sqlite3's connection
        assert there == [here]


def test_a_store_of_an_older_schema_is_refused_as_before(faq_home: Path) -> None:
    import sqlite3

    con = sqlite3.connect(faq_home / "ccapki.db")
    con.execute("UPDATE alembic_version SET version_num = '0009_deployment_facts'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="older than this ccapki's"):
        Store.open(faq_home)


def test_threads_that_need_the_engine_at_once_share_one(faq_home: Path) -> None:
    # a server forks the store in each request's thread: the first requests made one
    # engine each (a pool left undisposed) before the engine was made under a lock
    with Store.open(faq_home) as store:
        assert store._engine is None
        make = store._connect
        assert make is not None

        def slow() -> Any:  # the engine made as on a loaded machine (a thread switch in it)
            time.sleep(0.05)
            return make()

        store._connect = slow
        start = threading.Barrier(8)
        engines: list[object] = []

        def fork() -> None:
            start.wait(10)
            engines.append(store.fork().engine)

        workers = [threading.Thread(target=fork) for _ in range(8)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(30)
        assert len(engines) == 8
        assert all(e is store.engine for e in engines)
