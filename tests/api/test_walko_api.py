"""Walkthrough O (an administrator's scripts on the Python API after a day of changes).

- A wrong type of argument escaped as a bare ``AttributeError`` from inside:
  ``check_trust(store, "faq-campus")`` (a name, not a ``Deployment``: "'str' object has no
  attribute 'name'") and ``estate_status(store, "2026-11-29")`` ("'str' object has no
  attribute 'tzinfo'"). They raise ``InputError`` with a hint now.
- Backups (``ccapki backup create [--skip-damaged]``) were not reachable from the API:
  ``ccapki.create_backup`` did not exist.
- ``inventory_page(store, dep)`` (a ``Deployment``, as docs/api.md and every other function
  take it) raised a bare SQLAlchemy ``ProgrammingError`` ("Error binding parameter"): it
  took only the name. It takes either now.
"""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest

import ccapki
from kit.certs import NOW
from kit.cli import FAQ


@pytest.fixture
def faq(tmp_path: Path) -> tuple[Path, ccapki.Deployment]:
    dep = ccapki.load_deployment(FAQ)
    home = tmp_path / "home"
    with ccapki.init_store(home, key_file=True, clock=lambda: NOW) as store:
        ccapki.apply(store, dep)
    return home, dep


def test_a_name_or_a_string_time_is_refused_with_a_typed_error(
    faq: tuple[Path, ccapki.Deployment],
) -> None:
    home, dep = faq
    with ccapki.open_store(home, clock=lambda: NOW) as store:
        with pytest.raises(ccapki.InputError, match="is not a Deployment") as err:
            ccapki.check_trust(store, dep.name)  # type: ignore[arg-type]
        assert "load_deployment" in err.value.hint
        with pytest.raises(ccapki.InputError, match="is not a Deployment"):
            ccapki.plan_renewal(store, str(FAQ))  # type: ignore[arg-type]
        with pytest.raises(ccapki.InputError, match="is not a datetime") as err:
            ccapki.estate_status(store, "2026-11-29")  # type: ignore[arg-type]
        assert "aware datetime" in err.value.hint
        with pytest.raises(ccapki.InputError, match="is not a datetime"):
            ccapki.check_trust(store, dep, NOW.date())  # type: ignore[arg-type]
        assert ccapki.check_trust(store, dep, NOW + dt.timedelta(hours=1)).cells


def test_create_backup_from_the_api(faq: tuple[Path, ccapki.Deployment], tmp_path: Path) -> None:
    home, _ = faq
    out = tmp_path / "nightly.backup"
    with ccapki.open_store(home, clock=lambda: NOW) as store:
        summary = ccapki.create_backup(store, out, "backup passphrase 1", skip_damaged=True)
        assert summary.identities > 0
        assert summary.path is not None
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        assert not summary.skipped
        with pytest.raises(ccapki.InputError):  # a folder that does not exist: no file
            ccapki.create_backup(store, tmp_path / "no" / "x.backup", "backup passphrase 1")
        with pytest.raises(ccapki.InputError):
            ccapki.create_backup(store, tmp_path / "y.backup", b"bytes")  # type: ignore[arg-type]
    assert not (tmp_path / "y.backup").exists()
    assert {"create_backup", "BackupSummary"} <= set(ccapki.__all__) & set(ccapki.api.__all__)


def test_inventory_page_takes_a_deployment_as_the_others_do(
    faq: tuple[Path, ccapki.Deployment],
) -> None:
    home, dep = faq
    with ccapki.open_store(home, clock=lambda: NOW) as store:
        by_dep = ccapki.inventory_page(store, dep)
        assert by_dep.total == ccapki.inventory_page(store, dep.name).total > 0
        with pytest.raises(ccapki.InputError, match="is not a Deployment"):
            ccapki.inventory_page(store, 5)  # type: ignore[arg-type]
