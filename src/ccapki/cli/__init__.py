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
    from ccapki.cli.app import run

    code = run(args)
    if argv is None:
        sys.exit(code)
    return code
