"""The backup archive: a passphrase-keyed header, then a STREAM of AES-256-GCM chunks.

The layout (docs/backup-format.md gives every field)::

    MAGIC "CCAPKIBK" | version u16 | header length u32 | header JSON | header tag (16)
    chunk*:  ciphertext length u32 | final flag u8 | ciphertext (plaintext + 16-byte tag)

The key is scrypt(passphrase, salt, n, r, p) (parameters and salt in the header JSON). Each
chunk's nonce is ``prefix (7 random bytes) | chunk index u32 | final flag u8`` (the STREAM
construction of Hoang, Reyhanitabar, Rogaway and Vizár, as age and Tink use), and its AAD is
the SHA-256 of the header bytes: a chunk cannot be moved, dropped, repeated or paired with
another header unnoticed, and a file that ends before its final chunk is truncated. The
header tag (AES-GCM of nothing, under a nonce no chunk uses) proves the passphrase before
anything is decrypted.

The plaintext is JSON lines, one record per line (``{"t": TABLE, ...}``), ending with an
``end`` record that counts the others. Writing and reading hold one chunk at a time.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ccapki.errors import FileFormatError, PasswordError

__all__ = [
    "CHUNK_SIZE",
    "FORMAT_VERSION",
    "MAGIC",
    "MIN_PASSPHRASE",
    "SCRYPT_N",
    "BackupHeader",
    "BackupReader",
    "BackupWriter",
]

MAGIC = b"CCAPKIBK"
#: The one format version this code writes and reads.
FORMAT_VERSION = 1
#: Plaintext bytes per chunk (the last chunk may hold fewer).
CHUNK_SIZE = 64 * 1024
#: scrypt cost written into new backups (2**15, r=8, p=1: about 32 MB and 0.1 s).
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
#: The shortest backup passphrase ``backup create`` accepts (as the store's, ``MIN_PASSPHRASE``
#: of :mod:`ccapki.store.session`).
MIN_PASSPHRASE = 8

_PREAMBLE = struct.Struct(">8sHI")  # magic, version, header length
_CHUNK = struct.Struct(">IB")  # ciphertext length, final flag
_TAG = 16
_PREFIX = 7
_MAX_HEADER = 16 * 1024
_HEADER_NONCE_INDEX = 0xFFFFFFFF  # with flag 2: never a chunk's nonce
# what a reader accepts in a header: enough for stronger settings, never a memory bomb
_N_RANGE = (2**10, 2**20)
_R_RANGE = (1, 32)
_P_RANGE = (1, 16)

_DAMAGED_HINT = (
    "the file was changed after `ccapki backup create` wrote it: use an intact copy of the "
    "backup (nothing was changed)"
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class BackupHeader:
    """What a backup's header says (readable once the passphrase is proven)."""

    version: int
    created_at: dt.datetime
    created_by: str
    schema: str
    scrypt_n: int
    scrypt_r: int
    scrypt_p: int
    chunk_size: int
    extra: Mapping[str, object] = field(default_factory=dict)


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> AESGCM:
    key = Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))
    return AESGCM(key)


def _nonce(prefix: bytes, index: int, flag: int) -> bytes:
    return prefix + struct.pack(">IB", index, flag)


class BackupWriter:
    """Write records to ``fh`` as an encrypted, authenticated backup, one chunk at a time.

    Use as a context manager: leaving it normally writes the final chunk (with the ``end``
    record); leaving it by an exception writes nothing more, so the file has no final chunk
    and any reader refuses it as truncated (the caller discards it anyway).
    """

    def __init__(
        self,
        fh: IO[bytes],
        passphrase: str,
        *,
        created_at: dt.datetime,
        created_by: str,
        schema: str,
        extra: Mapping[str, object] | None = None,
        scrypt_n: int = SCRYPT_N,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        if len(passphrase) < MIN_PASSPHRASE:
            raise PasswordError(
                f"the backup passphrase is too short ({len(passphrase)} characters)",
                f"use at least {MIN_PASSPHRASE} characters (a few words is best) in "
                "CCAPKI_BACKUP_PASSPHRASE or at the prompt",
            )
        if not 1 <= chunk_size <= 1024 * 1024:
            raise ValueError("chunk_size must be 1 byte to 1 MiB")
        self._fh = fh
        self._chunk_size = chunk_size
        self._prefix = os.urandom(_PREFIX)
        salt = os.urandom(16)
        header = {
            "format": "ccapki-backup",
            "created_at": created_at.isoformat(),
            "created_by": created_by,
            "schema": schema,
            "kdf": {"name": "scrypt", "n": scrypt_n, "r": SCRYPT_R, "p": SCRYPT_P},
            "salt": _b64(salt),
            "cipher": "AES-256-GCM",
            "stream": "STREAM (nonce prefix | u32 index | u8 final)",
            "nonce_prefix": _b64(self._prefix),
            "chunk_size": chunk_size,
            "records": "JSON lines",
            "extra": dict(extra or {}),
        }
        body = json.dumps(header, sort_keys=True).encode()
        head = _PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(body)) + body
        self._aead = _derive(passphrase, salt, scrypt_n, SCRYPT_R, SCRYPT_P)
        self._aad = hashlib.sha256(head).digest()
        tag = self._aead.encrypt(_nonce(self._prefix, _HEADER_NONCE_INDEX, 2), b"", head)
        fh.write(head + tag)
        self.bytes_written = len(head) + len(tag)
        self._buf = bytearray()
        self._index = 0
        self._closed = False
        #: records written so far, by type (``t``)
        self.counts: dict[str, int] = {}

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record (a JSON object with a ``t`` naming its type)."""
        if self._closed:
            raise ValueError("the backup is closed")
        kind = str(record["t"])
        if kind == "end":
            raise ValueError("the end record is written by close()")
        self._buf += json.dumps(record, separators=(",", ":"), sort_keys=True).encode()
        self._buf += b"\n"
        self.counts[kind] = self.counts.get(kind, 0) + 1
        while len(self._buf) > self._chunk_size:  # keep one byte back for the final chunk
            self._emit(bytes(self._buf[: self._chunk_size]), final=False)
            del self._buf[: self._chunk_size]

    def close(self) -> None:
        """Write the ``end`` record and the final chunk."""
        if self._closed:
            return
        end = {"t": "end", "counts": dict(sorted(self.counts.items()))}
        self._buf += json.dumps(end, separators=(",", ":"), sort_keys=True).encode() + b"\n"
        while len(self._buf) > self._chunk_size:
            self._emit(bytes(self._buf[: self._chunk_size]), final=False)
            del self._buf[: self._chunk_size]
        self._emit(bytes(self._buf), final=True)
        self._buf.clear()
        self._closed = True

    def _emit(self, plain: bytes, *, final: bool) -> None:
        flag = 1 if final else 0
        ct = self._aead.encrypt(_nonce(self._prefix, self._index, flag), plain, self._aad)
        self._fh.write(_CHUNK.pack(len(ct), flag) + ct)
        self.bytes_written += _CHUNK.size + len(ct)
        self._index += 1
        if self._index >= _HEADER_NONCE_INDEX:
            raise ValueError("too many chunks for one backup")

    def __enter__(self) -> BackupWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()


class BackupReader:
    """Read a backup from ``fh``: the header is read and the passphrase proven at once;
    :meth:`records` then yields the records, decrypting one chunk at a time.

    Every refusal is a :class:`FileFormatError` (not a backup, unknown version, damaged,
    truncated) or a :class:`PasswordError` (wrong passphrase), naming ``source``. A record is
    yielded only from an authenticated chunk; that the file is complete (its final chunk,
    the ``end`` record's counts, nothing after it) is known when :meth:`records` ends, so a
    caller that writes what it reads does so in a transaction it commits only then.
    """

    def __init__(self, fh: IO[bytes], passphrase: str, *, source: str = "<backup>") -> None:
        self._fh = fh
        self.source = source
        pre = fh.read(_PREAMBLE.size)
        if len(pre) < len(MAGIC) or pre[: len(MAGIC)] != MAGIC:
            raise FileFormatError(
                f"{source}: not a ccapki backup (it does not start with {MAGIC.decode()})",
                "give a file written by `ccapki backup create`",
            )
        if len(pre) < _PREAMBLE.size:
            raise self._truncated(len(pre))
        _, version, hlen = _PREAMBLE.unpack(pre)
        if version != FORMAT_VERSION:
            raise FileFormatError(
                f"{source}: backup format version {version} is not one this ccapki reads "
                f"(it reads version {FORMAT_VERSION})",
                "restore it with the ccapki release that made it, or a newer one; if this "
                "ccapki made it, the file is damaged: use an intact copy",
            )
        if not 2 <= hlen <= _MAX_HEADER:
            raise self._damaged("its header length is impossible")
        body = fh.read(hlen)
        tag = fh.read(_TAG)
        if len(body) < hlen or len(tag) < _TAG:
            raise self._truncated(_PREAMBLE.size + len(body) + len(tag))
        head = pre + body
        try:
            h = json.loads(body)
            kdf = h["kdf"]
            n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
            salt = base64.b64decode(h["salt"], validate=True)
            self._prefix = base64.b64decode(h["nonce_prefix"], validate=True)
            chunk_size = int(h["chunk_size"])
            created_at = dt.datetime.fromisoformat(h["created_at"])
            header = BackupHeader(
                version=version,
                created_at=created_at,
                created_by=str(h["created_by"]),
                schema=str(h["schema"]),
                scrypt_n=n,
                scrypt_r=r,
                scrypt_p=p,
                chunk_size=chunk_size,
                extra=dict(h.get("extra") or {}),
            )
            ok = (
                kdf["name"] == "scrypt"
                and h["cipher"] == "AES-256-GCM"
                and _N_RANGE[0] <= n <= _N_RANGE[1]
                and n & (n - 1) == 0
                and _R_RANGE[0] <= r <= _R_RANGE[1]
                and _P_RANGE[0] <= p <= _P_RANGE[1]
                and len(salt) >= 16
                and len(self._prefix) == _PREFIX
                and 1 <= chunk_size <= 1024 * 1024
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            ok = False
        if not ok:
            raise self._damaged("its header does not parse")
        self._aead = _derive(passphrase, salt, n, r, p)
        try:
            self._aead.decrypt(_nonce(self._prefix, _HEADER_NONCE_INDEX, 2), tag, head)
        except InvalidTag:
            raise PasswordError(
                f"{source}: wrong backup passphrase (or the backup's header is damaged)",
                "set CCAPKI_BACKUP_PASSPHRASE to the passphrase given at `ccapki backup "
                "create` (nothing was changed); if it is right, the file is damaged: use "
                "an intact copy",
            ) from None
        self.header = header
        self._aad = hashlib.sha256(head).digest()
        self._offset = len(head) + _TAG
        self._max_ct = chunk_size + _TAG

    def _damaged(self, why: str, at: int | None = None) -> FileFormatError:
        where = f" at byte {at}" if at is not None else ""
        return FileFormatError(f"{self.source}: the backup is damaged{where}: {why}", _DAMAGED_HINT)

    def _truncated(self, size: int) -> FileFormatError:
        return FileFormatError(
            f"{self.source}: the backup is truncated: it ends after {size} bytes, before "
            "its final chunk",
            "copy the whole file again (compare its size with the original's); nothing was changed",
        )

    def _chunks(self) -> Iterator[bytes]:
        index = 0
        while True:
            start = self._offset
            pre = self._fh.read(_CHUNK.size)
            if len(pre) < _CHUNK.size:
                raise self._truncated(start + len(pre))
            length, flag = _CHUNK.unpack(pre)
            if flag not in (0, 1) or not _TAG <= length <= self._max_ct:
                raise self._damaged(f"chunk {index} has an impossible length or flag", start)
            ct = self._fh.read(length)
            if len(ct) < length:
                raise self._truncated(start + _CHUNK.size + len(ct))
            try:
                plain = self._aead.decrypt(_nonce(self._prefix, index, flag), ct, self._aad)
            except InvalidTag:
                # AES-GCM says only that some byte of the chunk changed, not which: name the
                # chunk's whole byte range (its length field to its tag), never one position
                end = start + _CHUNK.size + length - 1
                raise self._damaged(
                    f"chunk {index}, bytes {start:,}-{end:,}, does not authenticate (a byte in "
                    "that range changed)"
                ) from None
            self._offset = start + _CHUNK.size + length
            yield plain
            if flag == 1:
                extra = self._fh.read(1)
                if extra:
                    raise self._damaged("bytes follow the final chunk", self._offset)
                return
            index += 1

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record but the ``end`` one, in order; checks the ``end`` record's counts."""
        pending = b""
        counts: dict[str, int] = {}
        end: dict[str, Any] | None = None
        for plain in self._chunks():
            pending += plain
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if end is not None:
                    raise self._damaged("records follow the end record")
                try:
                    rec = json.loads(line)
                    kind = rec["t"]
                except (ValueError, KeyError, TypeError):
                    raise self._damaged("a record does not parse") from None
                if not isinstance(rec, dict) or not isinstance(kind, str):
                    raise self._damaged("a record does not parse")
                if kind == "end":
                    end = rec
                    continue
                counts[kind] = counts.get(kind, 0) + 1
                yield rec
        if pending or end is None:
            raise self._damaged("the records end without their end record")
        if end.get("counts") != counts:
            raise self._damaged("the end record's counts disagree with the records")
