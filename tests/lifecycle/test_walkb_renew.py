"""Walkthrough B, renewal dry run: a self-signed identity (CCA 4.7.2's 3-month kind) renewed
needs its new certificate in the peers' trust stores first, and the plan said "add ...
[SHA-256 c44e4e3f73c513c5, expires <tomorrow>]": the preview was made on a throwaway key
for one day, so the fingerprint matched nothing ``--commit`` made and the expiry was a day
away. The step now says it is the certificate ``--commit`` makes, with its real expiry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from kit.certs import NOW
from kit.cli import CliRunner, ok, standalone

from .conftest import deployment
from .test_renew import steps


def test_a_self_signed_renewal_plan_shows_the_new_certificates_real_expiry(
    cli: CliRunner, deployed: Callable[[str], Path]
) -> None:
    deployed(
        deployment(
            release="4.7.2",
            source="self-signed",
            cam=standalone("cam", "10.0.0.1"),
            cas=[standalone("cas-one", "10.6.0.1")],
        )
    )
    out = ok(cli("renew", "cas-one")).out
    adds = [text for order, text in steps(out) if order == 1]
    assert adds, out
    expires = (NOW + dt.timedelta(days=90)).date()  # 4.7.2: 90 days, as the plan says
    for text in adds:
        assert text.startswith("add the CAS cas-one's certificate (true self-signed) to CAM cam")
        assert text.endswith(f"[the new certificate --commit makes, expires {expires}]"), text
        assert "SHA-256" not in text
    assert "valid 90 days" in out
