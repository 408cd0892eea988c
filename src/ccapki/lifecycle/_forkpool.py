"""Forked worker processes that can be stopped at any moment without a hang.

``multiprocessing.Pool`` shares two queues between all its workers, each guarded by a
process-shared lock. ``Pool.terminate()`` (what leaving ``with Pool(...)`` does on an
error or a Ctrl-C) kills the workers and then waits for its task thread, which must put a
sentinel on the result queue: a worker killed while it was sending a result leaves that
queue's lock held forever, and the process never exits (seen as an ``apply`` that
ignored SIGTERM at random points under load).

Here each worker has its own pipe and works on one task at a time; nothing is shared
between workers, so killing them (SIGKILL) and joining them always ends.
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
from collections.abc import Callable, Generator, Sequence
from multiprocessing.connection import Connection, wait
from typing import Generic, TypeVar

__all__ = ["WorkerDied", "imap_forked"]

T = TypeVar("T")
R = TypeVar("R")


class WorkerDied(RuntimeError):
    """A worker process ended without answering (killed, or out of memory)."""


class _Failed(Generic[T]):
    """What a worker sends back when its task raised."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _serve(conn: Connection, func: Callable[[T], R], initializer: Callable[[], None]) -> None:
    initializer()
    while True:
        try:
            task = conn.recv()
        except EOFError:  # the parent is gone
            return
        if task is None:
            return
        index, item = task
        try:
            result: object = func(item)
        except Exception as exc:
            result = _Failed(exc)
        conn.send((index, result))


def imap_forked(
    func: Callable[[T], R],
    items: Sequence[T],
    workers: int,
    initializer: Callable[[], None],
) -> Generator[R, None, None]:
    """``func`` over ``items`` in ``workers`` forked processes; results in the order of
    ``items``.

    Each worker runs ``initializer`` first. Leaving the iteration early (done, an error,
    or an interruption such as :class:`~ccapki.errors.Interrupted`) kills the workers and
    reaps them before the exception goes on.

    Raises: what ``func`` raised in a worker (the first in order), or :class:`WorkerDied`.
    """
    ctx = mp.get_context("fork")
    procs: list[tuple[mp.process.BaseProcess, Connection]] = []
    proc: mp.process.BaseProcess

    def kill_all() -> None:
        for proc, _conn in procs:
            if proc.exitcode is None:
                proc.kill()

    # an iteration left suspended until the interpreter exits: multiprocessing would
    # SIGTERM the workers and wait for them, and a worker still starting up can lose
    # that SIGTERM; SIGKILL cannot be lost (atexit runs this before multiprocessing's)
    atexit.register(kill_all)
    try:
        for _ in range(min(workers, len(items))):
            parent_end, child_end = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(child_end, func, initializer), daemon=True)
            proc.start()
            child_end.close()
            procs.append((proc, parent_end))
        todo = iter(enumerate(items))
        busy: dict[Connection, mp.process.BaseProcess] = {}

        def feed(proc: mp.process.BaseProcess, conn: Connection) -> None:
            task = next(todo, None)
            if task is not None:
                conn.send(task)
                busy[conn] = proc

        for proc, conn in procs:
            feed(proc, conn)
        done: dict[int, object] = {}
        following = 0
        while following < len(items):
            for ready in wait(list(busy)):
                assert isinstance(ready, Connection)
                proc = busy.pop(ready)
                try:
                    index, result = ready.recv()
                except (EOFError, OSError) as exc:
                    raise WorkerDied(
                        f"a worker process (pid {proc.pid}) ended without answering"
                    ) from exc
                done[index] = result
                feed(proc, ready)
            while following in done:
                result = done.pop(following)
                if isinstance(result, _Failed):
                    raise result.exc
                following += 1
                yield result  # type: ignore[misc]
    finally:
        atexit.unregister(kill_all)
        kill_all()
        for proc, conn in procs:
            proc.join()
            conn.close()
