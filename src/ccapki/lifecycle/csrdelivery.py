"""CSR files handed over only once the store keeps their keys.

A CSR file that takes its name before the store commits its key leaves, when the run is
killed between the two (``kill -9``, a power cut, the OOM killer), a CSR whose key is in
no store: sent to the CA, its answer is useless ("private key not found"). A
:class:`CsrHandover` stages each file instead (written in full and fsynced under a
temporary name beside it, and logged ``csr-file-pending`` in the transaction that keeps
its key) and puts it in place once the store has committed (renamed, or printed on
standard output; logged ``csr-file``). A run stopped before the commit leaves no key and
no CSR file (its temporary file goes at the next write into that folder); one stopped
after it leaves a CSR the store keeps (its key pending) that no file holds:
:func:`undelivered_csrs` finds it, ``status`` says so and the next ``renew --commit``
writes it (the same CSR and key: no new one), as the next ``ccapki csr NAME`` does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

    from ccapki.fsutil import StagedFile
    from ccapki.store.records import CsrRecord, StoredIdentity
    from ccapki.store.session import Store
    from ccapki.topology.model import Deployment

__all__ = [
    "API_PATH",
    "FILE_PENDING",
    "FILE_WRITTEN",
    "CallerHandover",
    "CsrHandover",
    "Handed",
    "Undelivered",
    "awaits_the_ca",
    "csr_id",
    "undelivered_csrs",
    "undelivered_for",
]

#: audit action: a CSR's file is staged, in the transaction that keeps the CSR and its key
FILE_PENDING = "csr-file-pending"
#: audit action: the CSR's file took its name (or the CSR went to standard output)
FILE_WRITTEN = "csr-file"
#: how far before the oldest CSR awaited the audit log is read (clocks of other runs)
_SLACK = dt.timedelta(days=1)
#: the path a ``csr-file-pending`` names for a CSR the Python API hands to its caller
#: (a ``deliver`` function, or its return value): no file ccapki writes
API_PATH = "<api>"
#: the command a ``csr-file-pending`` names when it names none (one logged before ``by``)
_RENEW = "renew --commit"


def csr_id(pem: str | bytes) -> str:
    """The SHA-256 of a CSR's PEM (hex): how the audit log names one CSR (several CSRs
    may share a key: ``[renewal] key = "keep"``). Raises nothing."""
    data = pem.encode() if isinstance(pem, str) else pem
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Undelivered:
    """A CSR the store keeps (and awaits the CA's answer to) whose file was staged but
    never put in place: the run making it was stopped after its commit."""

    record: CsrRecord
    path: str  # where that run meant to write it ("<stdout>": standard output)
    at: dt.datetime  # when it was staged
    #: the file at ``path`` holds it: the run was stopped after the rename, before it
    #: logged it (and said so)
    on_disk: bool = False
    #: the command whose run made it: ``renew --commit`` or ``csr``
    by: str = _RENEW

    @property
    def identity(self) -> str:
        """The identity the CSR is of."""
        return self.record.identity

    @property
    def spki(self) -> str:
        """The fingerprint of the CSR's key (pending, or the current one)."""
        return self.record.spki

    def to_dict(self) -> dict[str, object]:
        """As ``renew --json`` shows it (the plan's ``undelivered``)."""
        return {
            "identity": self.record.identity,
            "spki": self.record.spki,
            "created_at": self.record.created_at.isoformat(),
            "path": self.path,
            "on_disk": self.on_disk,
        }


class _Held(Protocol):
    """What :func:`awaits_the_ca` reads of an identity's current certificate."""

    @property
    def spki(self) -> str: ...

    @property
    def created_at(self) -> dt.datetime | None: ...


def awaits_the_ca(
    identity: str,
    spki: str,
    made: dt.datetime,
    pending: Collection[str],
    current: Mapping[str, _Held],
) -> bool:
    """Whether the CA's answer to a CSR the store made (for ``identity``, on the key
    ``spki``, at ``made``) is still awaited: its key is pending (``pending``: the SPKI
    hashes of the store's pending keys), or the CSR renews ``identity``'s current
    certificate on the same key (``[renewal] key = "keep"``) and was made after it. A CSR
    whose key was retired, or whose certificate came (its key active), awaits nothing.

    The one rule ``status``, ``renew``, ``trust check`` and the CSR files share."""
    if spki in pending:
        return True
    cur = current.get(identity)
    return (
        cur is not None
        and cur.spki == spki
        and cur.created_at is not None
        and made > cur.created_at
    )


def undelivered_csrs(
    store: Store,
    *,
    csrs: Sequence[CsrRecord] | None = None,
    current: Mapping[str, StoredIdentity] | None = None,
) -> dict[str, Undelivered]:
    """The CSRs of the deployment acted on whose file a run staged and never put in place,
    by identity: each identity's newest CSR while it is awaited (its key pending, or the
    current key of a renewal on the same key made after the current certificate), when
    the audit log has its ``csr-file-pending`` and no ``csr-file`` after it. ``csrs`` and
    ``current``: the deployment's CSRs (oldest first) and current identities, when the
    caller read them already. Reads only (nothing more when no CSR is awaited); raises
    what the store raises."""
    from ccapki.store.records import KeyState

    awaited: dict[str, CsrRecord] = {}
    if csrs is None:
        csrs = store.csrs.list()
    if not csrs:
        return {}
    newest: dict[str, CsrRecord] = {}
    for rec in csrs:  # oldest first: each identity's last wins
        newest[rec.identity] = rec
    pending = {k.fingerprint for k in store.keys.list(state=KeyState.PENDING)}
    if current is None:
        current = store.identities.current()
    for name, rec in newest.items():
        if awaits_the_ca(name, rec.spki, rec.created_at, pending, current):
            awaited[csr_id(rec.pem)] = rec
    if not awaited:
        return {}
    since = min(r.created_at for r in awaited.values()) - _SLACK
    staged: dict[str, tuple[str, dt.datetime, str]] = {}
    for entry in store.audit.newest_first(FILE_PENDING):
        if entry.at < since:
            break
        key = str(entry.detail.get("csr", ""))
        if key in awaited and key not in staged:
            by = str(entry.detail.get("by") or _RENEW)
            staged[key] = (str(entry.detail.get("path", "")), entry.at, by)
    if not staged:
        return {}
    for entry in store.audit.newest_first(FILE_WRITTEN):
        if entry.at < since:
            break
        staged.pop(str(entry.detail.get("csr", "")), None)
    return {
        awaited[key].identity: Undelivered(
            awaited[key], path, at, _holds(path, awaited[key].pem.encode()), by
        )
        for key, (path, at, by) in staged.items()
    }


def _holds(path: str, pem: bytes) -> bool:
    """Whether the file ``path`` holds exactly the CSR ``pem``."""
    if not path or path == "<stdout>":
        return False
    try:
        with open(path, "rb") as fh:
            return fh.read(len(pem) + 1) == pem
    except OSError:
        return False


@dataclass(frozen=True)
class Handed:
    """A CSR put where it goes: ``path`` (or ``<stdout>``); ``again``: a CSR an earlier
    run staged and never put in place (:class:`Undelivered`), written by this one."""

    identity: str
    spki: str
    path: str
    csr: str  # :func:`csr_id`
    again: Undelivered | None = None


class CsrHandover:
    """Hands CSR files over once the store keeps their keys (see the module's docstring).

    :meth:`stage` runs inside the transaction that keeps each CSR (a ``deliver`` of
    :func:`~ccapki.lifecycle.renew.commit_renewal`, or of
    :func:`~ccapki.lifecycle.certfiles.make_csrs`); :meth:`place` once it committed;
    :meth:`discard` when it did not. ``out``: the folder the files go to (``NAME.csr``),
    ``-`` for standard output; with ``one_file``, the file of the one CSR (``ccapki csr
    NAME --out req.csr``). ``follow_symlink``: write through a file that is a symlink.
    ``command``: the command staging them, as ``status`` names it (``renew --commit``,
    ``csr``)."""

    def __init__(
        self,
        store: Store,
        deployment: str,
        out: str,
        *,
        one_file: bool = False,
        follow_symlink: bool = False,
        command: str = _RENEW,
    ) -> None:
        from ccapki.fsutil import STDOUT

        self.store = store
        self.deployment = deployment
        self.to_stdout = out == STDOUT
        self.out = out
        self.one_file = one_file and not self.to_stdout
        self.follow_symlink = follow_symlink
        self.command = command
        self._staged: list[tuple[str, str, bytes, StagedFile | None]] = []

    def destination(self, identity: str) -> str:
        """Where the CSR of ``identity`` goes (``-``: standard output)."""
        if self.to_stdout or self.one_file:
            return self.out
        return str(Path(self.out) / f"{identity}.csr")

    def stage(self, identity: str, spki: str, pem: bytes) -> None:
        """Write the CSR ``pem`` of ``identity`` to a temporary file beside its path (on
        standard output: kept for :meth:`place`) and log ``csr-file-pending`` in the open
        transaction. Raises :class:`~ccapki.errors.InputError` for a path that cannot be
        written (the transaction then keeps nothing)."""
        from ccapki.fsutil import check_output_folder, stage_file

        dest = self.destination(identity)
        staged = None
        if not self.to_stdout:
            check_output_folder(Path(dest).parent, target=dest)
            staged = stage_file(dest, pem, follow_symlink=self.follow_symlink)
        self._staged.append((identity, spki, pem, staged))
        where = "<stdout>" if self.to_stdout else str(Path(dest).resolve())
        self.store.audit.record(
            FILE_PENDING, identity, csr=csr_id(pem), spki=spki, path=where, by=self.command
        )

    def discard(self) -> None:
        """Remove the temporary files staged (the store kept nothing). Raises nothing."""
        for *_, staged in self._staged:
            if staged is not None:
                staged.discard()
        self._staged.clear()

    def place(self, again: tuple[Undelivered, ...] = ()) -> list[Handed]:
        """Put every staged CSR in place (renamed over its path, or printed), then write
        the CSRs ``again`` (staged by a run that was stopped before it put them in place)
        to where this run writes; log ``csr-file`` for each. Returns them in order. Raises
        :class:`~ccapki.errors.InputError` when a file cannot be written (the CSR stays
        in the store: the next ``renew --commit`` writes it)."""
        from ccapki.fsutil import STDOUT, write_output

        done: list[Handed] = []
        staged, self._staged = self._staged, []
        try:
            while staged:
                identity, spki, pem, file = staged[0]
                path = write_output(STDOUT, pem) if file is None else str(file.place())
                staged.pop(0)
                done.append(Handed(identity, spki, path, csr_id(pem)))
            for u in again:
                data = u.record.pem.encode()
                path = write_output(
                    self.destination(u.identity),
                    data,
                    make_folder=True,
                    follow_symlink=self.follow_symlink,
                )
                done.append(Handed(u.identity, u.spki, path, csr_id(data), u))
        finally:
            for *_, file in staged:  # not put in place: an error on the way
                if file is not None:
                    file.discard()
            self._written(done)
        return done

    def _written(self, done: list[Handed]) -> None:
        """Log ``csr-file`` for the CSRs put in place, in one transaction. A store busy
        with another writer leaves them unlogged: the next ``renew --commit`` writes them
        once more (the same CSRs, no new key), which is harmless."""
        from ccapki.errors import StoreBusy

        if not done:
            return
        store = self.store
        with contextlib.suppress(StoreBusy), store.scoped(self.deployment), store.transaction():
            for h in done:
                store.audit.record(
                    FILE_WRITTEN,
                    h.identity,
                    csr=h.csr,
                    spki=h.spki,
                    path=h.path if h.path == "<stdout>" else str(Path(h.path).resolve()),
                    again=h.again is not None,
                )


def undelivered_for(store: Store, dep: Deployment, names: Sequence[str]) -> dict[str, Undelivered]:
    """The CSRs of the identities ``names`` that a run (``csr``, ``renew --commit``, the
    Python API) made and the store kept, but that run was stopped before it handed them
    over, by identity: handed over again instead of made again (a second pending key for
    one request). One made for what ``dep`` no longer gives its identity (other names, key
    type) is left out (a new one is made). The store is scoped to ``dep`` by the caller.
    Reads only; raises what the store raises."""
    from ccapki.topology.plan import csr_differences

    found = undelivered_csrs(store)
    out: dict[str, Undelivered] = {}
    for name in names:
        u = found.get(name)
        if u is None:
            continue
        try:
            stale = bool(csr_differences(dep.identity(name), u.record.csr))
        except ValueError:  # no longer parses: a new one is made
            stale = True
        if not stale:
            out[name] = u
    return out


class CallerHandover:
    """CSRs the Python API hands to its caller (``deliver``, or the list it returns) once
    the store keeps their keys: :meth:`stage` logs ``csr-file-pending`` (path
    :data:`API_PATH`) in the transaction that keeps each CSR; :meth:`handed` logs
    ``csr-file`` once the caller has them. A script killed in between leaves a CSR that
    :func:`undelivered_csrs` finds: the next call hands the same CSR over (no new key).
    ``command``: as ``status`` names the run (``csr``, ``renew --commit``)."""

    def __init__(self, store: Store, deployment: str, *, command: str = _RENEW) -> None:
        self.store = store
        self.deployment = deployment
        self.command = command

    def stage(self, identity: str, spki: str, pem: bytes) -> None:
        """Log ``csr-file-pending`` for the CSR ``pem`` in the open transaction. Raises
        what the store raises."""
        self.store.audit.record(
            FILE_PENDING, identity, csr=csr_id(pem), spki=spki, path=API_PATH, by=self.command
        )

    def handed(self, done: Sequence[tuple[str, str, bytes, bool]]) -> None:
        """Log ``csr-file`` for each (identity, spki, pem, again) the caller was given, in
        one transaction. A store busy with another writer leaves them unlogged: the next
        call hands them over once more (the same CSRs, no new key). Raises what the store
        raises otherwise."""
        from ccapki.errors import StoreBusy

        if not done:
            return
        store = self.store
        with contextlib.suppress(StoreBusy), store.scoped(self.deployment), store.transaction():
            for identity, spki, pem, again in done:
                store.audit.record(
                    FILE_WRITTEN, identity, csr=csr_id(pem), spki=spki, path=API_PATH, again=again
                )
