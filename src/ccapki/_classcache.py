"""The compiled methods of dataclasses, kept between runs the way Python keeps a module's
bytecode.

Every ``@dataclass`` writes its ``__init__``, ``__repr__``, ``__eq__``, ``__hash__`` (and, when
frozen, ``__setattr__`` and ``__delattr__``) as source text and compiles it when the class is
made. Compiling is ~80% of making a class: ~0.9 ms of each frozen dataclass on Python 3.11,
and a command such as ``trust check`` makes ~95 of them, ~85 ms of its ~0.4 s. Python
caches a module's bytecode in ``__pycache__``; it caches nothing of these texts.

:func:`install` gives the ``dataclasses`` module an ``exec`` that looks each text up in a
table of compiled code first. The table is read from one file beside ccapki's own bytecode
(``__pycache__``, or under ``sys.pycache_prefix``), named for the interpreter's cache tag
and headed by its bytecode magic number; a text not in it is compiled as ``dataclasses``
would and the table is written back, atomically, when the process ends. The same rules as
Python's bytecode apply:

- the code run is exactly what compiling the text gives (a text is its own key), so every
  class, ours or a library's, is made as it would be without the table;
- nothing is written when Python writes no bytecode (``PYTHONDONTWRITEBYTECODE``, ``-B``) or
  the folder is not writable; a missing, unreadable, foreign or damaged file is compiled
  around and replaced, never an error;
- the file is trusted as the ``.pyc`` files beside it are, and lives where they do, with
  the same permissions.

Importing this module installs it. The CLI and the Python API (:mod:`ccapki.api`) import
it before their own modules load; ``import ccapki`` does not (``ccapki --version`` loads no
``dataclasses`` at all).
"""

from __future__ import annotations

import builtins
import contextlib
import marshal
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import CodeType

__all__ = ["cache_file", "install"]

_FORMAT = b"ccapki dataclass code 2\n"
# a module's table this large holds texts no longer made (edits of ccapki, a library's other
# versions): the next write keeps only what its own process used
_MOST = 512


class _Table:
    """Compiled method texts by the module whose class they are for. The file holds one
    marshalled blob per module, and a blob is read only when its module makes a class: a
    command that makes ten classes does not read the code of five hundred."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.blobs: dict[str, bytes] | None = None  # the file, read on the first class made
        self.modules: dict[str, dict[str, CodeType]] = {}
        self.used: dict[str, dict[str, CodeType]] = {}
        self.changed: set[str] = set()

    def _read(self) -> dict[str, bytes]:
        blobs: dict[str, bytes] = {}
        if self.path is not None:
            try:
                with open(self.path, "rb") as f:
                    data = f.read()
                head = _header()
                if data.startswith(head):
                    loaded = marshal.loads(data[len(head) :])  # noqa: S302 - as a .pyc
                    if isinstance(loaded, dict):
                        blobs = loaded
            except Exception:  # any damage: compile as dataclasses would
                blobs = {}
        self.blobs = blobs
        return blobs

    def _module(self, name: str) -> dict[str, CodeType]:
        table = self.modules.get(name)
        if table is None:
            blobs = self.blobs if self.blobs is not None else self._read()
            table = {}
            blob = blobs.get(name)
            if isinstance(blob, bytes):
                try:
                    loaded = marshal.loads(blob)  # noqa: S302 - as a .pyc
                    if isinstance(loaded, dict):
                        table = loaded
                except Exception:  # a damaged blob: that module's classes are compiled
                    table = {}
            self.modules[name] = table
        return table

    def exec(self, source: object, globals: object = None, locals: object = None, /) -> None:
        """``exec`` as ``dataclasses`` calls it, with the text's code from the table."""
        if not isinstance(source, str) or not isinstance(globals, dict):
            builtins.exec(source, globals, locals)  # type: ignore[arg-type]  # noqa: S102
            return
        name = str(globals.get("__name__", ""))
        table = self._module(name)
        code = table.get(source)
        if code is None:
            code = table[source] = compile(source, "<string>", "exec")
            self.changed.add(name)
        self.used.setdefault(name, {})[source] = code
        builtins.exec(code, globals, locals)  # type: ignore[arg-type]  # noqa: S102

    def save(self) -> None:
        """Write the table back if this process compiled a text it did not hold."""
        if not self.changed or self.path is None or sys.dont_write_bytecode:
            return
        blobs = dict(self.blobs or {})
        for name in self.changed:
            table = self.modules[name]
            if len(table) > _MOST:
                table = self.used[name]
            blobs[name] = marshal.dumps(table)
        tmp = f"{self.path}.{os.getpid()}.tmp"
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(_header())
                f.write(marshal.dumps(blobs))
            os.replace(tmp, self.path)
        except Exception:  # a read-only install, a full disk: no table, as with bytecode
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        self.changed.clear()


def _header() -> bytes:
    from importlib.util import MAGIC_NUMBER

    return MAGIC_NUMBER + _FORMAT


def cache_file() -> str | None:
    """The table's path for this interpreter, or None when Python keeps no bytecode cache
    (no cache tag)."""
    tag = sys.implementation.cache_tag
    if tag is None:
        return None
    from importlib.util import cache_from_source

    here = os.path.abspath(__file__)
    folder = os.path.dirname(cache_from_source(here))
    return os.path.join(folder, f"dataclasses.{tag}.code")


_table: _Table | None = None


def install() -> None:
    """Give ``dataclasses`` the cached ``exec`` (once per process; later calls do nothing)."""
    global _table
    if _table is not None:
        return
    import atexit
    import dataclasses

    _table = _Table(cache_file())
    dataclasses.exec = _table.exec  # type: ignore[attr-defined]  # its global, before builtins
    atexit.register(_table.save)


install()
