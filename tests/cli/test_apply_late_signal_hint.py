"""A signal that reaches `ccapki apply` after its last commit but before the command said
its work was done (on its way out of apply_plan) kept everything: its hint says how many
identities were kept, never the generic "nothing is half-written" (found by
tests/lifecycle/test_apply_killed.py once: "1500 == 0")."""

from __future__ import annotations

import signal

from ccapki.cli.apply import _say_kept
from ccapki.errors import Interrupted

GENERIC = "nothing is half-written (each store change is one transaction); run the command again"


def test_the_hint_says_what_was_kept() -> None:
    exc = Interrupted(signal.SIGTERM, GENERIC)
    _say_kept(exc, {"deployment": "d", "kept": ["a", "b", "c"], "total": 3})
    assert exc.hint == "3 of 3 identities were kept; run the command again to finish"


def test_a_hint_that_says_it_already_and_nothing_to_issue_are_left_alone() -> None:
    said = "2 of 5 identities were kept; run the command again to finish"
    exc = Interrupted(signal.SIGINT, said)
    _say_kept(exc, {"kept": ["a", "b", "c"], "total": 5})
    assert exc.hint == said
    exc = Interrupted(signal.SIGINT, GENERIC)
    _say_kept(exc, {"kept": [], "total": 0})  # nothing was to be issued
    assert exc.hint == GENERIC
    _say_kept(exc, {})  # interrupted before apply decided anything
    assert exc.hint == GENERIC
