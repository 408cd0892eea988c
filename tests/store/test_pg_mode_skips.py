"""Issue 13: the suite on PostgreSQL under CI cannot pass by skipping. With
``CCAPKI_TEST_BACKEND=postgresql`` and ``CI`` set, a test that skips for any reason but the
``sqlite_only`` marker fails (kit.pgmode); without CI it only skips. A real pytest run of a
small suite in a process of its own, with the plugin as the suite loads it. The variants of
a test run once per backend it names are left out of the PostgreSQL run (deselected): the
SQLite run ran each already, on its own backend."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kit.cli import write
from kit.tools import require_pg_url

TESTS = Path(__file__).resolve().parents[1]

CONFTEST = """
import pytest

pytest_plugins = ["kit.pgmode"]


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: about SQLite itself")
    config.addinivalue_line("markers", "no_store: makes no store")


@pytest.fixture
def _clean_env():  # the suite's own (tests/conftest.py) is not needed here
    pass
"""

SUITE = """
import pytest


def test_runs():
    pass


@pytest.mark.sqlite_only
def test_about_sqlite():
    pass


def test_skips_in_its_body():
    pytest.skip("no frobnicator here")


@pytest.mark.skipif(True, reason="a condition")
def test_skips_by_marker():
    pass


@pytest.mark.xfail(reason="known", strict=True)
def test_expected_to_fail():
    raise AssertionError


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_once_per_backend(backend):
    pass


@pytest.mark.no_store
def test_without_a_store():
    pass
"""


def _run(tmp_path: Path, suite: str = SUITE, **env: str) -> subprocess.CompletedProcess[str]:
    write(tmp_path / "suite" / "conftest.py", CONFTEST)
    write(tmp_path / "suite" / "test_suite.py", suite)
    full = {k: v for k, v in os.environ.items() if k not in ("CI", "CCAPKI_TEST_BACKEND")}
    full.update(PYTHONPATH=str(TESTS), CCAPKI_TEST_PG_URL=require_pg_url(), **env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "suite"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=full,
        timeout=300,
        check=False,
    )


def _outcomes(out: str) -> dict[str, str]:
    """test name -> PASSED, FAILED, ERROR (a failure in setup) or XFAIL, from ``-rA``."""
    found: dict[str, str] = {}
    for line in out.splitlines():
        word, _, rest = line.partition(" ")
        if word in ("PASSED", "FAILED", "ERROR", "XFAIL") and "::" in rest:
            found[rest.split("::", 1)[1].split(" ", 1)[0]] = word
    return found


@pytest.mark.parametrize("ci", [True, False], ids=["CI", "laptop"])
def test_only_sqlite_only_tests_may_skip_on_postgresql_under_ci(tmp_path: Path, ci: bool) -> None:
    r = _run(tmp_path, CCAPKI_TEST_BACKEND="postgresql", **({"CI": "true"} if ci else {}))
    got = _outcomes(r.stdout)
    assert got.get("test_runs") == "PASSED", r.stdout
    assert got.get("test_expected_to_fail") == "XFAIL", r.stdout
    assert "SKIPPED [1] suite/test_suite.py:9: about SQLite itself" in r.stdout  # sqlite_only
    if ci:
        assert r.returncode == 1, r.stdout
        assert got.get("test_skips_in_its_body") == "FAILED", r.stdout
        assert got.get("test_skips_by_marker") == "ERROR", r.stdout  # in its setup
        assert "(Skipped: no frobnicator here)" in r.stdout
        assert "only tests marked sqlite_only may skip there" in r.stdout
        assert "1 failed, 1 passed, 1 skipped, 3 deselected, 1 xfailed, 1 error" in r.stdout
    else:
        assert r.returncode == 0, r.stdout
        assert "1 passed, 3 skipped, 3 deselected, 1 xfailed" in r.stdout, r.stdout


def test_on_sqlite_under_ci_skips_stay_skips(tmp_path: Path) -> None:
    """The SQLite run keeps its rules: kit.tools.need() is what fails there under CI."""
    r = _run(tmp_path, CI="true")
    assert r.returncode == 0, r.stdout
    assert "5 passed, 2 skipped, 1 xfailed" in r.stdout, r.stdout


NO_STORE_BROKEN = """
import pytest

from ccapki.store import Store


@pytest.mark.no_store
def test_opens_one_all_the_same(tmp_path):
    Store.init(tmp_path / "s", key_file=True)
"""


def test_a_no_store_test_that_opens_a_store_fails_on_sqlite(tmp_path: Path) -> None:
    """The marker stays true: the SQLite run fails a no_store test that makes a store (the
    PostgreSQL run, which leaves it out, would never see it)."""
    r = _run(tmp_path, NO_STORE_BROKEN, CI="true")
    assert r.returncode == 1, r.stdout
    assert "is marked no_store (the PostgreSQL run leaves it out) but makes or opens a store" in (
        r.stdout
    )
