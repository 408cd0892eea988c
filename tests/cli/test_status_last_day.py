"""``ccapki status`` in the last day before an expiry and the first day after.

The DAYS column said 0 ("expires in 5 hours" in the notes and --nagios) and -1 ("expired
16 hours ago"), which read as "today" and "a day ago": the table now says the hours the
words say (``5h``, ``-16h``; minutes in the last hour), --json keeps ``days_left`` whole
(0, -1: scripts compare numbers) and adds ``hours_left`` (rounded down as ``days_left``
is), and --nagios says the same hours. Beyond a day every output says whole days.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kit.cli import FAQ, Cli, ok

H = dt.timedelta(hours=1)


@pytest.fixture
def faq(cli: Cli, keyfile_store: Path) -> dt.datetime:
    """The FAQ applied; the CAM's expiry."""
    ok(cli("apply", FAQ))
    (cam,) = [
        i
        for i in ok(cli("status", "--json")).json()["items"]
        if i["kind"] == "identity" and i["name"] == "cam"
    ]
    return dt.datetime.fromisoformat(cam["not_after"])


def _cam(cli: Cli, now: dt.datetime) -> tuple[str, dict[str, object], list[str]]:
    """The CAM's DAYS cell, its --json item and its --nagios lines at ``now``."""
    table = cli("status", now=now).out.splitlines()
    (row,) = [x for x in table if x.split()[2:4] == ["identity", "cam"]]
    data = cli("status", "--json", now=now).json()
    (item,) = [i for i in data["items"] if i["kind"] == "identity" and i["name"] == "cam"]
    nagios = [x for x in cli("status", "--nagios", now=now).out.splitlines() if "cam:" in x]
    return row.split()[1], item, nagios


@pytest.mark.parametrize(
    ("offset", "cell", "days", "hours", "words"),
    [
        (-5 * H, "5h", 0, 5, "expires in 5 hours"),
        (16 * H, "-16h", -1, -16, "expired 16 hours ago"),
        (-H / 2, "30m", 0, 0, "expires in 30 minutes"),
        (H / 4, "-15m", -1, -1, "expired 15 minutes ago"),
    ],
)
def test_within_a_day_the_table_json_and_nagios_say_the_same_hours(
    cli: Cli,
    faq: dt.datetime,
    offset: dt.timedelta,
    cell: str,
    days: int,
    hours: int,
    words: str,
) -> None:
    got, item, nagios = _cam(cli, faq + offset)
    assert got == cell
    assert (item["days_left"], item["hours_left"]) == (days, hours)
    assert len(nagios) == 1
    assert nagios[0].startswith(f"identity cam: {words} ("), nagios


def test_beyond_a_day_whole_days_everywhere(cli: Cli, faq: dt.datetime) -> None:
    got, item, nagios = _cam(cli, faq - 3 * 24 * H - 5 * H)
    assert got == "3"
    assert (item["days_left"], item["hours_left"]) == (3, 77)
    assert nagios == ["identity cam: 3 days left (stage 7)"]
    got, item, nagios = _cam(cli, faq + 2 * 24 * H + 5 * H)
    assert got == "-3"  # rounded down as ever: expired 2 days (and 5 hours) ago
    assert (item["days_left"], item["hours_left"]) == (-3, -53)
    assert nagios == ["identity cam: expired (stage expired)"]
