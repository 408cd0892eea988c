"""Where a signal handler that raises must not raise, and how it waits for the next moment.

A handler installed with :func:`signal.signal` runs between two bytecodes of whatever the
main thread executes, and what it raises comes out there. At the top of a context
manager's ``__enter__`` or ``__exit__`` that leaves what it manages half done: raised as
``store.transaction()``'s ``__exit__`` began (a kill test caught it, about once in a hundred
Ctrl-Cs of a bulk ``apply``), the transaction was neither committed nor rolled back, the
store object still held it open, so what apply then read of its batch came from that
uncommitted transaction: it said the batch was kept, and the batch was gone when the
process ended. Such a signal is delivered again a moment later instead, once the context
manager has finished entering or leaving.

The signal sent again can come back before the handler that deferred it has returned (a
loaded machine: the main thread waits longer than the timer's millisecond for the timer's
thread to start; CI caught it). It is then handled inside that handler, still at the
seam, so it waits again: a handler made with :func:`signal_handler` never raises inside
another one's run.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from types import CodeType, FrameType

__all__ = ["at_a_seam", "deliver_again", "signal_handler"]

#: The functions a raising handler never interrupts: what they manage is taken or let go
#: whole, and an exception raised in them (before or after their own steps) skips the rest.
_SEAMS = frozenset({"__enter__", "__exit__", "__aenter__", "__aexit__"})

#: How long after a deferred signal it comes again (seconds).
AGAIN_AFTER = 0.001

#: What sends a deferred signal again (a test swaps it).
_timer = threading.Timer


#: The code of the handlers :func:`signal_handler` marked.
_HANDLING: set[CodeType] = set()

Handler = Callable[[int, FrameType | None], None]


def signal_handler(handler: Handler) -> Handler:
    """Mark ``handler`` (a signal handler that raises) as one :func:`at_a_seam` knows: a
    signal handled while it runs (the one it deferred, come back early) waits too."""
    _HANDLING.add(handler.__code__)
    return handler


def at_a_seam(frame: FrameType | None) -> bool:
    """Whether the frame a signal handler was given (the code the signal stopped) is a
    context manager's ``__enter__`` or ``__exit__``, or code a signal handler runs (this
    one's deferral, come back before it returned): the handler must not raise there."""
    if frame is None:
        return False
    if frame.f_code.co_name in _SEAMS:
        return True
    here: FrameType | None = frame
    while here is not None:
        if here.f_code in _HANDLING or here.f_globals.get("__name__") == __name__:
            return True
        here = here.f_back
    return False


def deliver_again(signum: int, after: float | None = None) -> None:
    """Send ``signum`` to this process again ``after`` seconds (:data:`AGAIN_AFTER`) from
    now (from a daemon thread): the main thread handles it wherever it is by then."""
    wait = AGAIN_AFTER if after is None else after
    later = _timer(wait, os.kill, (os.getpid(), signum))
    later.daemon = True
    later.start()
