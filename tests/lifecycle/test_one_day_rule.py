"""One rule for days, in every command (a walkthrough found `status` saying -3 days and
`renew` "2 days ago" of one certificate expired two days and a few hours before): the
number of days left is rounded down (0 in the last day, -1 in the first day after
expiry, so "negative" and "expired" are one thing), and the words say whole days since
it expired ("2 days ago"), within 24 hours whole hours ("5 hours ago", never "today": at
09:00 a certificate that expired at 17:00 the day before did not expire today), as
:mod:`ccapki.pki.expiry` words it for every command."""

from __future__ import annotations

import datetime as dt

import pytest

from ccapki.cli.inspect import _validity
from ccapki.lifecycle import status
from ccapki.lifecycle.notify import expiry_notices
from ccapki.lifecycle.probing import _expiry
from ccapki.lifecycle.renew import _when
from ccapki.lifecycle.status import CsrFact, DeploymentFacts, build_report
from ccapki.pki import certs
from ccapki.pki.inspect import describe
from ccapki.store.identities import CurrentFact
from kit.certs import NOW, mint

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("after", "left", "words"),
    [
        (5 * HOUR, -1, "5 hours ago"),
        (2 * DAY + 5 * HOUR, -3, "2 days ago"),
        (2 * DAY, -2, "2 days ago"),
        (DAY + HOUR, -2, "1 day ago"),
    ],
)
def test_every_command_counts_an_expired_certificate_alike(
    after: dt.timedelta, left: int, words: str
) -> None:
    cert = mint("cas.example.org", days=30).cert
    end = cert.not_valid_after_utc
    now = end + after
    # the number: the same rounding in the certificate helpers and in status
    assert certs.days_left(cert, now) == left
    assert status.days_left(end, now) == left
    # the words
    assert f"({words})" in _when(cert, now)  # renew
    assert f"({words})" in _expiry(cert, now)  # probe
    fact = CurrentFact("cas", 1, "ab" * 32, "spki-cas", end, "internal")
    report = build_report(
        [DeploymentFacts("d", identities=(fact,), csrs=(CsrFact("cas", "cd" * 32, NOW),))], now
    )
    (item,) = [i for i in report.items if i.kind == "identity"]
    assert (item.days_left, item.stage) == (left, "expired")
    (csr,) = [i for i in report.items if i.kind == "csr"]
    assert f"the current certificate expired {words}" in csr.note
    (notice,) = expiry_notices(report.items, now)
    assert f"expired {words} (" in notice.text
    info = describe(cert, now=now)
    short = words.split()[0] + words.split()[1][0] + " ago"  # 5h ago, 2d ago
    assert f"expired {short}" in _validity(info, now)


def test_in_its_last_day_a_certificate_has_0_days_left_everywhere() -> None:
    cert = mint("cas.example.org", days=30).cert
    now = cert.not_valid_after_utc - 5 * HOUR
    assert certs.days_left(cert, now) == 0
    assert status.days_left(cert.not_valid_after_utc, now) == 0
    assert "in 5 hours" in _when(cert, now)
