"""An identity as the files appliances and administrators need (``ccapki export``).

:func:`export_identity` renders the bytes; :func:`record_key_export` writes the audit entry
that every export holding a private key needs, once the caller has handed the bytes over
(written a file, returned them to a script).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from cryptography import x509

from ccapki.errors import InputError, StoreError
from ccapki.lifecycle.certfiles import identity_material, identity_version
from ccapki.pki import export as ex
from ccapki.pki.certs import display_name
from ccapki.store.session import Store

__all__ = [
    "FORMATS",
    "KEY_FORMATS",
    "MIN_EXPORT_PASSWORD",
    "ExportFormat",
    "Exported",
    "check_export_password",
    "export_identity",
    "record_key_export",
    "refuse_unaudited_key_export",
]

ExportFormat = Literal["pem-bundle", "cert", "chain", "fullchain", "key", "der", "pkcs12"]
#: Every export format, in the order ``ccapki export --help`` lists them.
FORMATS: tuple[ExportFormat, ...] = (
    "pem-bundle",
    "cert",
    "chain",
    "fullchain",
    "key",
    "der",
    "pkcs12",
)
#: The formats that hold the private key (written 0600, audited).
KEY_FORMATS: frozenset[str] = frozenset({"pem-bundle", "key", "pkcs12"})


@dataclass(frozen=True)
class Exported:
    """What :func:`export_identity` rendered: ``data`` plus which version it is."""

    identity: str
    version: int
    not_after: dt.datetime
    format: ExportFormat
    with_key: bool
    data: bytes = field(repr=False)  # may hold a private key: never in a repr


#: The shortest password a file holding a private key may be encrypted with (PKCS#12, an
#: encrypted PEM key): as the store's passphrase, since the file is the key at rest.
MIN_EXPORT_PASSWORD = 8


#: The longest export password, in bytes of UTF-8: OpenSSL encrypts a PEM key with at most
#: 1023 (PKCS#12 takes more: one bound for every format).
MAX_EXPORT_PASSWORD_BYTES = 1023


#: How a command-line user gives an export password (the hint of a refused one).
CLI_PASSWORD_WAYS = "--password, CCAPKI_EXPORT_PASSWORD or the prompt"  # noqa: S105 (words)


def check_export_password(
    password: bytes, what: str = "a PKCS#12 file", *, ways: str = CLI_PASSWORD_WAYS
) -> None:
    """Refuse a password shorter than :data:`MIN_EXPORT_PASSWORD` characters for ``what``
    (the file holding the private key); ``ways``: how the caller gives one (the hint).
    Refuses too a password of more than :data:`MAX_EXPORT_PASSWORD_BYTES` bytes, or holding
    a NUL character (which ends a PKCS#12 password: no tool could open the file).
    Returns None; raises :class:`InputError`."""
    length = len(password.decode("utf-8", "replace"))
    if b"\0" in password:
        raise InputError(
            f"the password of {what} holds a NUL character (U+0000), which no tool reading "
            "the file takes; nothing was written",
            f"give a password of printable characters, by {ways}",
        )
    if len(password) > MAX_EXPORT_PASSWORD_BYTES:
        raise InputError(
            f"the password of {what} is too long ({len(password)} bytes): OpenSSL takes at "
            f"most {MAX_EXPORT_PASSWORD_BYTES}; nothing was written",
            f"use at most {MAX_EXPORT_PASSWORD_BYTES} bytes (a few words is best), by {ways}",
        )
    if length < MIN_EXPORT_PASSWORD:
        raise InputError(
            f"the password of {what} is too short ({length} characters): the file is the "
            "private key at rest; nothing was written",
            f"use at least {MIN_EXPORT_PASSWORD} characters (a few words is best), by {ways}",
        )


def export_identity(
    store: Store,
    identity: str,
    fmt: ExportFormat = "pem-bundle",
    *,
    password: bytes | None = None,
    include_root: bool = False,
    key_format: ex.KeyFormat = "pkcs8",
    legacy: bool = False,
    version: int | None = None,
) -> Exported:
    """The current certificate of ``identity`` (the name the plan gives it) as ``fmt``;
    with ``version``, that earlier version of it (its certificate, chain and key: undoing a
    reissue or a renewal is installing it again).

    ``password`` encrypts the key of ``pem-bundle`` and ``key`` (none: unencrypted) and is
    required for ``pkcs12``. ``include_root`` puts the self-signed root into ``pem-bundle``,
    ``chain``, ``fullchain`` and ``pkcs12`` (every format leaves it out by default). Raises
    :class:`NotFoundError` when the store holds no certificate for ``identity`` (or not
    that ``version``),
    :class:`InputError` for an unknown format, a PKCS#12 without a password, a password
    shorter than :data:`MIN_EXPORT_PASSWORD` characters or a ``chain`` with nothing in it,
    :class:`PasswordError` when the store's keys cannot be unsealed.
    Nothing is audited here: see :func:`record_key_export`.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}", f"use one of: {', '.join(FORMATS)}")
    if fmt == "pkcs12" and not password:
        raise InputError(
            "a PKCS#12 file needs a password",
            "give --password, set CCAPKI_EXPORT_PASSWORD, or run in a terminal to be asked",
        )
    with_key = fmt in KEY_FORMATS
    if password and with_key:
        check_export_password(password, "a PKCS#12 file" if fmt == "pkcs12" else "the key")
    key = None
    if with_key:
        ident, key = identity_material(store, identity, version)
    else:
        ident = identity_version(store, identity, version)
    chain = list(ident.chain)
    if fmt == "pem-bundle":
        assert key is not None
        data = ex.pem_bundle(
            ident.certificate,
            chain,
            key,
            include_root=include_root,
            key_format=key_format,
            key_password=password,
        )
    elif fmt == "key":
        assert key is not None
        data = ex.key_pem(key, key_format=key_format, password=password)
    elif fmt == "pkcs12":
        assert key is not None
        assert password is not None
        data = ex.pkcs12(
            identity,
            ident.certificate,
            key,
            chain,
            password,
            legacy=legacy,
            include_root=include_root,
        )
    elif fmt == "cert":
        data = ex.cert_pem(ident.certificate)
    elif fmt == "chain":
        data = ex.chain_pem(chain, include_root=include_root)
        if not data:
            raise _no_chain(identity, chain)
    elif fmt == "fullchain":
        data = ex.fullchain_pem(ident.certificate, chain, include_root=include_root)
    else:
        data = ex.cert_der(ident.certificate)
    return Exported(identity, ident.version, ident.not_after, fmt, with_key, data)


def _no_chain(identity: str, chain: Sequence[x509.Certificate]) -> InputError:
    """Why ``--format chain`` has nothing to write (an empty file is never written)."""
    if not chain:
        return InputError(
            f"{identity} is self-signed: it has no chain to write",
            f"export the certificate itself (`ccapki export {identity} --format cert`); "
            "clients install it as their root (`ccapki export-roots`)",
        )
    return InputError(
        f"{identity} is signed directly by the root {display_name(chain[-1])}: its chain "
        "holds only that root, which export leaves out unless --include-root is given",
        f"give --include-root to write the root, or use --format cert or fullchain for "
        f"{identity}'s certificate",
    )


def refuse_unaudited_key_export(store: Store, what: str) -> None:
    """Stop a command about to write a private key out when the store is read-only.

    Every key written out goes to the audit log, which a read-only store cannot take; so
    the command stops before writing anything, rather than leave an unaudited key behind.
    ``what`` names the command (``export``, ``backup create``...). Returns None when the
    store is writable; raises :class:`StoreError` (exit 2) when it is read-only.
    """
    if store.read_only is None:
        return
    raise StoreError(
        f"the store at {store.home} is read-only ({store.read_only}): {what} writes a "
        "private key, and every key written out goes to the store's audit log; nothing "
        "was written",
        f"make the store writable (the permissions of {store.home} and its database, or "
        f"`findmnt -T {store.home}`; `mount -o remount,rw ...`), or export the "
        "certificates alone (`ccapki export NAME --format fullchain`, `ccapki export-roots`)",
    )


def record_key_export(
    store: Store, exported: Exported, path: str, *, encrypted: bool, for_peer: bool = False
) -> None:
    """Write the audit entry of an export that holds a private key (nothing otherwise).

    ``path`` says where the key went (a file's absolute path, ``-`` for standard output).
    """
    if not exported.with_key:
        return
    store.audit.record(
        "key-export",
        exported.identity,
        format=exported.format,
        path=path,
        version=exported.version,
        encrypted=encrypted,
        for_peer=for_peer,
    )
