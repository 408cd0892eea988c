"""Issue 12 walkthrough: nan and inf are refused by every float option of ``probe`` and
``renew`` with the same error and hint as any other out-of-range value (click's FloatRange
lets nan through: every comparison with it is false)."""

from __future__ import annotations

import click
import pytest

from ccapki.cli.app import cli as root
from kit.cli import Cli, error_with_hint


def _float_options(command: str) -> list[click.Option]:
    cmd = root.get_command(click.Context(root), command)
    assert cmd is not None
    return [
        p
        for p in cmd.params
        if isinstance(p, click.Option) and isinstance(p.type, click.types.FloatParamType)
    ]


@pytest.mark.parametrize("command", ["probe", "renew"])
def test_every_float_option_refuses_nan_and_inf(command: str) -> None:
    for p in _float_options(command):
        for value in ("nan", "inf", "-inf"):
            with pytest.raises(click.BadParameter):
                p.type.convert(value, p, None)


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity"])
def test_probe_timeout_nan_and_inf_get_the_out_of_range_error(cli: Cli, value: str) -> None:
    ref = error_with_hint(cli("probe", "--timeout", "-1"))
    r = error_with_hint(cli("probe", "--timeout", value))
    first = r.err.splitlines()[0]
    assert first.startswith("error: Invalid value for '--timeout': "), r.both
    assert first.endswith("is not in the range 0<x<=3600."), r.both
    assert r.err.splitlines()[1:] == ref.err.splitlines()[1:]  # the same hint
