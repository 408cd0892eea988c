"""``watch --metrics-listen "$ADDR"`` and ``serve --instance-id "$ID"`` with the variable
unset: the watcher ran without its metrics endpoint (an empty value was taken as no
option), and the service ran with an empty (or tab-holding, or overlong) name in its job
leases. Each is now refused up front: one ``error:`` line naming the option, a ``hint:``,
exit 2, nothing started."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.cli import Cli, error_with_hint

_NO_CLOCK: dict[str, str | None] = {"CCAPKI_NOW": None, "CCAPKI_NOW_ALLOW_WRITES": None}


def test_an_empty_metrics_address_is_refused(cli: Cli, keyfile_store: Path) -> None:
    r = error_with_hint(cli("watch", "--once", "--metrics-listen", "", env=_NO_CLOCK))
    assert "error: --metrics-listen ''" in r.err, r.err
    assert "HOST:PORT" in r.err


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("", "error: --instance-id is empty"),
        ("   ", "error: --instance-id is empty"),
        ("web\t1", "error: --instance-id 'web\\t1' holds a control character"),
        ("w" * 129, "error: --instance-id is 129 characters long (at most 128)"),
    ],
    ids=["empty", "blank", "tab", "too-long"],
)
def test_an_instance_id_that_names_nothing_is_refused(
    cli: Cli, keyfile_store: Path, value: str, words: str
) -> None:
    r = error_with_hint(
        cli("serve", "--listen", "127.0.0.1:0", "--instance-id", value, env=_NO_CLOCK)
    )
    assert words in r.err, r.err
    assert "--instance-id web-1" in r.err
