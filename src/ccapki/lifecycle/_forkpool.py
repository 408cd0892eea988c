"""Forked worker processes that can be stopped at any moment without a hang.

``multiprocessing.Pool`` shares two queues between all its workers, each guarded by a
process-shared lock. ``Pool.terminate()`` (what leaving ``with Pool(...)`` does on an
error or a Ctrl-C) kills the workers and then waits for its task thread, which must put a
sentinel on the result queue: a worker killed while it was sending a result leaves that
queue's lock held forever, and the process never exits (seen as an ``apply`` that
ignored SIGTERM at random points under load).

Here each worker has its own pipe and works on one task at a time; nothing is shared
between workers, so killing them (SIGKILL) and joining them always ends.

A worker seldom waits for the parent between tasks: a small next task waits in its pipe
already (:data:`AHEAD`), and its results go into a send buffer made as large as the
system allows, so it works on while the parent is busy with earlier results (persisting
them, for ``apply``).
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import os
from collections.abc import Callable, Generator, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.reduction import ForkingPickler
from typing import Generic, TypeVar

__all__ = ["ForkedMap", "WorkerDied", "imap_forked"]

T = TypeVar("T")
R = TypeVar("R")

#: Tasks each worker holds at most (the one it works on, and those waiting in its pipe).
AHEAD = 2
#: A task waits in a worker's pipe only when it pickles to at most this many bytes (far
#: below any pipe's buffer): sending it never blocks, while the worker may be blocked
#: sending a large result.
_SMALL_TASK = 16 << 10
#: The send buffer a worker asks for its results (the system caps it: net.core.wmem_max).
_SEND_BUFFER = 4 << 20


def _widen_send_buffer(conn: Connection) -> None:
    """Ask for a larger send buffer on ``conn``'s socket (nothing when it is no socket)."""
    import socket

    fd = os.dup(conn.fileno())
    try:
        sock = socket.socket(fileno=fd)
    except OSError:  # a pipe: its buffer stays
        os.close(fd)
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SEND_BUFFER)
    except OSError:
        pass
    finally:
        sock.close()


class WorkerDied(RuntimeError):
    """A worker process ended without answering (killed, or out of memory)."""


class _Failed(Generic[T]):
    """What a worker sends back when its task raised."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _serve(conn: Connection, func: Callable[[T], R], initializer: Callable[[], None]) -> None:
    initializer()
    _widen_send_buffer(conn)
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


class ForkedMap(Generic[T, R]):
    """``func`` over ``items`` in ``workers`` forked processes, started at once (the
    workers are at work when the constructor returns); iterate it (once) for the results,
    in the order of ``items``.

    Each worker runs ``initializer`` first, and holds up to :data:`AHEAD` tasks (a large
    one only when it has no other). :meth:`close` (or leaving ``with``, or the end of the
    iteration, or an error or interruption such as :class:`~ccapki.errors.Interrupted`
    during it) kills the workers and reaps them.

    Iterating raises what ``func`` raised in a worker (the first in order), or
    :class:`WorkerDied`.
    """

    def __init__(
        self,
        func: Callable[[T], R],
        items: Sequence[T],
        workers: int,
        initializer: Callable[[], None],
    ) -> None:
        ctx = mp.get_context("fork")
        self._procs: list[tuple[mp.process.BaseProcess, Connection]] = []
        self._count = len(items)
        self._todo = iter(enumerate(items))
        #: the next task, pickled (taken from ``todo``, not sent yet)
        self._spare: list[bytes] = []
        self._busy: dict[Connection, mp.process.BaseProcess] = {}
        self._held: dict[Connection, int] = {}  # tasks sent to each worker, not answered yet
        # an iteration left suspended until the interpreter exits: multiprocessing would
        # SIGTERM the workers and wait for them, and a worker still starting up can lose
        # that SIGTERM; SIGKILL cannot be lost (atexit runs this before multiprocessing's)
        atexit.register(self._kill_all)
        proc: mp.process.BaseProcess
        try:
            for _ in range(min(workers, len(items))):
                parent_end, child_end = ctx.Pipe()
                proc = ctx.Process(target=_serve, args=(child_end, func, initializer), daemon=True)
                proc.start()
                child_end.close()
                self._procs.append((proc, parent_end))
            for depth in range(1, AHEAD + 1):  # one task each first, then one more each
                for proc, conn in self._procs:
                    self._feed(proc, conn, depth)
        except BaseException:
            self.close()
            raise

    def _kill_all(self) -> None:
        for proc, _conn in self._procs:
            if proc.exitcode is None:
                proc.kill()

    def close(self) -> None:
        """Kill the workers (those still at work) and reap them; idempotent."""
        atexit.unregister(self._kill_all)
        self._kill_all()
        procs, self._procs = self._procs, []
        for proc, conn in procs:
            proc.join()
            conn.close()

    def __enter__(self) -> ForkedMap[T, R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _feed(self, proc: mp.process.BaseProcess, conn: Connection, depth: int) -> None:
        held, spare = self._held, self._spare
        while held.get(conn, 0) < depth:
            if not spare:
                task = next(self._todo, None)
                if task is None:
                    return
                spare.append(bytes(ForkingPickler.dumps(task)))
            if held.get(conn, 0) and len(spare[0]) > _SMALL_TASK:
                return  # sent when the worker has answered (a send could block)
            try:
                conn.send_bytes(spare.pop())
            except OSError as exc:  # the worker is gone (BrokenPipeError)
                raise WorkerDied(
                    f"a worker process (pid {proc.pid}) ended without answering"
                ) from exc
            held[conn] = held.get(conn, 0) + 1
            self._busy[conn] = proc

    def __iter__(self) -> Generator[R, None, None]:
        busy, held = self._busy, self._held
        done: dict[int, object] = {}
        following = 0
        try:
            while following < self._count:
                for ready in wait(list(busy)):
                    assert isinstance(ready, Connection)
                    proc = busy[ready]
                    try:
                        index, result = ready.recv()
                    except (EOFError, OSError) as exc:
                        raise WorkerDied(
                            f"a worker process (pid {proc.pid}) ended without answering"
                        ) from exc
                    held[ready] -= 1
                    if not held[ready]:
                        del busy[ready]
                    done[index] = result
                    self._feed(proc, ready, AHEAD)
                while following in done:
                    result = done.pop(following)
                    if isinstance(result, _Failed):
                        raise result.exc
                    following += 1
                    yield result  # type: ignore[misc]
        finally:
            self.close()


def imap_forked(
    func: Callable[[T], R],
    items: Sequence[T],
    workers: int,
    initializer: Callable[[], None],
) -> Generator[R, None, None]:
    """``func`` over ``items`` in ``workers`` forked processes (started at the first
    ``next()``); results in the order of ``items`` (see :class:`ForkedMap`). Leaving the
    iteration early (done, an error, or an interruption such as
    :class:`~ccapki.errors.Interrupted`) kills the workers and reaps them before the
    exception goes on.

    Raises: what ``func`` raised in a worker (the first in order), or :class:`WorkerDied`.
    """
    with ForkedMap(func, items, workers, initializer) as pool:
        yield from pool
