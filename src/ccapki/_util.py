"""Small helpers with no better home."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
from collections.abc import Iterator, Mapping

__all__ = ["gc_paused", "written_at"]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a bulk step (restored afterwards).

    Issuing in bulk allocates many long-lived objects and no reference cycles; without
    the pause the collector rescans the growing heap over and over (~15% of the time).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def written_at(detail: Mapping[str, object]) -> dt.datetime | None:
    """When an audit row that records it (``written_at``: the machine's clock, ISO 8601)
    was written: renewals and ACME orders tell runs at once apart by it. None for a row
    from before ccapki recorded it, or a value that is not a time."""
    text = detail.get("written_at")
    if not isinstance(text, str):
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None
