"""Walkthrough "the store in every state", from Python: ``open_store``/``init_store`` and
``Store.open``/``Store.init`` refuse what the command line refuses, with the same
:class:`StoreError` (message and hint): a SQLite URL naming no file (``sqlite://``,
``sqlite:///``: in memory; init said nothing and left an empty ccapki.db, open said "holds no
ccapki schema"), and a FIFO or a folder where the database file is (the home's ccapki.db or a
``sqlite:///PATH`` URL's file: a FIFO hung for ever, a folder was "not a ccapki store
(OperationalError)")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ccapki
from ccapki.errors import StoreError
from ccapki.store import Store
from kit.cli import Cli, error_with_hint

pytestmark = pytest.mark.sqlite_only  # SQLite URLs and the SQLite database file

#: the four ways a script opens or makes a store
CALLS = ("open_store", "init_store", "Store.open", "Store.init")


def _call(call: str, home: Path, url: str | None) -> None:
    if call == "open_store":
        ccapki.open_store(home, url=url).close()
    elif call == "init_store":
        ccapki.init_store(home, key_file=True, url=url).close()
    elif call == "Store.open":
        Store.open(home, url=url).close()
    else:
        Store.init(home, key_file=True, url=url).close()


def _cli_says(r_err: str) -> tuple[str, str]:
    """The command line's ``error:`` and ``hint:`` texts."""
    lines = r_err.splitlines()
    error = next(line for line in lines if line.startswith("error: "))
    hint = next(line for line in lines if line.startswith("hint: "))
    return error.removeprefix("error: "), hint.removeprefix("hint: ")


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///:memory:"])
def test_a_sqlite_url_naming_no_file_is_refused_as_the_command_line_refuses_it(
    cli: Cli, tmp_path: Path, url: str, call: str
) -> None:
    command = ("init", "--key-file") if "init" in call.lower() else ("status",)
    said = _cli_says(error_with_hint(cli(*command, env={"CCAPKI_DATABASE_URL": url})).err)
    home = tmp_path / "api"
    with pytest.raises(StoreError) as caught:
        _call(call, home, url)
    assert (caught.value.message, caught.value.hint) == said
    assert "in-memory" in caught.value.message
    assert not home.exists()  # init made the folder and an empty ccapki.db in it


#: ``_call`` in a process: a FIFO read from hangs (the test gives up after 30 s)
_SCRIPT = """
import json, sys
from pathlib import Path
import ccapki
from ccapki.store import Store
call, home, url = sys.argv[1], Path(sys.argv[2]), sys.argv[3] or None
try:
    if call == "open_store":
        ccapki.open_store(home, url=url).close()
    elif call == "init_store":
        ccapki.init_store(home, key_file=True, url=url).close()
    elif call == "Store.open":
        Store.open(home, url=url).close()
    else:
        Store.init(home, key_file=True, url=url).close()
    print(json.dumps(None))
except Exception as exc:
    print(json.dumps([type(exc).__name__, getattr(exc, "message", str(exc)),
                      getattr(exc, "hint", "")]))
"""


def _run(
    args: list[str], what: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} hung")


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("place", ["home", "url"])
@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_fifo_or_folder_in_the_databases_place_is_refused_never_read(
    tmp_path: Path, kind: str, place: str, call: str
) -> None:
    home = tmp_path / "store"
    home.mkdir(mode=0o700)
    db = home / "ccapki.db" if place == "home" else tmp_path / "elsewhere.db"
    url = "" if place == "home" else f"sqlite:///{db}"
    if kind == "fifo":
        os.mkfifo(db)
    else:
        db.mkdir()
    words = "a FIFO (named pipe)" if kind == "fifo" else "a folder"
    # the command line's words (as a process too: its init hung on a URL's FIFO)
    env = dict(os.environ)
    if url:
        env["CCAPKI_DATABASE_URL"] = url
    command = ["init", "--key-file"] if "init" in call.lower() else ["status"]
    done = _run(
        [sys.executable, "-m", "ccapki", "--home", str(home), *command], f"ccapki {command[0]}", env
    )
    assert done.returncode == 2, done.stderr
    said = _cli_says(done.stderr)
    assert said[0] == f"{db} is {words}, not the store's database file; nothing was read"

    got = _run([sys.executable, "-c", _SCRIPT, call, str(home), url], f"{call} on a {kind}")
    assert got.returncode == 0, got.stderr
    result = json.loads(got.stdout)
    assert result is not None, f"{call} opened a {kind} as a store"
    assert result == ["StoreError", *said], result
    assert sorted(p.name for p in home.iterdir()) == (["ccapki.db"] if place == "home" else [])
