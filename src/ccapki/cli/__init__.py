"""The ``ccapki`` command. ``main(argv) -> int`` is testable in process.

This module stays tiny so ``ccapki --version`` starts as fast as Python itself; the command
groups are imported only when used.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-V"]):
        from ccapki import __version__

        sys.stdout.write(f"ccapki {__version__}\n")
        return 0
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
        code = exc.exit_code
    sys.exit(code)
