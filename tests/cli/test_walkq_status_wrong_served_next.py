"""Walkthrough Q: ``ccapki status`` after a renewal not yet installed (the last probe saw
the older certificate: STALE) ended "summary: 4 wrong certificates served" and said
nothing of what to do; a ``next:`` line (before the summary, which stays last) now names
the identities and the way to put their current certificate in place."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ccapki.store import Store
from ccapki.store.records import ProbeRecord, ProbeVerdict
from kit.certs import NOW
from kit.cli import FAQ, Cli, ok


def _probe(appliance: str, verdict: ProbeVerdict, leaf: str, ident: str) -> ProbeRecord:
    at = NOW - dt.timedelta(hours=1)
    return ProbeRecord(
        appliance, "agent", "127.0.0.9:8443", at, verdict, leaf_sha256=leaf, identity=ident
    )


def test_wrong_served_names_the_next_step(cli: Cli, keyfile_store: Path) -> None:
    ok(cli("apply", FAQ))
    with Store.open(keyfile_store) as store:
        cur = store.identities.current()
        store.probes.add(
            [
                _probe("cas-clinic", ProbeVerdict.STALE, "ab" * 32, "cas-clinic"),
                _probe("cas-dorm-b", ProbeVerdict.HA_MISMATCH, "cd" * 32, "cas-dorm"),
                _probe(
                    "cas-dorm-a", ProbeVerdict.EXPECTED, cur["cas-dorm"].fingerprint, "cas-dorm"
                ),
            ]
        )
    r = cli("status")
    assert r.code == 1, r.both
    lines = r.out.splitlines()
    assert lines[-1].startswith("summary: 2 wrong certificates served"), r.out
    nxt = [line for line in lines if line.startswith("next: ")]
    assert len(nxt) == 1, r.out
    assert "cas-clinic, cas-dorm" in nxt[0]
    assert "`ccapki export NAME`" in nxt[0]
    assert "`ccapki probe`" in nxt[0]


def test_no_next_line_when_all_served_right(cli: Cli, keyfile_store: Path) -> None:
    ok(cli("apply", FAQ))
    assert "next: " not in ok(cli("status")).out
