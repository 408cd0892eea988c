"""The lab daemon's state while it reloads: ``ccapki lab reload`` waits until the state
says the attempt ended (``reload_attempts`` grew) and then reads its outcome (``reloads``
grew, or ``last_error``). The lab writes its state after every round of links, and a reload
ends with one: the daemon counted the attempt before the reload, so that round's state said
"attempt over, no reload, no error" and ``lab reload`` printed "lab reloaded (0 reloads so
far)" (a full run caught it in tests/lab/test_lab_lifecycle.py::test_passphrase_store).
The attempt is now counted with its outcome."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccapki.lab import Lab
from ccapki.lab.daemon import _Daemon
from kit.lab import Deployment, run

#: makes no store (the handshakes are its subject): the PostgreSQL run leaves it out
pytestmark = pytest.mark.no_store


def test_every_state_written_counts_an_attempt_with_its_outcome(
    deployment: Deployment, tmp_path: Path
) -> None:
    spec = deployment.spec()
    daemon = _Daemon(lambda: spec, tmp_path)
    seen: list[tuple[int, int, str | None]] = []
    write = daemon.write_state

    def watched(*, running: bool = True) -> None:
        seen.append((daemon.reloads, daemon.reload_attempts, daemon.last_error))
        write(running=running)

    async def go() -> None:
        daemon.lab = Lab(spec, on_update=watched)
        await daemon.lab.start()
        try:
            daemon.write_state = watched  # type: ignore[method-assign]
            seen.clear()
            await daemon.reload()
        finally:
            await daemon.lab.stop()

    run(go())
    assert seen, "the reload wrote no state"
    assert seen[-1] == (1, 1, None)  # the reload worked, and says so
    for reloads, attempts, error in seen:  # never an attempt over with no outcome
        assert attempts == reloads or error is not None, seen
