"""The status report one page at a time, filtered by stage (the service's ``GET /status``).

A :class:`StatusPages` is made once from a :class:`~ccapki.lifecycle.status.StatusReport`
(the service keeps it until the store changes) and answers any page of it cheaply: the
items are put in one total order, by deployment, then by expiry (``not_after``; a CSR
takes its identity's, an item without one comes last), name, kind and fingerprint, and a
page's cursor names the last item it shows (keyset paging). Paging by expiry rather than
by days left keeps the order whatever the day, and a write between two pages neither
repeats nor skips an item that was there before.

The filter (``stage``) names item classes, any of which an item may match:
``expired``, ``critical`` (expired, or an endpoint serving another certificate: the
monitoring plugin's CRITICAL), ``warning`` (any warn stage), a warn stage's number of days
(``30``: the items in that stage), ``missing`` (planned, no certificate yet), ``pending``
(a CSR), ``ok``, ``unused`` (a CA nothing uses any more), ``temporary`` (a release's
install-time certificate), ``wrong`` (an endpoint serving another certificate),
``not-yet-valid`` (a certificate dated ahead: CRITICAL), ``damaged`` (a stored certificate
not the one its row names: CRITICAL, ``ccapki doctor``), ``missing-san`` (a certificate
lacking names the deployment file gives) and ``rollover`` (a CA to get a successor at the
next renewal); the last two are warnings, as ``status``'s counts have them. Every
page carries the whole report's counts and how many items each class holds
(:attr:`StatusPage.stages`), whatever the filter and the page.

Pure: no IO, no clock.
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from ccapki.errors import InputError
from ccapki.lifecycle.cursors import bad_cursor as _bad_cursor
from ccapki.lifecycle.cursors import cursor_strings, cursor_time, opaque_cursor
from ccapki.lifecycle.status import EARLY_STAGE, KINDS, UNFIT_STAGE, StatusItem, StatusReport

__all__ = [
    "CLASSES",
    "StatusPage",
    "StatusPages",
    "item_classes",
    "parse_stage_filter",
]

#: The item classes a ``stage`` filter may name besides a warn stage's days (see above).
CLASSES = (
    "expired",
    "critical",
    "warning",
    "missing",
    "pending",
    "ok",
    "unused",
    "temporary",
    "wrong",
    EARLY_STAGE,
    "damaged",
    UNFIT_STAGE,
    "rollover",
)
#: The stages that are their own class and not a warning (:meth:`StatusReport.counts`
#: counts them apart), each CRITICAL as the monitoring plugin has it
_CRITICAL_STAGES = frozenset({EARLY_STAGE, "damaged"})

#: A key in the paging order: (deployment, no expiry, expiry, name, kind's rank, fingerprint)
_Key = tuple[str, bool, dt.datetime, str, int, str]
_FAR = dt.datetime.max.replace(tzinfo=dt.UTC)
_RANK = {k: i for i, k in enumerate(KINDS)}
#: How many filtered orders one :class:`StatusPages` keeps (each a list of positions).
_FILTERS_KEPT = 32


def item_classes(item: StatusItem) -> frozenset[str]:
    """The classes ``item`` is in (what a ``stage`` filter matches): its stage's class as
    :meth:`StatusReport.counts` counts it (``expired``, ``missing``, ``pending``, ``ok``,
    ``unused``, ``not-yet-valid``, ``damaged``, or ``warning`` with its stage: a warn
    stage's days, ``missing-san`` or ``rollover``), and ``critical``, ``temporary``,
    ``wrong`` when they apply (``critical`` as :attr:`StatusReport.nagios_code` judges)."""
    found: set[str] = set()
    if not item.in_use:
        found.add("unused")
    elif item.stage in ("expired", "missing", "pending", "ok") or item.stage in _CRITICAL_STAGES:
        found.add(item.stage)
    else:
        found.update(("warning", item.stage))
    if item.temporary:
        found.add("temporary")
    if item.wrong_served:
        found.add("wrong")
    # as nagios_code: CRITICAL (a damaged certificate, in use or not)
    if item.expired or item.not_yet_valid or item.wrong_served or item.stage == "damaged":
        found.add("critical")
    return frozenset(found)


def parse_stage_filter(text: str | None, warn_days: frozenset[int]) -> frozenset[str] | None:
    """The classes a ``stage`` filter names (comma-separated; None or empty: no filter).

    ``warn_days``: the stages the report's deployments use (a number of days must be one
    of them). Raises :class:`InputError` for anything else, naming what it may be."""
    if text is None or not text.strip():
        return None
    names = [n.strip().lower() for n in text.split(",")]
    for name in names:
        known = name in CLASSES or (name.isdigit() and int(name) in warn_days)
        if not known:
            days = ", ".join(str(d) for d in sorted(warn_days)) or "none"
            raise InputError(
                f"stage {name!r} is not one a status item can be in",
                f"name any of {', '.join(CLASSES)}, or a warn stage's days ({days}), "
                "separated by commas",
            )
    return frozenset(names)


def _encode(key: _Key, kind: str) -> str:
    dep, none, when, name, _rank, fp = key
    return opaque_cursor([dep, "" if none else when.isoformat(), name, kind, fp])


def _decode(text: str) -> _Key:
    """The key a cursor names. Raises :class:`InputError` for a cursor not made here."""
    dep, when, name, kind, fp = cursor_strings(text, 5)
    if kind not in _RANK:
        raise _bad_cursor(text)
    if not when:
        return (dep, True, _FAR, name, _RANK[kind], fp)
    return (dep, False, cursor_time(text, when), name, _RANK[kind], fp)


@dataclass(frozen=True)
class StatusPage:
    """One page of the report.

    ``header``: the report's own JSON fields but its items (``now``, ``deployments``,
    ``summary``, ``counts``, ``exit_code``, ``nagios_code``: the whole report's).
    ``items``: at most ``limit`` items, in the paging order. ``total``: the items the
    filter keeps, on every page. ``stages``: how many items of the whole report are in
    each class (:data:`CLASSES` and each warn stage's days). ``next_cursor``: where the
    next page starts (None: the last page).
    """

    header: dict[str, object]
    items: tuple[StatusItem, ...]
    total: int
    limit: int
    next_cursor: str | None
    stages: dict[str, int]

    def to_dict(self) -> dict[str, object]:
        """The JSON form: the header's fields, then ``stages``, ``items``, ``total``,
        ``limit`` and ``next_cursor``."""
        return {
            **self.header,
            "stages": self.stages,
            "items": [i.to_dict() for i in self.items],
            "total": self.total,
            "limit": self.limit,
            "next_cursor": self.next_cursor,
        }


class StatusPages:
    """A report made ready for paging (see the module's text). Safe to share between
    threads: it only reads the report, and keeps filtered orders under a lock."""

    def __init__(self, report: StatusReport) -> None:
        self.report = report
        expiry = {(i.deployment, i.name): i.not_after for i in report.items if i.kind == "identity"}

        def key(i: StatusItem) -> _Key:
            when = expiry.get((i.deployment, i.name)) if i.kind == "csr" else i.not_after
            return (
                i.deployment,
                when is None,
                _FAR if when is None else when,
                i.name,
                _RANK.get(i.kind, len(KINDS)),
                i.fingerprint,
            )

        ordered = sorted(((key(i), i) for i in report.items), key=lambda pair: pair[0])
        self._keys = [k for k, _ in ordered]
        self._items = [i for _, i in ordered]
        self._classes = [item_classes(i) for i in self._items]
        stages = dict.fromkeys(CLASSES, 0)
        for days in sorted({d for w in report.warn_days.values() for d in w}, reverse=True):
            stages[str(days)] = 0
        for found in self._classes:
            for name in found:
                stages[name] = stages.get(name, 0) + 1
        self.stages = stages
        #: the days of every warn stage of the report's deployments
        self.warn_days = frozenset(d for w in report.warn_days.values() for d in w)
        #: the report's own JSON fields but its items (computed once)
        self.header = _header(report)
        self._filtered: dict[frozenset[str], list[int]] = {}
        self._lock = threading.Lock()

    def _positions(self, classes: frozenset[str]) -> list[int]:
        with self._lock:
            kept = self._filtered.get(classes)
        if kept is None:
            kept = [n for n, found in enumerate(self._classes) if found & classes]
            with self._lock:
                if len(self._filtered) >= _FILTERS_KEPT:
                    self._filtered.clear()
                self._filtered[classes] = kept
        return kept

    def page(
        self, *, limit: int, cursor: str | None = None, stage: str | None = None
    ) -> StatusPage:
        """The page of at most ``limit`` items after ``cursor`` (None: the first) of the
        items in the classes ``stage`` names (None: every item).

        Raises :class:`InputError` for a cursor not made here, a stage not known or a
        ``limit`` below 1."""
        if limit < 1:
            raise InputError(f"limit {limit} holds no item", "ask for 1 or more")
        classes = parse_stage_filter(stage, self.warn_days)
        after = _decode(cursor) if cursor is not None else None
        order: Sequence[int] = (
            range(len(self._keys)) if classes is None else self._positions(classes)
        )
        start = (
            0 if after is None else bisect.bisect_right(order, after, key=self._keys.__getitem__)
        )
        chosen = order[start : start + limit]
        more = start + limit < len(order)
        return StatusPage(
            header=self.header,
            items=tuple(self._items[n] for n in chosen),
            total=len(order),
            limit=limit,
            next_cursor=_encode(self._keys[chosen[-1]], self._items[chosen[-1]].kind)
            if more
            else None,
            stages=dict(self.stages),
        )


def _header(report: StatusReport) -> dict[str, object]:
    """The report's JSON fields but its items (``ccapki status --json`` without them)."""
    return {
        "now": report.now.isoformat(),
        "deployments": {
            name: {"release": report.releases.get(name), "warn_days": list(days)}
            for name, days in report.warn_days.items()
        },
        "summary": report.summary(),
        "counts": report.counts(),
        "exit_code": report.exit_code,
        "nagios_code": report.nagios_code,
    }
