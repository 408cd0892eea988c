"""Walkthrough B: a folder where an option takes a file (``check-ha --primary DIR``,
``trust add APPLIANCE DIR``) got click's "is a directory." and only "see --help" as the
hint; the hint now names the fix, as ccapki's own "is a folder, not a file" errors do."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.cli import FAQ, Cli, error_with_hint, ok


@pytest.mark.parametrize(
    "args",
    [
        ("check-ha", "cas-dorm", "--primary", "{dir}", "--secondary", "{dir}/b.p12"),
        ("trust", "add", "cas-clinic", "{dir}"),
    ],
)
def test_a_folder_given_for_a_file_says_to_name_a_file_inside_it(
    cli: Cli, keyfile_store: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    ok(cli("apply", FAQ))
    folder = tmp_path / "bundles"
    folder.mkdir()
    r = error_with_hint(cli(*(a.format(dir=folder) for a in args)))
    first, hint = r.err.splitlines()[:2]
    assert f"'{folder}' is a directory." in first, first
    assert hint.startswith("hint: name a file inside that folder"), hint
