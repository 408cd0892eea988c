"""``ccapki watch --once --no-probe`` said "ok: N certificates fine, 0 in a warning stage"
while ``ccapki status`` exited 1 for wrong certificates the last probe saw: the watcher
counted status's items without their endpoints. It now counts as status does: the wrong
certificates served at the last probe are in its line and its JSON (with the exit code
``status`` gives), and a run with none says nothing of them."""

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


def test_watch_counts_the_wrong_certificates_status_exits_1_for(
    cli: Cli, keyfile_store: Path
) -> None:
    ok(cli("apply", FAQ))
    clean = ok(cli("watch", "--once", "--no-probe"))
    assert "faq-campus: ok:" in clean.out, clean.out
    assert "wrong" not in clean.out, clean.out
    assert (
        ok(cli("watch", "--once", "--no-probe", "--json")).json()["runs"][0]["status_exit_code"]
        == 0
    )

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
    st = cli("status")
    assert st.code == 1, st.both
    assert "2 wrong certificates served" in st.out.splitlines()[-1], st.out

    r = ok(cli("watch", "--once", "--no-probe"))  # the run did its work: exit 0
    line = next(x for x in r.out.splitlines() if x.startswith("faq-campus: "))
    assert "2 wrong certificates served at the last probe" in line, r.out
    run = ok(cli("watch", "--once", "--no-probe", "--json")).json()["runs"][0]
    assert run["wrong_served"] == 2, run
    assert run["status_exit_code"] == st.code == 1, run
