"""Walkthrough: a deployment file saved by Windows Notepad ("UTF-8 with BOM") starts with the
byte-order mark EF BB BF. ccapki refused it with "FILE:1: TOML syntax: Invalid statement"
and a hint about quotes and brackets, on a line that looks right. The mark is not part of
the text: the file reads as without it, in ``plan``, ``apply`` and the commands that read
the deployment back from the store (``status``)."""

from __future__ import annotations

import json
from pathlib import Path

from kit.cli import FAQ, Cli, ok, write


def test_a_deployment_file_with_a_byte_order_mark_reads_as_without(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    with_bom = write(tmp_path / "faq-notepad.toml", b"\xef\xbb\xbf" + FAQ.read_bytes())
    plain = json.loads(ok(cli("plan", FAQ, "--json")).out)
    assert json.loads(ok(cli("plan", with_bom, "--json")).out) == plain
    ok(cli("apply", with_bom))
    r = cli("status")
    assert r.code in (0, 1), r.both
    assert "cas-dorm" in r.out
    assert "error:" not in r.err, r.both
