"""Expiry in words, the one way every command says it (``renew``, ``probe``, ``inspect``,
``status``, the notifications): whole units rounded down, in hours within 24 hours (never
"today" of another calendar day), in days beyond, agreeing with the days left the tables
show (:func:`ccapki.pki.certs.days_left`: 0 in the last day, -1 in the first day after).
Pure; imports nothing heavy (``status`` reads without cryptography)."""

from __future__ import annotations

import datetime as dt

__all__ = [
    "ca_successor_reason",
    "expiry_on_words",
    "expiry_stamp",
    "expiry_words",
    "span_words",
]

_DAY = dt.timedelta(days=1)
_HOUR = dt.timedelta(hours=1)
_MINUTE = dt.timedelta(minutes=1)


def span_words(span: dt.timedelta, *, short: bool = False) -> str:
    """Return a time span in whole units, rounded down: ``"2 days"`` from a day on,
    ``"16 hours"`` below a day, ``"40 minutes"`` below an hour (``short``: ``"2d"``,
    ``"16h"``, ``"40m"``). A negative span counts as its length. Raises nothing."""
    span = abs(span)
    for unit, word in ((_DAY, "day"), (_HOUR, "hour"), (_MINUTE, "minute")):
        if span >= unit or unit == _MINUTE:
            n = span // unit
            return f"{n}{word[0]}" if short else f"{n} {word}{'' if n == 1 else 's'}"
    raise AssertionError("unreachable")  # pragma: no cover


def expiry_stamp(not_after: dt.datetime, now: dt.datetime) -> str:
    """Return when a certificate expires as the words about it name it: the date
    (``2027-12-12``), with the time when it is within 24 hours of ``now``
    (``2027-11-29 17:00 UTC``: the date alone would read as another day). Raises nothing."""
    end = not_after.astimezone(dt.UTC)
    if abs(end - now) < _DAY:
        return f"{end:%Y-%m-%d %H:%M} UTC"
    return f"{end:%Y-%m-%d}"


def expiry_words(not_after: dt.datetime, now: dt.datetime) -> str:
    """Return whether and when a certificate expires, seen at ``now``: ``"expired 2 days
    ago"``, ``"expired 16 hours ago"``, ``"expires in 5 hours"``, ``"expires in 12 days"``
    (:func:`span_words`; expired once ``now`` is past ``not_after``, as the days left are
    negative). Raises nothing."""
    if not_after < now:
        return f"expired {span_words(now - not_after)} ago"
    return f"expires in {span_words(not_after - now)}"


def expiry_on_words(not_after: dt.datetime, now: dt.datetime) -> str:
    """Return ``"expires on 2027-12-12, in 12 days"`` or ``"expired on 2027-11-29 17:00 UTC
    (16 hours ago)"`` (:func:`expiry_stamp`, :func:`span_words`): how ``renew`` says it.
    Raises nothing."""
    date = expiry_stamp(not_after, now)
    if not_after < now:
        return f"expired on {date} ({span_words(now - not_after)} ago)"
    return f"expires on {date}, in {span_words(not_after - now)}"


def ca_successor_reason(
    name: str,
    not_after: dt.datetime,
    now: dt.datetime,
    validity_days: int,
    window: dt.timedelta | None = None,
) -> str | None:
    """Return why the CA ``name`` (valid until ``not_after``) needs a successor before it
    signs a certificate valid ``validity_days`` from ``now``, in words; None when it can
    sign one. It needs one inside its renewal ``window`` (None: not judged) or expired, or
    when it would expire before such a certificate (a CA must outlive what it signs). The
    one rule of ``renew`` (which makes the successor) and ``status`` (which warns ahead).
    Raises nothing."""
    if window is not None and not_after - now <= window:
        return f"{name} {expiry_on_words(not_after, now)}, inside its renewal window"
    until = now + dt.timedelta(days=validity_days)
    if not_after < until:
        return (
            f"{name} expires on {not_after:%Y-%m-%d}, before certificates renewed now would "
            f"({until:%Y-%m-%d})"
        )
    return None
