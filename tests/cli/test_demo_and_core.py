"""Item 9 (``ccapki demo``), ``--version``, and the pure core importing no framework."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

import ccapki
from ccapki.cli import main
from kit.cli import REPO, CliRunner


def test_demo_prints_the_plan_and_the_inventory(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the demo ends with `verify --live`: real handshakes, judged on the real clock (which
    # CCAPKI_NOW cannot move, so verify --live refuses it)
    monkeypatch.delenv("CCAPKI_NOW")
    r = cli("demo", home_dir=None)
    assert r.code == 0, r.both
    out = r.out
    assert "6 certificates needed" in out
    assert "inventory" in out
    for name in ("cam", "cas-dorm", "cas-library", "cas-guest", "cas-clinic", "cas-annex"):
        assert name in out
    assert "issued cam v1" in out
    assert "nothing to do" in out  # the second apply
    assert "internal CA Example University Clean Access Appliance CA" in out  # inspect
    assert "demo finished" in out
    assert r.err == ""


def test_version(cli: CliRunner) -> None:
    for flag in ("--version", "-V"):
        r = cli(flag, home_dir=None)
        assert r.code == 0
        assert r.out == f"ccapki {ccapki.__version__}\n"


def test_version_through_click_and_help(cli: CliRunner) -> None:
    r = cli("--version", home_dir=None, now=None)
    assert r.out.startswith("ccapki ")
    r = cli("--help", home_dir=None)
    assert r.code == 0
    for cmd in ("init", "plan", "apply", "inspect", "demo"):
        assert cmd in r.out
    assert "EXIT CODES" in r.out


def test_unknown_command_is_a_usage_error(cli: CliRunner) -> None:
    r = cli("frobnicate", home_dir=None)
    assert r.code == 2
    assert r.err.startswith("error: No such command 'frobnicate'")
    assert "hint: " in r.err


def test_main_returns_instead_of_exiting() -> None:
    assert main(["--version"]) == 0


def test_installed_console_script() -> None:
    exe = REPO / ".venv" / "bin" / "ccapki"
    r = subprocess.run(
        [str(exe) if exe.exists() else sys.executable, *([] if exe.exists() else ["-m", "ccapki"]),
         "--version"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"ccapki {ccapki.__version__}\n"


#: What the pure core must not load. ``socket`` is not listed: cryptography.x509 itself
#: imports it (through email.utils) without opening anything; asyncio, ssl and every server
#: or web framework are.
FORBIDDEN = {
    "sqlalchemy",
    "alembic",
    "click",
    "rich",
    "pydantic",
    "asyncio",
    "ssl",
    "socketserver",
    "http",
    "urllib3",
    "requests",
    "aiohttp",
    "fastapi",
    "starlette",
    "flask",
}


def test_the_pure_core_imports_no_framework() -> None:
    modules = [
        "ccapki.topology.model",
        "ccapki.topology.plan",
        "ccapki.topology.releases",
        "ccapki.pki.keys",
        "ccapki.pki.issue",
        "ccapki.pki.inspect",
    ]
    pki = REPO / "src" / "ccapki" / "pki"
    modules += sorted(f"ccapki.pki.{p.stem}" for p in pki.glob("*.py") if p.stem != "__init__")
    if importlib.util.find_spec("ccapki.trust") is not None:
        modules.append("ccapki.trust")
        trust = REPO / "src" / "ccapki" / "trust"
        modules += sorted(
            f"ccapki.trust.{p.stem}" for p in trust.glob("*.py") if p.stem != "__init__"
        )
    modules = sorted(set(modules))
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN)!r})\n"
        "print(json.dumps(bad))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [], f"the pure core pulled in: {r.stdout}"


def test_version_imports_nothing_heavy() -> None:
    """``ccapki --version`` must start fast: no cryptography, click, SQLAlchemy or Rich."""
    code = (
        "import sys\n"
        "from ccapki.cli import main\n"
        "main(['--version'])\n"
        "heavy = {'cryptography', 'click', 'sqlalchemy', 'rich', 'pydantic', 'alembic'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "[]"
