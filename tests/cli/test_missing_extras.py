"""A command whose optional extra is not installed says which one to install, exit 2, and
writes nothing (walkthrough F: `ccapki serve` and `ccapki users add` without the `serve`
extra, `ccapki acme order` without `acme`, were "internal error ... a ccapki bug", exit 70,
and the order left a pending key and an order row in flight behind it).

The command runs in a child Python where the extra's packages cannot be imported, as in an
environment installed without them (``sys.modules[name] = None``: ``import name`` raises
ModuleNotFoundError there); the store is a real one, made and read by the CLI here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kit.cli import FAQ, Cli, ok, write

WITHOUT = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
from ccapki.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _without(modules: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``ccapki --home HOME ARGS`` in a Python that cannot import ``modules``."""
    return subprocess.run(
        [sys.executable, "-c", WITHOUT, modules, "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def _says_extra(r: subprocess.CompletedProcess[str], package: str, extra: str) -> None:
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert "ccapki bug" not in r.stderr
    assert f"needs the Python package {package}" in r.stderr, r.stderr
    assert f"hint: install it where ccapki is installed: pip install 'ccapki[{extra}]'" in (
        r.stderr
    )


def test_serve_and_users_without_the_serve_extra(cli: Cli, home: Path) -> None:
    ok(cli("init", "--key-file"))
    ok(cli("apply", FAQ))
    serve = "fastapi,starlette,uvicorn,jinja2,argon2,multipart,python_multipart"
    _says_extra(_without(serve, home, "serve", "--listen", "127.0.0.1:0"), "uvicorn", "serve")
    r = _without(serve, home, "users", "add", "zed", "--role", "viewer", "--no-password")
    _says_extra(r, "argon2", "serve")
    assert "zed" not in ok(cli("users", "list")).out


ACME = """
[[cas]]
name = "cas-pub"
hostname = "cas-pub.example.edu"
ip = "10.40.0.10"
source = "acme"

[acme]
directory = "https://127.0.0.1:9/dir"
email = "pki@example.edu"
dns = "hook"
hook = "/bin/true"
"""


def test_acme_order_without_the_acme_extra(cli: Cli, home: Path, tmp_path: Path) -> None:
    ok(cli("init", "--key-file"))
    campus = write(tmp_path / "campus.toml", FAQ.read_text() + ACME)
    ok(cli("apply", campus, "--no-acme"))
    keys = ok(cli("keys", "list", "--json")).json()
    r = _without("acme,josepy", home, "acme", "order", "cas-pub")
    _says_extra(r, "acme", "acme")
    # nothing written: no pending key, no order in flight
    assert ok(cli("keys", "list", "--json")).json() == keys
    assert ok(cli("acme", "status", "--json")).json()["accounts"] == []
