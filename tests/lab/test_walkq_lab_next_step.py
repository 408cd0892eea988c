"""Walkthrough Q: ``ccapki lab status`` of a CAS the CAM no longer connects to (its
certificate expired, a trust store lacking a root: the FAQ's "Not connected" after a
certificate change) printed "cas-x: Not connected <TLS error>" and nothing about what to
do; it now says where the cause and the fix are, and how the lab takes the fix."""

from __future__ import annotations

import datetime as dt

from kit.certs import utcnow
from kit.cli import Cli
from kit.lab import SHORT, LabFactory


def test_not_connected_names_the_next_step(cli: Cli, make_lab: LabFactory) -> None:
    lab = make_lab(short=True, apply_now=utcnow() - dt.timedelta(days=2))
    r = cli("lab", "status", home_dir=lab.home)
    assert r.code == 1, r.both
    lines = r.out.splitlines()
    down = [line for line in lines if line.startswith(f"{SHORT}: Not connected")]
    assert down, r.out
    assert down[0].startswith(f"{SHORT}: Not connected: "), r.out
    nxt = [line for line in lines if line.startswith("next: ")]
    assert len(nxt) == 1, r.out
    assert "`ccapki trust check`" in nxt[0], nxt
    assert "`ccapki lab reload`" in nxt[0], nxt
