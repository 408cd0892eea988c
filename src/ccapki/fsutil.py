"""Safe file writing: atomic replace, private modes for anything holding a key."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "read_input_file"]

MAX_INPUT_BYTES = 16 * 1024 * 1024


def atomic_write(path: str | os.PathLike[str], data: bytes, *, private: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename).

    With ``private=True`` the file is created 0600 from the start, so a key is never
    readable by others, not even for an instant. A failure leaves any old file untouched
    and no temp file behind.
    """
    target = Path(path)
    try:
        return _atomic_write(target, data, private)
    except OSError as exc:
        from ccapki.errors import InputError

        raise InputError(
            f"{target}: cannot write ({exc.strerror or type(exc).__name__}); nothing was written",
            "choose a path in a folder that exists and that you can write to",
        ) from None


def _atomic_write(target: Path, data: bytes, private: bool) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


def read_input_file(path: str | os.PathLike[str], *, limit: int = MAX_INPUT_BYTES) -> bytes:
    """Read a user-supplied file, refusing unreadable, missing or oversized ones cleanly."""
    from ccapki.errors import InputError

    p = Path(path)
    try:
        size = p.stat().st_size
        if p.is_dir():
            raise InputError(f"{p}: is a folder, not a file", "name a file inside it")
        if size > limit:
            raise InputError(
                f"{p}: {size / 1048576:.1f} MB is far too large for a certificate, key or "
                "deployment file",
                f"check the path; files over {limit // 1048576} MB are refused",
            )
        return p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{p}: no such file", "check the path and try again") from None
    except PermissionError:
        raise InputError(
            f"{p}: permission denied", f"make the file readable: chmod u+r {p}"
        ) from None
    except IsADirectoryError:
        raise InputError(f"{p}: is a folder, not a file", "name a file inside it") from None
