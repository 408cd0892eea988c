"""The forked workers of a bulk ``apply`` (lifecycle/_forkpool.py) always stop.

With ``multiprocessing.Pool`` a SIGTERM at a random point of ``apply`` could hang the
process for good: ``Pool.terminate()`` killed a worker while it was sending a result and
then waited for a thread that needed that worker's lock (seen in CI: an ``apply`` that did
not exit 600 s after its SIGTERM; a stack dump showed ``_handle_tasks`` blocked in
``SimpleQueue.put``). These tests stop the pool at the moments that matter: workers in the
middle of sending large results, workers busy in a long task, a worker dying, a task
raising, and an iteration left suspended until the interpreter exits (multiprocessing then
SIGTERMs the workers and waits for them; a worker still starting up lost that SIGTERM and
the exit hung: the workers are now SIGKILLed first). Each runs in a child process with a
deadline, so a hang fails the test instead of the suite.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from ccapki.lifecycle._forkpool import WorkerDied, imap_forked


def _quiet() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _square(n: int) -> int:
    return n * n


def _fail_on_three(n: int) -> int:
    if n == 3:
        raise ValueError("three")
    return n


def _die_on_two(n: int) -> int:
    if n == 2:
        os._exit(9)
    return n


def test_results_come_back_in_order() -> None:
    assert list(imap_forked(_square, list(range(50)), 3, _quiet)) == [n * n for n in range(50)]


def test_an_error_in_a_worker_is_raised_here_in_order() -> None:
    got: list[int] = []
    with pytest.raises(ValueError, match="three"):
        got.extend(imap_forked(_fail_on_three, list(range(10)), 2, _quiet))
    assert got == [0, 1, 2]


def test_a_worker_that_dies_is_reported() -> None:
    with pytest.raises(WorkerDied, match="ended without answering"):
        list(imap_forked(_die_on_two, list(range(6)), 2, _quiet))


def _children() -> set[int]:
    """This process's children, running or not yet reaped (Linux)."""
    pids: set[int] = set()
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as f:
            pids |= {int(p) for p in f.read().split()}
    return pids


def test_no_worker_outlives_the_iteration() -> None:
    before = _children()
    it = imap_forked(_square, list(range(100)), 2, _quiet)
    assert next(it) == 0
    it.close()
    assert _children() == before  # the workers were killed and reaped


SCENARIO = textwrap.dedent(
    """
    import os, signal, sys, time
    from ccapki.lifecycle._forkpool import imap_forked

    class Stop(BaseException):
        pass

    def stop(signum, frame):
        raise Stop()

    def quiet():
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def big(n):
        if n == 0:
            return b""
        if n % 2:
            time.sleep(3600)  # busy in a long task
        return b"x" * (8 << 20)  # blocks in the pipe (64 KiB): the parent reads slowly

    signal.signal(signal.SIGTERM, stop)
    it = imap_forked(big, list(range(8)), 4, quiet)
    try:
        next(it)
        os.kill(os.getpid(), signal.SIGTERM)  # as a Ctrl-C or a service stop would
        for _ in it:
            time.sleep(1)
    except Stop:
        print("stopped", flush=True)
    """
)


def test_a_signal_while_workers_send_or_work_ends_the_process() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCENARIO], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "stopped"
    assert "Traceback" not in proc.stderr
