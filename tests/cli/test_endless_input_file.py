"""Walkthrough: a file name that is a character device with no end (``/dev/zero``, a typo
for a device, ``/dev/urandom``) has a size of 0, so the size check let it through and the
whole "file" was read: ``ccapki import /dev/zero`` grew to the machine's memory and was
killed by the kernel (no error, no hint). The reading must stop past the size limit and
refuse, as for a large regular file: one ``error:`` line, a ``hint:``, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.cli import FAQ, Cli, error_with_hint, ok

ENDLESS = Path("/dev/zero")


@pytest.mark.skipif(not ENDLESS.exists(), reason="needs /dev/zero")
def test_an_endless_device_is_refused_not_read_forever(cli: Cli, keyfile_store: Path) -> None:
    ok(cli("apply", FAQ))
    for args in (("import", str(ENDLESS)), ("inspect", str(ENDLESS)), ("plan", str(ENDLESS))):
        r = error_with_hint(cli(*args))
        assert "too large" in r.err, r.both
        assert str(ENDLESS) in r.err, r.both
