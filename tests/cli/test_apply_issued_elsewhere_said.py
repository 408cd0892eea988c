"""What `apply` says of the identities another ccapki issued while it was issuing them: one
line each for a few, one line for them all beyond five (a walkthrough: two bulk applies
started together, the one that waited printed 2,001 lines of "casNNNN: another ccapki
issued it meanwhile"). The other writer is real: another store object on the same store,
applying the same file between this apply's decision and its first batch."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest

from ccapki.lifecycle import apply as apply_mod
from ccapki.store import Store
from ccapki.topology.loader import load_deployment
from kit.cli import Cli, deployment, ok, standalone, write


def _racing(home: Path, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before this apply's first batch, another writer applies ``path`` to ``home``."""
    real = apply_mod.issue_batches
    raced: list[bool] = []  # once: the other writer's own apply issues as ever

    def issue_batches(*args: object, **kwargs: object) -> Generator[list[object], None, None]:
        for batch in real(*args, **kwargs):  # type: ignore[arg-type]
            if batch and not raced:  # outside the deciding transaction (its lock) by now
                raced.append(True)
                with Store.open(home) as other:
                    apply_mod.apply_plan(other, load_deployment(path), other.now())
            yield batch

    monkeypatch.setattr(apply_mod, "issue_batches", issue_batches)


@pytest.mark.parametrize("cas", [3, 12])
def test_identities_issued_meanwhile_are_said_once(
    cli: Cli, keyfile_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cas: int
) -> None:
    path = write(
        tmp_path / "d.toml",
        deployment(cas=[standalone(f"cas{i}", f"10.1.{i}.1") for i in range(cas)]),
    )
    _racing(keyfile_store, path, monkeypatch)
    out = ok(cli("apply", str(path))).out
    lines = [line for line in out.splitlines() if "meanwhile" in line]
    if cas + 1 <= 5:
        assert len(lines) == cas + 1, out
        assert "cas0: another ccapki issued it meanwhile (kept as it is)" in lines
    else:
        assert lines == [
            f"{cas + 1} identities were issued meanwhile by another ccapki, kept as they are "
            f"(cam, cas0, cas1, cas10, cas11 +{cas + 1 - 5} more)"
        ], out
    assert "issued cas0 v" not in out  # nothing issued twice, nothing said twice
    with Store.open(keyfile_store) as store, store.scoped("test"):
        assert {i.version for i in store.identities.current().values()} == {1}
