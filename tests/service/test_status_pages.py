"""Issue 13: the status report one page at a time, filtered by stage (the pure half:
:mod:`ccapki.lifecycle.status_pages`, on reports built by hand). The order, each item once
however the pages are cut, the filter's classes, the totals on every page, cursors that
survive a write between two pages, and bad cursors or stages refused with a hint."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json

import pytest

from ccapki.errors import InputError
from ccapki.lifecycle.status import Served, StatusItem, StatusReport
from ccapki.lifecycle.status_pages import CLASSES, StatusPages, item_classes
from ccapki.store.records import ProbeVerdict
from kit.certs import NOW

DAY = dt.timedelta(days=1)


def _cursor(value: list[str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _item(
    dep: str,
    kind: str,
    name: str,
    days: int | None,
    stage: str,
    *,
    fp: str | None = None,
    temporary: bool = False,
    in_use: bool = True,
    served: tuple[Served, ...] = (),
) -> StatusItem:
    return StatusItem(
        dep,
        kind,
        name,
        fp or f"{dep}-{kind}-{name}-{days}",
        None if days is None else NOW + days * DAY,
        days,
        stage,
        temporary,
        served=served,
        in_use=in_use,
    )


def _served(verdict: ProbeVerdict) -> Served:
    return Served("cam", "https", "10.0.0.1:443", verdict, NOW, NOW, "seen")


def _report(items: list[StatusItem]) -> StatusReport:
    return StatusReport(
        now=NOW,
        items=tuple(items),
        warn_days={"campus": (60, 30, 7), "annex": (90, 14)},
        releases={"campus": "4.8.0", "annex": None},
    )


def _items() -> list[StatusItem]:
    """Two deployments, every kind and class; the report's own order does not matter."""
    return [
        _item("campus", "identity", "cam", 200, "ok"),
        _item("campus", "identity", "cas-dorm", -3, "expired"),
        _item("campus", "csr", "cas-dorm", None, "pending", fp="spki-dorm"),
        _item("campus", "identity", "cas-clinic", 20, "30", served=(_served(ProbeVerdict.STALE),)),
        _item("campus", "identity", "cas-lab", 5, "7", temporary=True),
        _item("campus", "identity", "cas-new", None, "missing"),
        _item("campus", "ca", "Campus Root CA", 3000, "ok"),
        _item("campus", "ca", "Old CA", -40, "expired", in_use=False),
        _item("campus", "trust-root", "cam: Campus Root CA", 3000, "ok"),
        # same expiry, same name: the kind, then the fingerprint, decide
        _item("annex", "identity", "same", 50, "90", fp="f2"),
        _item("annex", "ca", "same", 50, "90", fp="f1"),
        _item("annex", "trust-root", "x: same", 50, "90", fp="b"),
        _item("annex", "trust-root", "x: same", 50, "90", fp="a"),
        _item("annex", "identity", "annex-cas", 10, "14"),
        _item(
            "annex", "identity", "annex-cam", 120, "ok", served=(_served(ProbeVerdict.EXPECTED),)
        ),
    ]


ORDER = [
    # annex first (by name), then by expiry, name, kind, fingerprint
    ("annex", "identity", "annex-cas"),
    ("annex", "identity", "same"),
    ("annex", "ca", "same"),
    ("annex", "trust-root", "x: same"),  # fingerprint a
    ("annex", "trust-root", "x: same"),  # fingerprint b
    ("annex", "identity", "annex-cam"),
    ("campus", "ca", "Old CA"),
    ("campus", "identity", "cas-dorm"),
    ("campus", "csr", "cas-dorm"),  # beside its identity, though it has no expiry itself
    ("campus", "identity", "cas-lab"),
    ("campus", "identity", "cas-clinic"),
    ("campus", "identity", "cam"),
    ("campus", "ca", "Campus Root CA"),
    ("campus", "trust-root", "cam: Campus Root CA"),
    ("campus", "identity", "cas-new"),  # no expiry: last
]


def _walk(pages: StatusPages, limit: int, stage: str | None = None) -> list[list[StatusItem]]:
    out: list[list[StatusItem]] = []
    cursor = None
    while True:
        page = pages.page(limit=limit, cursor=cursor, stage=stage)
        out.append(list(page.items))
        assert page.limit == limit
        assert page.stages == pages.stages  # the whole report's, on every page
        if page.next_cursor is None:
            return out
        assert len(page.items) == limit
        cursor = page.next_cursor


def test_every_item_once_in_order_however_the_pages_are_cut() -> None:
    pages = StatusPages(_report(_items()))
    whole = pages.page(limit=1000)
    assert [(i.deployment, i.kind, i.name) for i in whole.items] == ORDER
    assert [i.fingerprint for i in whole.items][3:5] == ["a", "b"]
    assert whole.total == len(ORDER)
    assert whole.next_cursor is None
    for limit in range(1, len(ORDER) + 2):
        walked = _walk(pages, limit)
        assert len(walked) == max(1, -(-len(ORDER) // limit)), limit  # no empty last page
        assert [i for p in walked for i in p] == list(whole.items), limit


def test_the_header_is_the_whole_reports() -> None:
    report = _report(_items())
    page = StatusPages(report).page(limit=2, stage="expired").to_dict()
    full = report.to_dict()
    del full["items"]
    assert {k: page[k] for k in full} == json.loads(json.dumps(full))
    assert set(page) == {*full, "stages", "items", "total", "limit", "next_cursor"}


def test_stage_filter_keeps_any_class_named_and_totals_stay_whole() -> None:
    items = _items()
    pages = StatusPages(_report(items))
    # each class's count is how many items a filter of it keeps
    assert set(pages.stages) == {*CLASSES, "90", "60", "30", "14", "7"}
    for name, count in pages.stages.items():
        kept = [i for p in _walk(pages, 2, name) for i in p]
        assert len(kept) == count, name
        assert all(name in item_classes(i) for i in kept), name
    assert pages.stages["expired"] == 1  # the unused CA's expiry warns nobody
    assert pages.stages["unused"] == 1
    assert pages.stages["critical"] == 2  # expired, or served another certificate
    assert pages.stages["wrong"] == 1
    assert pages.stages["warning"] == 7  # 30 and 7 of campus; 14 and four 90-day ones of annex
    assert pages.stages["missing"] == pages.stages["pending"] == pages.stages["temporary"] == 1
    # several classes: any of them, in the paging order, each once
    page = pages.page(limit=10, stage="expired,critical, pending,7")
    assert [(i.kind, i.name) for i in page.items] == [
        ("identity", "cas-dorm"),
        ("csr", "cas-dorm"),
        ("identity", "cas-lab"),
        ("identity", "cas-clinic"),
    ]
    assert page.total == 4
    assert page.stages == pages.stages
    walked = _walk(pages, 1, "expired,critical,pending,7")
    assert [i for p in walked for i in p] == list(page.items)
    # a class nothing is in: an empty page, the totals still whole
    none = pages.page(limit=5, stage="60")
    assert (none.items, none.total, none.next_cursor) == ((), 0, None)


def test_a_write_between_two_pages_neither_repeats_nor_skips() -> None:
    items = _items()
    first = StatusPages(_report(items)).page(limit=6)
    assert first.next_cursor is not None
    seen = list(first.items)
    # meanwhile: an identity renewed (new fingerprint, later expiry), one added before
    # the cursor, one removed after it, and a day passes (days left change, order not)
    renewed = next(i for i in items if i.name == "cas-clinic" and i.kind == "identity")
    later = [
        dataclasses.replace(i, days_left=(i.days_left - 1) if i.days_left is not None else None)
        for i in items
        if i is not renewed and i.name != "cam"
    ]
    later.append(_item("annex", "identity", "aaa-new", 1, "14"))
    later.append(dataclasses.replace(renewed, fingerprint="renewed", not_after=NOW + 400 * DAY))
    rest = StatusPages(_report(later))
    after = [i for p in _walk_from(rest, first.next_cursor, 3) for i in p]
    names = [(i.deployment, i.kind, i.name, i.fingerprint) for i in seen + after]
    assert len(names) == len(set(names)), "an item shown twice"
    before_ids = {(i.deployment, i.kind, i.name, i.fingerprint) for i in items}
    still = {(i.deployment, i.kind, i.name, i.fingerprint) for i in later}
    assert before_ids & still <= set(names), "an item that was there before was skipped"
    assert ("annex", "identity", "aaa-new", "annex-identity-aaa-new-1") not in names  # before


def _walk_from(pages: StatusPages, cursor: str, limit: int) -> list[list[StatusItem]]:
    out: list[list[StatusItem]] = []
    next_cursor: str | None = cursor
    while next_cursor is not None:
        page = pages.page(limit=limit, cursor=next_cursor)
        out.append(list(page.items))
        next_cursor = page.next_cursor
    return out


@pytest.mark.parametrize(
    ("cursor", "stage"),
    [
        ("Zm9v", None),  # base64 of "foo"
        ("not-base64-json", None),
        (_cursor(["a", "", "b", "zebra", "f"]), None),  # no such kind
        (_cursor(["a", "yesterday", "b", "ca", "f"]), None),  # a date that is none
        (_cursor(["a", "2026-01-01T00:00:00", "b", "ca", "f"]), None),  # no time zone
        (_cursor(["a", "", "b", "ca"]), None),  # too short
        (None, "expired,soon"),
        (None, "45"),  # not a warn stage of these deployments
        (None, ",,"),
    ],
)
def test_a_bad_cursor_or_stage_is_refused_with_a_hint(
    cursor: str | None, stage: str | None
) -> None:
    pages = StatusPages(_report(_items()))
    with pytest.raises(InputError) as caught:
        pages.page(limit=5, cursor=cursor, stage=stage)
    assert caught.value.hint


def test_an_empty_store_has_one_empty_page() -> None:
    page = StatusPages(_report([])).page(limit=3)
    assert (page.items, page.total, page.next_cursor) == ((), 0, None)
    assert page.to_dict()["counts"]["items"] == 0
