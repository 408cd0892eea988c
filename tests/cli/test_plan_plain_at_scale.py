"""A plan of hundreds of identities is a plain table, one line per identity: rich's boxed
table took ~2 ms a row to lay out (``ccapki plan`` of 3,000 CAS: 17 s on a busy machine,
found by a bad-input audit); a small plan keeps the boxed table."""

from __future__ import annotations

from pathlib import Path

from ccapki.cli.plan import PLAIN_FROM
from kit.cli import Cli, deployment, ha_pair, ok, standalone, write


def _file(tmp_path: Path, n: int) -> Path:
    cas = [ha_pair("pair", "10.9.0")]
    cas += [standalone(f"cas{i}", f"10.{16 + i // 250}.{i % 250}.1") for i in range(n - 2)]
    return write(tmp_path / "big.toml", deployment(cas=cas))


def test_a_big_plan_is_one_line_per_identity(cli: Cli, tmp_path: Path) -> None:
    n = PLAIN_FROM + 1
    out = ok(cli("plan", _file(tmp_path, n), home_dir=None)).out
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("IDENTITY"))
    assert lines[head].split()[:3] == ["IDENTITY", "INSTALLED", "ON"]
    rows = lines[head + 1 : head + 1 + n]
    assert [r.split()[0] for r in rows] == ["cam", "pair", *(f"cas{i}" for i in range(n - 2))]
    pair = rows[1]
    assert "pair-a,pair-b" in pair  # both peers, one identity
    sans = "pair.example.org,pair-a.example.org,pair-b.example.org,10.9.0.10,10.9.0.11,10.9.0.12"
    assert f"  {sans}  " in pair  # every name, one cell
    assert "┏" not in out  # no box
    assert f"{n} certificates needed" in out


def test_a_big_plan_on_a_store_says_each_action(cli: Cli, tmp_path: Path) -> None:
    n = PLAIN_FROM + 1
    path = _file(tmp_path, n)
    ok(cli("init", "--key-file"))
    out = ok(cli("plan", path)).out
    assert "ACTION" in out
    assert sum(" issue: no certificate yet" in line for line in out.splitlines()) == n
    assert f"pending actions: {n} issue" in out


def test_a_small_plan_keeps_the_boxed_table(cli: Cli, tmp_path: Path) -> None:
    out = ok(cli("plan", _file(tmp_path, 4), home_dir=None)).out
    assert "┏" in out
    assert "IDENTITY" not in out
