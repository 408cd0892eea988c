"""``ccapki status --json`` prints the report as ``json.dumps`` would, indented, each item on
one line (``json.dumps(item, default=str)``), whatever the items hold."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from ccapki.cli.status import _print_json
from ccapki.lifecycle.status import StatusItem, StatusReport

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
    assert json.loads(out)["items"] == [i.to_dict() for i in items] or count == 0
