"""The root clients need is said by the apply that finishes, also when the apply that
created its CA was interrupted (a walkthrough: 1,250 of 2,001 identities kept by a
SIGTERM'd first run; the second run issued the rest and never said the new root CA, as it
created no CA itself). The store keeps the CAs no finished apply has said, per deployment;
a later apply with nothing new says nothing of them again."""

from __future__ import annotations

import signal
from collections.abc import Generator
from pathlib import Path

import pytest

from ccapki.errors import Interrupted
from ccapki.lifecycle import apply as apply_mod
from ccapki.store import Store
from kit.cli import Cli, deployment, ok, standalone, write

ROOT = "Test Org Clean Access Root CA"
CLIENTS = "next: clients (agents, web-login and admin-GUI browsers) need"


def _stopped_after_one_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """This apply is interrupted (SIGTERM) once its first batch is committed."""
    real = apply_mod.issue_batches

    def issue_batches(*args: object, **kwargs: object) -> Generator[list[object], None, None]:
        given = 0
        for batch in real(*args, **kwargs):  # type: ignore[arg-type]
            if batch and given >= 2:  # the first batch (2) went to the store
                raise Interrupted(signal.SIGTERM)
            given += len(batch)
            yield batch

    monkeypatch.setattr(apply_mod, "issue_batches", issue_batches)
    monkeypatch.setattr(apply_mod, "BATCH_SIZE", 2)


def test_the_finishing_apply_says_the_root_an_interrupted_one_created(
    cli: Cli, keyfile_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path / "d.toml",
        deployment(cas=[standalone(f"cas{i}", f"10.1.{i}.1") for i in range(5)]),
    )
    with monkeypatch.context() as m:
        _stopped_after_one_batch(m)
        first = cli("apply", str(path))
    assert first.code == 143, first.both
    assert f"created CA {ROOT} (kept)" in first.out
    assert CLIENTS not in first.out  # it never got to its closing steps
    with Store.open(keyfile_store) as store, store.scoped("test"):
        kept = len(store.identities.current())
    assert 0 < kept < 6
    second = ok(cli("apply", str(path)))
    assert "created CA" not in second.out  # the CA is the first run's
    said = [line for line in second.out.splitlines() if line.startswith(CLIENTS)]
    assert len(said) == 1, second.out
    assert f"need {ROOT} in their trusted roots" in said[0]
    # said once: an apply with nothing new does not say it again
    third = ok(cli("apply", str(path)))
    assert CLIENTS not in third.out
    assert "nothing to do" in third.out


def test_an_apply_that_finishes_says_its_root_once(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    path = write(tmp_path / "d.toml", deployment(cas=[standalone("cas0", "10.1.0.1")]))
    assert f"need {ROOT} in their trusted roots" in ok(cli("apply", str(path))).out
    grown = deployment(cas=[standalone(f"cas{i}", f"10.1.{i}.1") for i in range(2)])
    again = ok(cli("apply", str(write(path, grown))))  # cas1 issued under the same root
    assert "issued cas1 v1" in again.out
    assert CLIENTS not in again.out
