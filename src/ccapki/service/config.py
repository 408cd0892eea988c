"""What a service instance is given: :class:`ServiceConfig`."""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ccapki.errors import InputError

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_UPLOAD_BODY",
    "DEFAULT_PORT",
    "MAX_UPLOAD_FILES",
    "MAX_UPLOAD_FILE_BYTES",
    "ServiceConfig",
    "check_upload_count",
    "check_upload_size",
    "default_instance_id",
]

#: The port ``ccapki serve`` listens on by default (HTTPS).
DEFAULT_PORT = 8443
#: The largest request body by default (JSON, forms): 1 MiB.
DEFAULT_MAX_BODY = 1 << 20
#: The largest ``multipart/form-data`` body (uploaded files) by default: 16 MiB.
DEFAULT_MAX_UPLOAD_BODY = 16 << 20
#: The most files one upload of certificates and keys may hold: the import API
#: (``POST /api/v1/deployments/D/import``) and the dashboard's upload alike.
MAX_UPLOAD_FILES = 50


def check_upload_count(count: int) -> None:
    """Refuse an upload of ``count`` files, more than :data:`MAX_UPLOAD_FILES` (the API's
    and the dashboard's one limit and one wording: a 400 ``bad-input``). Raises
    :class:`~ccapki.errors.InputError` when there are too many; else nothing."""
    if count > MAX_UPLOAD_FILES:
        raise InputError(
            f"{count} files uploaded: at most {MAX_UPLOAD_FILES} in one upload",
            f"split them over several uploads of at most {MAX_UPLOAD_FILES} files, each "
            "certificate with its key",
        )


#: The largest file one upload of certificates and keys may hold, in bytes (1 MiB): the
#: import API and the dashboard's upload alike. A certificate, key or bundle (PEM, DER,
#: PKCS#7, PKCS#12) is a few KiB; the command line's parser takes up to 16 MiB.
MAX_UPLOAD_FILE_BYTES = 1 << 20


def check_upload_size(name: str, size: int) -> None:
    """Refuse an uploaded file ``name`` of ``size`` bytes, more than
    :data:`MAX_UPLOAD_FILE_BYTES` (the API's and the dashboard's one limit and one
    wording: a 400 ``bad-input``). Read at most ``MAX_UPLOAD_FILE_BYTES + 1`` bytes of a
    file to call it. Raises :class:`~ccapki.errors.InputError` when it is larger; else
    nothing."""
    if size > MAX_UPLOAD_FILE_BYTES:
        limit = MAX_UPLOAD_FILE_BYTES
        raise InputError(
            f"{name} is larger than {limit // 1024} KiB ({limit} bytes): at most that per "
            "uploaded file",
            "upload certificates, keys and bundles only (PEM, DER, PKCS#7 or PKCS#12: a few "
            "KiB each); check it is the file the CA sent",
        )


def default_instance_id() -> str:
    """This instance's id as the job leases record it: ``HOST:PID``."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class ServiceConfig:
    """One service instance's settings.

    ``home``/``database_url``/``passphrase``: the store (as the CLI opens it);
    ``host``/``port``: where it listens; ``tls``: HTTPS (the certificate is
    ``tls_cert``/``tls_key`` files, else the store's identity ``tls_identity``);
    ``instance_id``: this instance's name in job leases; ``session_lifetime``: how long a
    web login lasts; ``cookie_secure``: cookies carry ``Secure`` (default: when on TLS);
    ``jobs_enabled``: this instance runs background jobs; ``clock``: the store's clock
    (tests; None: real time).

    Failed logins (counted within ``login_window``, 15 minutes): ``login_limit`` (5) for
    one name from one address, then that pair is refused (429) until the window passes;
    ``login_address_limit`` (20) from one address whatever the name, then that address
    is refused; ``login_name_limit`` (10) for one name whatever the address, then each
    further attempt at that name waits ``login_name_delay`` (30 s) after its last
    failure (429 with ``Retry-After``): slowed, never locked out for long.
    ``trusted_proxy``: the address of a reverse proxy (e.g. ``127.0.0.1`` for a TLS proxy
    on the same host); from that peer only, the last hop of ``X-Forwarded-For`` is the
    client's address.

    Request bodies: at most ``max_body`` bytes (1 MiB: JSON, forms), ``max_upload_body``
    (16 MiB) for ``multipart/form-data`` uploads; more is refused with 413, by
    ``Content-Length`` or while a chunked body streams in; a body of which nothing
    arrives for ``body_timeout`` seconds (30) is refused with 408.
    """

    home: Path
    database_url: str | None = None
    passphrase: str | None = None
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    tls: bool = True
    tls_identity: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    instance_id: str = field(default_factory=default_instance_id)
    session_lifetime: dt.timedelta = dt.timedelta(hours=8)
    cookie_secure: bool | None = None
    jobs_enabled: bool = True
    clock: Callable[[], dt.datetime] | None = None
    login_limit: int = 5
    login_window: dt.timedelta = dt.timedelta(minutes=15)
    login_address_limit: int = 20
    login_name_limit: int = 10
    login_name_delay: dt.timedelta = dt.timedelta(seconds=30)
    trusted_proxy: str | None = None
    max_body: int = DEFAULT_MAX_BODY
    max_upload_body: int = DEFAULT_MAX_UPLOAD_BODY
    #: a request body of which nothing arrives for this long is refused (408), seconds
    body_timeout: float = 30.0
    #: where backups made through the service go (default: ``home/backups``)
    backup_dir: Path | None = None
    #: how long a write waits for another writer's lock (seconds), then 503
    wait: float = 60.0

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies carry ``Secure``: ``cookie_secure``, else whether on TLS."""
        return self.tls if self.cookie_secure is None else self.cookie_secure

    @property
    def backups(self) -> Path:
        """The folder backups made through the service are written to."""
        return self.backup_dir or (self.home / "backups")
