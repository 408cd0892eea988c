"""Safe file writing: atomic replace, private modes for anything holding a key."""

from __future__ import annotations

import contextlib
import os
import re
import stat
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from ccapki.errors import InputError

__all__ = [
    "STDOUT",
    "StagedFile",
    "atomic_write",
    "atomic_write_all",
    "atomic_writer",
    "check_output_file",
    "check_output_folder",
    "is_temp_name",
    "make_folders",
    "missing_folders",
    "open_input_stream",
    "read_input_file",
    "refuse_key_on_stdout",
    "stage_file",
    "unreadable",
    "write_output",
]

MAX_INPUT_BYTES = 16 * 1024 * 1024


def atomic_write(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    private: bool = False,
    follow_symlink: bool = False,
) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename).

    With ``private=True`` the file is created 0600 from the start, so a key is never
    readable by others, not even for an instant. A failure leaves any old file untouched
    and no temp file behind.

    Only a regular file is ever replaced: a device, FIFO, socket or folder at ``path`` is
    refused (a rename would turn ``/dev/full`` into a file). A symbolic link is refused
    too, unless ``follow_symlink``: then the file it points to is written and the link
    stays a link. Returns the path written.
    """
    target = Path(path)
    try:
        target = _writable_target(target, follow_symlink)
        return _atomic_write(target, data, private)
    except OSError as exc:
        raise cannot_write(target, _os_why(exc, target), _os_hint(exc)) from None


def _os_why(exc: OSError, target: Path) -> str:
    """Why a write failed, in words: the system's, but for a folder that exists and takes
    no new file (``/proc``, ``/sys``), whose "No such file or directory" says the opposite
    of what is there (the temporary file beside the target cannot be made)."""
    import errno

    why = exc.strerror or type(exc).__name__
    if exc.errno == errno.ENOENT and target.parent.is_dir():
        return f"{target.parent} takes no new file: {why}"
    return why


def _os_hint(exc: OSError) -> str:
    """The fix of a failed write, by its cause: a full disk or quota is not a bad path."""
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return (
            "free space (or choose a folder on another file system); the old file, if any, "
            "is untouched"
        )
    if exc.errno == errno.EROFS:
        return "the file system is read-only: choose a folder on a writable one"
    return "choose a path in a folder that exists and that you can write to"


def atomic_write_all(
    files: Sequence[tuple[str | os.PathLike[str], bytes]],
    *,
    private: bool | Sequence[bool] = False,
    follow_symlink: bool = False,
) -> list[Path]:
    """Write several files all or nothing: every file's data goes to a temporary file
    beside it first (fsynced, 0600 from the start when ``private``: for all of them, or
    one flag per file), and only when all are written are they renamed over their paths.
    A failure (a full disk, a folder or device where a file must go) removes the
    temporary files and leaves every path as it was. Returns the paths written, in order; raises
    :class:`~ccapki.errors.InputError` as :func:`atomic_write` does. Folders it makes for
    the files are removed again on a failure (when left empty)."""
    temps: list[tuple[str, Path]] = []
    made: list[Path] = []  # folders this call made, innermost first
    target = Path()
    secrets = [private if isinstance(private, bool) else private[n] for n in range(len(files))]
    # a folder made for a key file is 0700, whichever of its files comes first
    private_folders = {
        Path(path).parent.absolute() for (path, _), s in zip(files, secrets, strict=True) if s
    }
    try:
        try:
            for (path, data), secret in zip(files, secrets, strict=True):
                target = _writable_target(Path(path), follow_symlink)
                folder_private = target.parent.absolute() in private_folders
                made[:0] = make_folders(target.parent, private=folder_private)
                fd, tmp = _temp_beside(target)
                temps.append((tmp, target))
                os.fchmod(fd, 0o600 if secret else 0o644)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
            raise cannot_write(target, why, _os_hint(exc)) from None
        for tmp, target in temps:
            os.replace(tmp, target)
    except BaseException:
        for tmp, _ in temps:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        for folder in made:  # a failed write leaves no empty folder of its own behind
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return [t for _, t in temps]


class StagedFile:
    """A file written in full (fsynced) under a temporary name beside its ``target``
    (:func:`stage_file`), not yet in place: :meth:`place` renames it over ``target``,
    :meth:`discard` removes it. A process killed before either leaves only the temporary
    file, which the next write into that folder removes (see ``_temp_beside``)."""

    def __init__(self, tmp: str, target: Path) -> None:
        self.tmp = tmp
        self.target = target

    def place(self) -> Path:
        """Rename the file over ``target``; returns ``target``. Raises
        :class:`~ccapki.errors.InputError` when the rename fails (the temporary file is
        removed then)."""
        try:
            os.replace(self.tmp, self.target)
        except OSError as exc:
            self.discard()
            why = exc.strerror or type(exc).__name__
            raise cannot_write(self.target, why, _os_hint(exc)) from None
        return self.target

    def discard(self) -> None:
        """Remove the temporary file (``target`` is left as it was). Raises nothing."""
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)


def stage_file(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    private: bool = False,
    follow_symlink: bool = False,
) -> StagedFile:
    """The first half of :func:`atomic_write`: ``data`` written and fsynced to a temporary
    file beside ``path`` (its folder made if missing), renamed over ``path`` only by the
    returned :meth:`StagedFile.place` (e.g. once the store committed what the file
    hands over). Refuses what :func:`atomic_write` refuses
    (:class:`~ccapki.errors.InputError`); a failure leaves no temporary file."""
    target = Path(path)
    tmp = ""
    try:
        target = _writable_target(target, follow_symlink)
        make_folders(target.parent, private=private)
        fd, tmp = _temp_beside(target)
        os.fchmod(fd, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException as exc:
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(exc, OSError):
            raise cannot_write(target, _os_why(exc, target), _os_hint(exc)) from None
        raise
    return StagedFile(tmp, target)


#: the mode of a folder ccapki makes (``--out DIR``, a file's missing folders): never
#: writable by others, whatever the umask (a folder clients install roots from); the
#: umask may take more away
FOLDER_MODE = 0o755
#: the mode of a folder ccapki makes for files holding a private key
PRIVATE_FOLDER_MODE = 0o700


def make_folders(folder: str | os.PathLike[str], *, private: bool = False) -> list[Path]:
    """Make ``folder`` and its missing parents, as ``mkdir -p`` does but each at most
    :data:`FOLDER_MODE` (``folder`` itself :data:`PRIVATE_FOLDER_MODE` when ``private``:
    it is made for a key) whatever the umask: a umask of 000 never makes a world-writable
    folder. A folder that exists is left as it is, its mode too. Returns the folders made,
    innermost first (absolute). Raises :class:`OSError`; the folders made before the
    failure are removed again."""
    missing = missing_folders(Path(folder))
    made: list[Path] = []
    try:
        for p in reversed(missing):  # outermost first
            mode = PRIVATE_FOLDER_MODE if private and p == missing[0] else FOLDER_MODE
            try:
                os.mkdir(p, mode)  # the umask can only take bits away from mode
            except FileExistsError:  # made meanwhile (another ccapki): as exist_ok
                if not p.is_dir():
                    raise
                continue
            made.insert(0, p)
    except BaseException:
        for p in made:
            with contextlib.suppress(OSError):
                p.rmdir()
        raise
    return made


def missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, innermost first (what
    ``mkdir(parents=True)`` would make)."""
    out: list[Path] = []
    p = folder.absolute()
    while not p.exists() and p != p.parent:
        out.append(p)
        p = p.parent
    return out


#: ``--out -``: standard output.
STDOUT = "-"


def write_output(
    out: str | os.PathLike[str],
    data: bytes,
    *,
    private: bool = False,
    follow_symlink: bool = False,
    force_stdout: bool = False,
    make_folder: bool = False,
) -> str:
    """``--out``: ``-`` writes ``data`` to standard output, anything else is a file written by
    :func:`atomic_write`. A private key (``private``) goes to standard output only with
    ``force_stdout``. The file's folder must exist (:func:`check_output_file`) unless
    ``make_folder`` (a command that writes a folder of files makes it). Returns where it
    went (``"<stdout>"`` or the path).
    """
    if str(out) == STDOUT:
        refuse_key_on_stdout(private=private, force_stdout=force_stdout)
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return "<stdout>"
    if make_folder:
        check_output_folder(Path(out).parent, target=out)
    else:
        check_output_file(out, follow_symlink=follow_symlink)
    return str(atomic_write(out, data, private=private, follow_symlink=follow_symlink))


_FILE_HINT = (
    "choose a file path: ccapki replaces regular files only (`--out -` writes to standard output)"
)
_FOLDER_HINT = "choose a folder for --out (it is made if missing), or `--out -` for standard output"


def cannot_write(target: str | os.PathLike[str], why: str, hint: str = _FILE_HINT) -> InputError:
    """The one wording of every refused ``--out``: ``TARGET: cannot write (WHY); nothing
    was written`` (a device, FIFO or file where a folder or file must be, a missing folder,
    an OS error)."""
    from ccapki.errors import InputError

    return InputError(f"{target}: cannot write ({why}); nothing was written", hint)


def _kind(path: Path) -> str | None:
    """What is at ``path`` in words (following links), ``None`` when nothing is."""
    try:
        st = path.stat()
    except OSError:
        return None
    return _file_kind(st.st_mode) or "a regular file"


def check_output_file(out: str | os.PathLike[str], *, follow_symlink: bool = False) -> None:
    """Refuse a single-file ``--out`` before anything is done: its folder must exist (a typo
    never makes folders), and what is at ``out`` must be a regular file or nothing."""
    if isinstance(out, str) and not out:
        raise _empty_out()
    target = Path(out)
    parent = target.parent
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    kind = _kind(existing)
    if kind is not None and kind != "a folder":
        raise cannot_write(
            target, f"{existing} is {kind}, not a folder", "choose --out in a folder that exists"
        )
    if existing != parent:
        import shlex

        raise cannot_write(
            target,
            f"the folder {parent} does not exist",
            f"create it first (`mkdir -p {shlex.quote(str(parent))}`), or choose --out in a "
            "folder that exists",
        )
    _writable_target(target, follow_symlink)


def check_output_folder(
    folder: str | os.PathLike[str], *, target: str | os.PathLike[str] | None = None
) -> None:
    """Refuse an ``--out`` folder (of a command writing a folder of files, which makes it if
    missing) that cannot be made or written to, before anything is done. ``target`` is
    the path named in the error (default: the folder)."""
    if (folder if target is None else target) == "":
        raise _empty_out()
    folder = Path(folder)
    named = folder if target is None else Path(target)
    if folder.is_symlink() and not folder.exists():  # broken, or a loop: never made
        try:
            where = f"to {os.readlink(folder)}"
        except OSError as exc:
            where = exc.strerror or str(exc)
        raise cannot_write(
            named,
            f"{folder} is a symbolic link that leads to no folder ({where})",
            "point the link at a folder, or choose another --out",
        )
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    kind = _kind(existing)
    if kind is not None and kind != "a folder":
        raise cannot_write(named, f"{existing} is {kind}, not a folder", _FOLDER_HINT)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise cannot_write(
            named, f"{existing} is not writable", "choose an --out folder you can write to"
        )


def _empty_out() -> InputError:
    """``--out ""`` (``--out "$DIR"`` with DIR unset): never the current folder instead."""
    from ccapki.errors import InputError

    return InputError(
        "--out is empty: nothing was written",
        "name the file or folder to write (`--out PATH`; `--out -`: standard output)",
    )


def refuse_key_on_stdout(*, private: bool, force_stdout: bool) -> None:
    """A private key reaches standard output (a terminal, a log, a pipe) only on request."""
    if private and not force_stdout:
        from ccapki.errors import InputError

        raise InputError(
            "refusing to write a private key to standard output; nothing was written",
            "pass --force-stdout to write it there anyway, or --out FILE (written 0600)",
        )


def _file_kind(mode: int) -> str | None:
    """What a non-regular file is, in words; ``None`` for a regular file."""
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symbolic link"),
    )
    for test, name in kinds:
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def _writable_target(target: Path, follow_symlink: bool) -> Path:
    """The file to replace: ``target`` (or what its link names); refuses non-files."""
    from ccapki.errors import InputError

    try:
        st = target.lstat()
    except FileNotFoundError:
        beside = _beside_store(target)
        if beside is not None:  # `--out ~/ccapki/data.key` of a passphrase store
            raise cannot_write(
                target,
                f"it would be {beside}",
                "choose another path: ccapki never writes a store's ccapki.db, its -wal, "
                "-shm or -journal file, or its data.key",
            ) from None
        return target
    if stat.S_ISLNK(st.st_mode):
        if not follow_symlink:
            raise InputError(
                f"{target} is a symbolic link (to {os.readlink(target)}); nothing was written",
                "name the file itself, or pass --follow-symlink to write through the link",
            )
        real = Path(os.path.realpath(target))
        return _writable_target(real, False)
    kind = _file_kind(st.st_mode)
    if kind is not None:
        raise cannot_write(target, f"{target} is {kind}, not a regular file")
    store_file = _store_file(target)
    if store_file is not None:  # `--out ~/ccapki/ccapki.db`: every key of the store gone
        raise cannot_write(
            target,
            f"it is {store_file}: replacing it would lose the store's keys",
            "choose another path: ccapki never writes over a store's ccapki.db, its "
            "-wal, -shm or -journal file, or its data.key",
        )
    return target


#: the files of a SQLite store's database beside ``ccapki.db`` (store/session.py DB_NAME)
_DB_SIDE_FILES = ("ccapki.db-wal", "ccapki.db-shm", "ccapki.db-journal")


def _beside_store(target: Path) -> str | None:
    """What the missing file ``target`` would be taken for, in words, when it is named as
    a file of the store whose ``ccapki.db`` is beside it (a data key the store would warn
    of, a journal SQLite would roll back), or None."""
    if not (target.parent / "ccapki.db").exists():
        return None
    if target.name == "data.key":
        return "the data key file of the store beside it"
    if target.name in _DB_SIDE_FILES:
        return "a file of the store's database beside it"
    return None


def _store_file(target: Path) -> str | None:
    """What of a ccapki store the existing regular file ``target`` is, in words (a SQLite
    database, its write-ahead log or journal, a data key file), or None. Reads at most 80
    bytes of it."""
    if target.name in _DB_SIDE_FILES and (target.parent / "ccapki.db").exists():
        return "a file of the store's database beside it"
    try:
        with target.open("rb") as fh:
            head = fh.read(80)
    except OSError:
        return None
    if head.startswith(b"SQLite format 3\x00"):
        return "a SQLite database, as a store's ccapki.db is"
    text = head.strip()
    if (
        target.name == "data.key"
        and len(text) == 64
        and all(c in b"0123456789abcdef" for c in text)
    ):
        return "a ccapki store's data key"
    return None


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], *, private: bool = False) -> Iterator[BinaryIO]:
    """:func:`atomic_write` for data written a piece at a time (a backup): yields a file
    open for writing in ``path``'s folder (0600 from the start when ``private``); when the
    block ends normally it is fsynced and renamed over ``path``, when it raises the
    temporary file is removed and ``path`` is left as it was. Refuses what
    :func:`atomic_write` refuses."""
    target = Path(path)
    try:
        target = _writable_target(target, False)
        make_folders(target.parent, private=private)
        fd, tmp = _temp_beside(target)
    except OSError as exc:
        raise cannot_write(
            target,
            _os_why(exc, target),
            "choose a path in a folder that exists and that you can write to",
        ) from None
    try:
        os.fchmod(fd, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:  # a full disk, a quota: nothing is left behind
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise cannot_write(
            target,
            exc.strerror or type(exc).__name__,
            "free space or choose another folder; the old file, if any, is untouched",
        ) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


#: a temporary file of ``_temp_beside``: ``.NAME.p<pid>-<mkstemp's 8 characters>.tmp``
_OUR_TEMP = re.compile(r"\..+\.p(\d+)-[a-z0-9_]{8}\.tmp")
#: folders swept of a killed ccapki's temporary files by this process (once each)
_SWEPT: set[str] = set()


def _temp_beside(target: Path) -> tuple[int, str]:
    """A new temporary file beside ``target`` (``.NAME.p<pid>-XXXXXXXX.tmp``, mode 0600 as
    mkstemp makes it). The first time a process writes into a folder it removes the
    temporary files a killed ccapki left there: a ``kill -9`` between the write and the
    rename leaves one (an exported key too, unaudited), which nothing else would ever
    remove. Only files named as ccapki names them whose process is gone are removed
    (another ccapki writing there keeps its own); once per folder, so writing thousands of
    files into one folder reads it once. Returns the open descriptor and the path. Raises
    :class:`OSError`."""
    folder = os.path.abspath(target.parent)
    if folder not in _SWEPT:
        _SWEPT.add(folder)
        with contextlib.suppress(OSError):
            for entry in os.scandir(folder):
                found = _OUR_TEMP.fullmatch(entry.name)
                if (
                    found is not None
                    and not _alive(int(found[1]))
                    and entry.is_file(follow_symlinks=False)
                ):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
    import tempfile  # (~4 ms: a command that writes nothing never loads it)

    return tempfile.mkstemp(
        prefix=f".{target.name}.p{os.getpid()}-", suffix=".tmp", dir=target.parent
    )


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is that of a temporary file ccapki writes beside a file before
    renaming it over it (``.NAME.p<pid>-XXXXXXXX.tmp``; a killed ccapki's is removed by
    the next write into its folder)."""
    return _OUR_TEMP.fullmatch(name) is not None


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (one of another user's too)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, another user's
        return True
    return True


def _atomic_write(target: Path, data: bytes, private: bool) -> Path:
    make_folders(target.parent, private=private)
    fd, tmp = _temp_beside(target)
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


#: Seconds a FIFO, a pipe or a device named as an input file may stay silent (no writer,
#: or a writer sending nothing) before the read is given up with an error.
INPUT_WAIT = 60.0
_CHUNK = 1 << 16


def read_input_file(path: str | os.PathLike[str], *, limit: int = MAX_INPUT_BYTES) -> bytes:
    """Read a user-supplied file, at most ``limit`` bytes. Returns its bytes.

    Raises :class:`~ccapki.errors.InputError` (never blocks for ever, never reads without
    end) for a missing, unreadable or oversized file, a folder, a socket, and a FIFO,
    pipe or device that stays silent for :data:`INPUT_WAIT` seconds (a named pipe nobody
    writes to) or sends more than ``limit`` bytes (``/dev/zero``)."""
    from ccapki.errors import InputError

    if isinstance(path, str) and not path:  # Path("") is the current folder
        raise InputError(
            "a file name given is empty: nothing was read",
            'name the file (an unset variable, `"$FILE"`, gives an empty name)',
        )
    p = Path(path)
    try:
        st = p.stat()
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"{p}: is a folder, not a file", "name a file inside it")
        if stat.S_ISSOCK(st.st_mode):
            raise InputError(
                f"{p}: is a socket, not a file: nothing was read",
                "name a regular file (save what the socket serves to a file first)",
            )
        if not stat.S_ISREG(st.st_mode):  # a FIFO, a pipe, a device: no size, maybe no end
            return _read_stream(p, _file_kind(st.st_mode) or "not a regular file", limit)
        size = st.st_size
        if size > limit:
            raise InputError(
                f"{p}: {size / 1048576:.1f} MB is far too large for a certificate, key or "
                "deployment file",
                f"check the path; files over {limit // 1048576} MB are refused",
            )
        with p.open("rb") as fh:  # at most limit + 1 bytes: the file may grow meanwhile
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise _too_large(str(p), limit)
        return data
    except FileNotFoundError:
        if p.is_symlink():  # `ls` lists it: say why it cannot be read
            raise InputError(
                f"{p}: is a broken symbolic link (to {os.readlink(p)}, which does not exist)",
                "point the link at the real file, or remove it",
            ) from None
        raise InputError(f"{p}: no such file", "check the path and try again") from None
    except PermissionError:
        raise InputError(
            f"{p}: permission denied", f"make the file readable: chmod u+r {p}"
        ) from None
    except IsADirectoryError:
        raise InputError(f"{p}: is a folder, not a file", "name a file inside it") from None
    except OSError as exc:  # a symbolic link loop, a name too long, an I/O error
        raise unreadable(p, exc) from None


def open_input_stream(path: str | os.PathLike[str]) -> BinaryIO:
    """Open a user-supplied file to read as a stream, of any size (a backup). Returns the
    open file; the caller closes it.

    A regular file (or a folder: :class:`IsADirectoryError`) is opened as :func:`open`
    opens it, raising what it raises. A FIFO, pipe or device is opened without blocking (a
    named pipe nobody writes to would block the open itself for ever) and returned once
    its first bytes arrive, waited for at most :data:`INPUT_WAIT` seconds: else
    :class:`~ccapki.errors.InputError`, as for a socket."""
    import select

    from ccapki.errors import InputError

    p = Path(path)
    st = p.stat()
    if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
        return p.open("rb")
    kind = _file_kind(st.st_mode) or "not a regular file"
    if stat.S_ISSOCK(st.st_mode):
        raise InputError(
            f"{p}: is a socket, not a file: nothing was read",
            "name a regular file (save what the socket serves to a file first)",
        )
    fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(INPUT_WAIT * 1000):
            raise InputError(
                f"{p}: is {kind} and nothing was written to it for {INPUT_WAIT:g} s: "
                "nothing was read",
                "name a regular file; to pass a file through a named pipe, start its "
                f"writer (`cat FILE > {p}`) while ccapki reads",
            )
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def unreadable(path: str | os.PathLike[str], exc: OSError) -> InputError:
    """The :class:`~ccapki.errors.InputError` for an input file that cannot be opened or
    read for ``exc`` (a symbolic link loop, a name too long, an I/O error...): its path,
    why, and the fix. Returns it (the caller raises it)."""
    import errno

    from ccapki.errors import InputError

    if exc.errno == errno.ELOOP:
        return InputError(
            f"{path}: is a symbolic link loop (it leads, through links, back to itself)",
            f"point the link at the real file (`ls -l {path}` shows where it leads)",
        )
    if exc.errno == errno.ENAMETOOLONG:
        return InputError(f"{path}: the name is too long", "check the path and try again")
    return InputError(
        f"{path}: cannot be read ({exc.strerror or exc})",
        "check the file and the disk it is on, then try again",
    )


def _too_large(what: str, limit: int) -> InputError:
    from ccapki.errors import InputError

    return InputError(
        f"{what}: more than {limit // 1048576} MB (and no size: a device or a pipe?) "
        "is far too large for a certificate, key or deployment file",
        f"check the path; files over {limit // 1048576} MB are refused",
    )


def _read_stream(p: Path, kind: str, limit: int) -> bytes:
    """Read a FIFO, pipe or device without blocking for ever: opened non-blocking (a FIFO
    with no writer would block the open itself), then each piece waited for at most
    :data:`INPUT_WAIT` seconds; at most ``limit`` bytes. Raises :class:`InputError`."""
    import select

    from ccapki.errors import InputError

    fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    chunks: list[bytes] = []
    got = 0
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while True:
            # wait first: a FIFO no writer has opened yet reads as its end at once, but
            # polls as nothing until a writer writes (or comes and goes)
            if not poller.poll(INPUT_WAIT * 1000):
                what = "nothing was written to it" if got == 0 else "its writer fell silent"
                raise InputError(
                    f"{p}: is {kind} and {what} for {INPUT_WAIT:g} s: nothing was read",
                    "name a regular file; to pass a file through a named pipe, start its "
                    f"writer (`cat FILE > {p}`) while ccapki reads",
                )
            try:
                piece = os.read(fd, _CHUNK)
            except BlockingIOError:
                continue
            if not piece:  # the end: the writer closed it
                break
            chunks.append(piece)
            got += len(piece)
            if got > limit:
                raise _too_large(str(p), limit)
    finally:
        os.close(fd)
    return b"".join(chunks)
