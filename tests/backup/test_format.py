"""The backup archive format alone (no store): round trip, and every damage refused.

Archives are written at test time with a small chunk size (many chunks from a few records)
and a low scrypt cost (the real KDF path, cheaper); docs/backup-format.md is the layout.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
from pathlib import Path

import pytest

from ccapki.backup import (
    FORMAT_VERSION,
    MAGIC,
    MIN_PASSPHRASE,
    BackupReader,
    BackupWriter,
)
from ccapki.errors import FileFormatError, PasswordError

PASS = "backup passphrase"
N = 2**10
WHEN = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)


def archive(records: list[dict[str, object]], *, chunk_size: int = 64) -> bytes:
    buf = io.BytesIO()
    with BackupWriter(
        buf,
        PASS,
        created_at=WHEN,
        created_by="test",
        schema="s",
        scrypt_n=N,
        chunk_size=chunk_size,
    ) as w:
        for r in records:
            w.write(r)
    return buf.getvalue()


def read_all(data: bytes, passphrase: str = PASS) -> list[dict[str, object]]:
    reader = BackupReader(io.BytesIO(data), passphrase, source="test.backup")
    return list(reader.records())


RECORDS: list[dict[str, object]] = [
    {"t": "certificates", "identity": f"cas{i}", "version": 1, "pem": "x" * (i * 7)}
    for i in range(12)
] + [{"t": "audit", "action": "issue", "detail": "{}"}]


def test_round_trip_over_many_chunks() -> None:
    data = archive(RECORDS)
    assert data.startswith(MAGIC + struct.pack(">H", FORMAT_VERSION))
    assert read_all(data) == RECORDS
    reader = BackupReader(io.BytesIO(data), PASS)
    h = reader.header
    assert (h.version, h.scrypt_n, h.scrypt_r, h.scrypt_p) == (1, N, 8, 1)
    assert h.created_at == WHEN
    # the records are encrypted: none of their text is in the file
    assert b"cas1" not in data
    assert b"issue" not in data


def test_default_cost_is_at_least_the_issues() -> None:
    buf = io.BytesIO()
    with BackupWriter(buf, PASS, created_at=WHEN, created_by="t", schema="s") as w:
        w.write({"t": "audit"})
    h = BackupReader(io.BytesIO(buf.getvalue()), PASS).header
    assert h.scrypt_n >= 2**15
    assert h.scrypt_r >= 8
    assert h.scrypt_p >= 1


def test_two_archives_of_the_same_records_differ() -> None:
    # random salt and nonce prefix: no two backups share a key stream
    assert archive(RECORDS)[60:] != archive(RECORDS)[60:]


def test_wrong_passphrase() -> None:
    with pytest.raises(PasswordError, match="wrong backup passphrase"):
        read_all(archive(RECORDS), "not the passphrase")


def test_short_passphrase_refused_at_create() -> None:
    with pytest.raises(PasswordError, match="too short"):
        BackupWriter(
            io.BytesIO(),
            "x" * (MIN_PASSPHRASE - 1),
            created_at=WHEN,
            created_by="t",
            schema="s",
            scrypt_n=N,
        )


def test_minimum_is_the_stores() -> None:
    from ccapki.store.session import MIN_PASSPHRASE as STORE_MIN

    assert MIN_PASSPHRASE == STORE_MIN


def test_unknown_version() -> None:
    data = bytearray(archive(RECORDS))
    data[len(MAGIC) : len(MAGIC) + 2] = struct.pack(">H", FORMAT_VERSION + 1)
    with pytest.raises(FileFormatError, match="format version 2 is not one this ccapki reads"):
        read_all(bytes(data))


def test_not_a_backup() -> None:
    with pytest.raises(FileFormatError, match="not a ccapki backup"):
        read_all(b"-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(FileFormatError, match="not a ccapki backup"):
        read_all(b"")


SMALL = RECORDS[:4]


def test_every_flipped_byte_is_refused() -> None:
    data = archive(SMALL, chunk_size=48)
    assert read_all(data) == SMALL
    assert len(data) > 400  # header and many chunks
    for pos in range(len(data)):
        bad = bytearray(data)
        bad[pos] ^= 0x01 << (pos % 8)  # every bit position, across the bytes
        with pytest.raises((FileFormatError, PasswordError)):
            read_all(bytes(bad))


def test_every_truncation_is_refused() -> None:
    data = archive(SMALL, chunk_size=48)
    for size in range(len(data)):
        with pytest.raises(FileFormatError):
            read_all(data[:size])


def test_truncation_at_a_chunk_boundary_names_it() -> None:
    data = archive(RECORDS)
    # drop the final chunk exactly: every chunk left authenticates, the end is missing
    reader = BackupReader(io.BytesIO(data), PASS)
    offsets = []
    pos = reader._offset  # the first chunk
    while pos < len(data):
        offsets.append(pos)
        length, _flag = struct.unpack(">IB", data[pos : pos + 5])
        pos += 5 + length
    assert len(offsets) > 5
    with pytest.raises(FileFormatError, match="truncated"):
        read_all(data[: offsets[-1]])


def test_bytes_after_the_end_are_refused() -> None:
    with pytest.raises(FileFormatError, match="follow the final chunk"):
        read_all(archive(RECORDS) + b"\x00")


def test_chunks_cannot_be_moved_between_archives() -> None:
    a, b = archive(RECORDS), archive(RECORDS)
    head = BackupReader(io.BytesIO(a), PASS)._offset  # header + its tag
    assert head == BackupReader(io.BytesIO(b), PASS)._offset
    # b's chunks under a's header (the same passphrase and records): refused
    with pytest.raises(
        FileFormatError, match=r"chunk 0, bytes [0-9,]+-[0-9,]+, does not authenticate"
    ):
        read_all(a[:head] + b[head:])


def test_an_interrupted_writer_leaves_a_refused_file() -> None:
    buf = io.BytesIO()

    def interrupted() -> None:
        with BackupWriter(
            buf, PASS, created_at=WHEN, created_by="t", schema="s", scrypt_n=N, chunk_size=64
        ) as w:
            for r in RECORDS:
                w.write(r)
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        interrupted()
    with pytest.raises(FileFormatError, match="truncated"):
        read_all(buf.getvalue())


def test_the_format_module_imports_no_store() -> None:
    import ast

    import ccapki.backup._format as f

    tree = ast.parse(Path(f.__file__).read_text(encoding="utf-8"))
    imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    assert not [m for m in imported if m.startswith(("sqlalchemy", "ccapki.store"))]
