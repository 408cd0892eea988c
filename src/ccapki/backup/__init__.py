"""Backups: one encrypted, authenticated archive of a whole store (pure format code).

:class:`BackupWriter` and :class:`BackupReader` write and read the archive over file objects,
one chunk at a time; they know nothing of the store. What goes in and how it comes back
out is :mod:`ccapki.lifecycle.backups`; the format is documented in docs/backup-format.md.
"""

from ccapki.backup._format import (
    CHUNK_SIZE,
    FORMAT_VERSION,
    MAGIC,
    MIN_PASSPHRASE,
    SCRYPT_N,
    BackupHeader,
    BackupReader,
    BackupWriter,
)

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
