"""Opaque page cursors of the service's paged answers (inventory, status): a few strings,
JSON in URL-safe base64, handed back as they came. Pure."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Sequence

from ccapki.errors import InputError

__all__ = ["bad_cursor", "cursor_strings", "cursor_time", "opaque_cursor"]


def bad_cursor(text: str) -> InputError:
    """The error for a cursor this service did not give (shown cut at 40 characters)."""
    shown = text if len(text) <= 40 else text[:40] + "..."
    return InputError(
        f"cursor {shown!r} is not one this service gave",
        "pass the next_cursor of the previous page as it came, or leave cursor out for the "
        "first page",
    )


def opaque_cursor(values: Sequence[str]) -> str:
    """``values`` as an opaque cursor: URL-safe base64 of JSON, unpadded. Raises nothing."""
    raw = json.dumps(list(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_strings(text: str, count: int) -> list[str]:
    """The ``count`` strings :func:`opaque_cursor` put in ``text``. Raises
    :class:`InputError` for anything else."""
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad_cursor(text) from None
    if (
        not isinstance(value, list)
        or len(value) != count
        or not all(isinstance(v, str) for v in value)
    ):
        raise bad_cursor(text)
    return value


def cursor_time(text: str, when: str) -> dt.datetime:
    """The aware UTC time ``when`` that cursor ``text`` carries. Raises
    :class:`InputError` when it is not one."""
    try:
        parsed = dt.datetime.fromisoformat(when)
        if parsed.tzinfo is None:
            raise ValueError(when)
        return parsed.astimezone(dt.UTC)  # year 9999 at UTC-14 does not fit
    except (ValueError, OverflowError):
        raise bad_cursor(text) from None
