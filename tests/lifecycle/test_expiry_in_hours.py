"""Expiry within 24 hours is said in hours, alike in every command (a walkthrough found a
certificate that expired 2027-11-29 17:00 UTC called "expired today (2027-11-29)" in the
webhook and the status note at 2027-11-30 09:00 UTC, while the DAYS column said -1)."""

from __future__ import annotations

import datetime as dt

from cryptography import x509

from ccapki.cli.inspect import _validity
from ccapki.lifecycle.notify import expiry_notices
from ccapki.lifecycle.probing import _expiry
from ccapki.lifecycle.renew import _when
from ccapki.lifecycle.status import CsrFact, DeploymentFacts, StatusReport, build_report
from ccapki.pki.expiry import expiry_words, span_words
from ccapki.pki.inspect import describe
from ccapki.store.identities import CurrentFact
from kit.certs import mint

END = dt.datetime(2027, 11, 29, 17, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def _cert() -> tuple[x509.Certificate, dt.datetime]:
    cert = mint("cas.example.org", start=END - 30 * DAY, days=30, now=END - 30 * DAY).cert
    assert cert.not_valid_after_utc == END
    return cert, END


def _report(now: dt.datetime) -> StatusReport:
    fact = CurrentFact("cas", 1, "ab" * 32, "spki-cas", END, "internal")
    csr = CsrFact("cas", "cd" * 32, END - 10 * DAY)
    return build_report([DeploymentFacts("d", identities=(fact,), csrs=(csr,))], now)


def test_expired_yesterday_evening_is_16_hours_ago_not_today() -> None:
    cert, _end = _cert()
    now = dt.datetime(2027, 11, 30, 9, 0, tzinfo=dt.UTC)
    report = _report(now)
    (item,) = [i for i in report.items if i.kind == "identity"]
    assert (item.days_left, item.stage) == (-1, "expired")  # DAYS: within the day after
    (csr,) = [i for i in report.items if i.kind == "csr"]
    words = "expired 16 hours ago (2027-11-29 17:00 UTC)"
    assert f"the current certificate {words}" in csr.note
    (notice,) = expiry_notices(report.items, now)
    assert f"{words} [expired]" in notice.text
    assert _when(cert, now) == "expired on 2027-11-29 17:00 UTC (16 hours ago)"
    assert _expiry(cert, now) == "expired 2027-11-29 17:00 UTC (16 hours ago)"
    assert "expired 16h ago" in _validity(describe(cert, now=now), now)
    texts = [csr.note, notice.text, _when(cert, now), _expiry(cert, now)]
    assert not [t for t in texts if "today" in t]


def test_in_its_last_hours_it_expires_in_hours() -> None:
    cert, end = _cert()
    now = end - 5 * HOUR
    report = _report(now)
    (item,) = [i for i in report.items if i.kind == "identity"]
    assert item.days_left == 0
    (notice,) = expiry_notices(report.items, now)
    assert "expires in 5 hours (2027-11-29 17:00 UTC) [7-day warning]" in notice.text
    assert _when(cert, now) == "expires on 2027-11-29 17:00 UTC, in 5 hours"
    assert _expiry(cert, now) == "expires 2027-11-29 17:00 UTC (5 hours)"
    assert "valid, [yellow]5h[/yellow] left" in _validity(describe(cert, now=now), now)


def test_beyond_a_day_the_words_stay_whole_days() -> None:
    cert, end = _cert()
    now = end + 2 * DAY + 5 * HOUR
    (notice,) = expiry_notices(_report(now).items, now)
    assert "expired 2 days ago (2027-11-29) [expired]" in notice.text
    assert _when(cert, now) == "expired on 2027-11-29 (2 days ago)"
    assert _when(cert, end - 12 * DAY - HOUR) == "expires on 2027-11-29, in 12 days"
    assert expiry_words(end, end + 40 * dt.timedelta(minutes=1)) == "expired 40 minutes ago"
    assert span_words(DAY) == "1 day"
    assert span_words(HOUR) == "1 hour"
