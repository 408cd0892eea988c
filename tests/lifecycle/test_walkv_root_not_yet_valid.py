"""Walkthrough V: ``not-yet-valid`` judged for CA and trust-store root rows too (when their
``not_before`` is known: the ``cas`` and ``trust_entries`` tables keep no such column, so
:func:`~ccapki.lifecycle.status.read_facts` knows it only for a row whose PEM it reads),
and the page filter's classes for every stage status gives (before: a CA dated ahead was
``ok``; ``missing-san``, ``rollover``, ``not-yet-valid`` and ``damaged`` could not be
filtered on, and a damaged certificate was no ``critical`` item though ``--nagios`` says
CRITICAL)."""

from __future__ import annotations

import datetime as dt

import pytest

from ccapki.lifecycle.status import EARLY_STAGE, CaFact, DeploymentFacts, TrustFact, build_report
from ccapki.lifecycle.status_pages import StatusPages, item_classes
from kit.certs import NOW

DAY = dt.timedelta(days=1)
AHEAD = NOW + 3 * DAY


def test_a_ca_and_a_root_dated_ahead_are_not_valid_yet() -> None:
    facts = DeploymentFacts(
        name="d",
        cas=(
            CaFact("Root", "internal-root", "aa" * 32, NOW + 3000 * DAY, AHEAD),
            CaFact("Old", "internal-ca", "bb" * 32, NOW + 3000 * DAY, NOW - DAY),
        ),
        trust=(
            TrustFact("cam-a", "root Root", "aa" * 32, NOW + 3000 * DAY, None, AHEAD),
            TrustFact("cam-a", "root Other", "cc" * 32, NOW + 3000 * DAY),
        ),
    )
    report = build_report([facts], NOW)
    by = {(i.kind, i.name): i for i in report.items}
    assert by[("ca", "Root")].stage == EARLY_STAGE
    assert by[("trust-root", "cam-a: root Root")].stage == EARLY_STAGE
    assert by[("ca", "Old")].stage == "ok"
    assert by[("trust-root", "cam-a: root Other")].stage == "ok"
    assert f"not valid until {AHEAD:%Y-%m-%d %H:%M} UTC" in by[("ca", "Root")].note
    assert report.counts()["not_yet_valid"] == 2
    assert (report.exit_code, report.nagios_code) == (1, 2)
    page = StatusPages(report).page(limit=10, stage="not-yet-valid")
    assert {i.name for i in page.items} == {"Root", "cam-a: root Root"}
    # the day it starts, an ordinary CA again
    assert {i.stage for i in build_report([facts], AHEAD + DAY).items} == {"ok"}


@pytest.mark.parametrize(
    ("stage", "classes"),
    [
        (EARLY_STAGE, {EARLY_STAGE, "critical"}),
        ("damaged", {"damaged", "critical"}),
        ("missing-san", {"missing-san", "warning"}),
        ("rollover", {"rollover", "warning"}),
    ],
)
def test_every_stage_status_gives_is_a_filter_class(stage: str, classes: set[str]) -> None:
    from ccapki.lifecycle.status import StatusItem

    item = StatusItem("d", "identity", "cam", "ff" * 32, NOW + 400 * DAY, 400, stage, False)
    assert item_classes(item) == classes
    report = build_report([DeploymentFacts(name="d")], NOW)
    report = type(report)(now=NOW, items=(item,), warn_days={"d": (60, 30, 7)})
    page = StatusPages(report).page(limit=5, stage=stage)
    assert [i.name for i in page.items] == ["cam"]
    assert page.stages[stage] == 1
    # the whole report's warning count is the filter's
    assert page.stages["warning"] == report.counts()["warning"]
