"""Walkthrough item 1: ``verify --live`` under ``CCAPKI_NOW``.

The live handshakes run on the machine's clock and cannot be moved; judging the offline side
at the what-if time made every cell "disagree" and blamed ccapki ("ccapki bug", exit 3).
``verify --live`` refuses ``CCAPKI_NOW`` with an error and a hint (exit 2) before it probes
anything; the same lab verified on the real clock agrees in every cell.
"""

from __future__ import annotations

import datetime as dt

from kit.certs import utcnow
from kit.cli import Cli, error_with_hint
from kit.lab import LabFactory, assert_all_pass


def test_verify_live_refuses_the_what_if_clock(cli: Cli, make_lab: LabFactory) -> None:
    lab = make_lab()
    later = (utcnow() + dt.timedelta(days=3 * 365)).replace(microsecond=0).isoformat()
    for extra in ((), ("--json",)):
        r = error_with_hint(
            cli("verify", "--live", *extra, env={**lab.env, "CCAPKI_NOW": later}, home_dir=lab.home)
        )
        assert "ccapki bug" not in r.both, r.both
        assert r.out == "", r.out  # nothing probed, no table, no JSON
        first, hint = r.err.splitlines()[:2]
        assert f"CCAPKI_NOW={later}" in first, first
        assert "real clock" in first, first
        assert hint.startswith("hint: unset CCAPKI_NOW for verify --live"), hint
        assert f"CCAPKI_NOW={later} ccapki trust check" in hint, hint
    # the same lab on the real clock: live and offline agree everywhere
    code, doc = lab.verify(cli)
    assert_all_pass(code, doc)
