"""The ``ccapki`` command. ``main(argv) -> int`` is testable in process.

This module stays tiny so ``ccapki --version`` starts as fast as Python itself; the command
groups are imported only when used.
"""

from __future__ import annotations

import sys

# not `from typing import ...`: typing and collections.abc are ~20 ms of start-up, and until
# main() has set its signal handlers a Ctrl-C is Python's (a KeyboardInterrupt traceback)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-V"]):
        from ccapki import __version__

        sys.stdout.write(f"ccapki {__version__}\n")
        return 0
    from ccapki import _classcache

    _classcache.install()  # before any module makes its dataclasses
    if argv is not None:  # in process (tests, the demo): the caller's signal handlers stay
        from ccapki.cli.app import run

        return run(args)
    # the process: a Ctrl-C or SIGTERM from here on gets `error:` + `hint:` (never a
    # traceback or a silent exit), and once the command is done none changes its exit code
    import signal

    from ccapki.errors import Interrupted

    def starting(signum: int, _frame: object) -> None:
        raise Interrupted(signum, "nothing was done (ccapki was starting); run the command again")

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, starting)
    try:
        from ccapki.cli.app import run

        code = run(args, exiting=True)
    except Interrupted as exc:  # before the command's own handlers took over
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        sys.stderr.write(f"error: interrupted ({exc.name})\nhint: {exc.hint}\n")
        sys.exit(exc.exit_code)
    finish(code)


def finish(code: int) -> NoReturn:
    """End the process with ``code`` once the command is done: the exit handlers run
    (logging's flush, temporary folders, worker pools), the standard streams are flushed,
    and the process ends without the interpreter's teardown of every module, which costs
    more than the work of many commands (~0.05 s once SQLAlchemy is loaded: each of its
    thousands of objects freed one by one, for memory the system takes back at once).

    Only the main thread may be left: with another thread alive, or a stream that cannot
    be flushed, the process exits as Python does (it waits for the threads, and says what
    it says of the stream). Every file and database connection is closed by the command
    itself before this (the store is a context manager).
    """
    import atexit
    import os
    import threading

    if threading.active_count() == 1:
        atexit._run_exitfuncs()
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):  # a full disk, a closed stream: Python's exit says it
            sys.exit(code)
        os._exit(code)
    sys.exit(code)
