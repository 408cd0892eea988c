"""``ccapki status --json`` prints the report as ``json.dumps`` would, indented, each item on
one line (``json.dumps(item, default=str)``), whatever the items hold."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccapki.cli.status import _print_json
from ccapki.lifecycle.status import Served, StatusItem, StatusReport
from ccapki.store.records import ProbeVerdict

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)


def reference(report: StatusReport) -> str:
    data = report.to_dict()
    items = data.pop("items")
    assert isinstance(items, list)
    head = json.dumps(data, indent=2, default=str)[:-2]
    body = ",\n".join(f"    {json.dumps(i, default=str)}" for i in items)
    tail = f"[\n{body}\n  ]" if items else "[]"
    return f'{head},\n  "items": {tail}\n}}\n'


@pytest.mark.parametrize("count", [0, 1, 3])
def test_status_json_is_the_report_dumped_item_by_item(
    count: int, capsys: pytest.CaptureFixture[str]
) -> None:
    items = tuple(
        StatusItem(
            "dép",
            "identity",
            f'cas"{i}\\ ü',
            "ab" * 32,
            NOW + dt.timedelta(days=i),
            i,
            "ok",
            False,
            note="line\nbreak",
        )
        for i in range(count)
    )
    report = StatusReport(NOW, items, {"dép": (60, 30, 7)}, {"dép": "4.8.0"})
    _print_json(report)
    out = capsys.readouterr().out
    assert out == reference(report)
    # each item with its hours_left at the report's time, beside days_left
    assert json.loads(out)["items"] == [i.to_dict(NOW) for i in items] or count == 0


_text = st.text(max_size=12)  # any unicode: quotes, backslashes, controls, surrogates...
_time = st.datetimes(
    min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
)
_served = st.builds(
    Served,
    _text,
    _text,
    _text,
    st.sampled_from(list(ProbeVerdict)),
    _time,
    st.none() | _time,
    _text,
    st.booleans(),
)
_items = st.builds(
    StatusItem,
    _text,
    _text,
    _text,
    _text,
    st.none() | _time,
    st.none() | st.integers(-(10**6), 10**6),
    _text,
    st.booleans(),
    st.lists(_served, max_size=3).map(tuple),
    _text,
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(_items)
def test_each_item_writes_what_json_dumps_writes(item: StatusItem) -> None:
    assert item.to_json() == json.dumps(item.to_dict(), default=str)
    assert item.to_json(NOW) == json.dumps(item.to_dict(NOW), default=str)


@settings(max_examples=50, deadline=None)
@given(st.lists(_items, max_size=4))
def test_the_whole_report_is_the_reference(items: list[StatusItem]) -> None:
    report = StatusReport(NOW, tuple(items), {"d": (60, 30, 7)}, {"d": None})
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        _print_json(report)
    assert out.getvalue() == reference(report)
