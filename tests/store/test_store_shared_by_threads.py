"""One ``Store`` shared by threads: each thread's transactions are its own (docs/api.md:
"processes and threads writing to one store at once never issue an identity twice").

A walkthrough applied one deployment from three threads through one Store: the threads
joined each other's open transaction (one Store held one), so the write lock was taken
once for all three, the store got three internal root CAs and three intermediates, and
one thread died with SQLAlchemy's "This Connection is closed". Now a thread's transaction
is the thread's: the lock makes them take turns, the first applies, the others find
nothing to do."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import ccapki
from ccapki.store import Store
from kit.certs import NOW
from kit.cli import deployment, standalone


def test_threads_applying_through_one_store_issue_once(tmp_path: Path) -> None:
    text = deployment(cas=[standalone(f"cas{i}", f"10.1.{i}.1") for i in range(6)])
    dep = ccapki.parse_deployment(text, "d.toml")
    store = Store.init(tmp_path / "store", key_file=True, clock=lambda: NOW)
    results: list[tuple[str, ...]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def run() -> None:
        try:
            start.wait()
            results.append(ccapki.apply(store, dep, NOW).issued)
        except BaseException as exc:  # said below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        issued = sorted(results, key=len)
        assert [len(r) for r in issued] == [0, 0, 7], issued  # one thread issued them all
        with store.scoped("test"):
            cas = Counter(c.kind for c in store.cas.list())
            versions = {i.version for i in store.identities.current().values()}
            assert len(store.identities.current()) == 7
        assert versions == {1}
        assert cas == Counter({"internal-root": 1, "internal-ca": 1}), cas
    finally:
        store.close()
