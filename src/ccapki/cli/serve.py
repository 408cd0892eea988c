"""``ccapki serve`` (the HTTP service) and ``ccapki users`` (who may use it)."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ccapki.cli.app import Env, pass_env
from ccapki.errors import InputError, NotFoundError

if TYPE_CHECKING:
    from ccapki.service.config import ServiceConfig
    from ccapki.store.session import Store

__all__ = ["serve", "users"]

#: How long the certificate ``ccapki serve`` makes for itself lasts (made anew each start).
SERVE_CERT_DAYS = 30


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise InputError(
            f"--listen {text!r} is not HOST:PORT",
            "give e.g. --listen 127.0.0.1:8443 (port 0: any free port), or [::1]:8443",
        )
    return host, int(port)


def _service_cert_names(host: str) -> list[str]:
    """The names the service's own certificate covers."""
    from ccapki.topology.loader import is_dns_name

    names = ["localhost", "127.0.0.1", "::1"]
    me = socket.gethostname()
    if is_dns_name(me):  # (a machine named "build_01" is no DNS name: left out)
        names.append(me)
    if host not in ("0.0.0.0", "::", ""):  # noqa: S104 (a comparison, not a bind)
        names.insert(0, host)
    return names


#: The ``meta`` key of the deployment whose internal CA signed the service's certificate
#: last: a later serve naming none keeps to it (a deployment added later, sorting first,
#: never changes the CA its clients were told to trust).
SERVE_SIGNER_KEY = "serve-signing-deployment"


def _signing_deployment(store: Store, named: str | None) -> tuple[str | None, str]:
    """The deployment whose internal CA signs the service's own certificate, and why: the
    one ``named`` (--deployment), else the one that signed last time (kept in the store),
    else the store's only one, else the first by name that has an internal CA; None (a
    self-signed certificate) when there is none. The choice is kept in the store."""
    from ccapki.topology.plan import INTERNAL_CA

    names = store.deployments.names()
    last = _meta_value(store, SERVE_SIGNER_KEY)

    def has_ca(name: str) -> bool:
        with store.scoped(name):
            return bool(store.cas.list(INTERNAL_CA))

    if named is not None:
        chosen, why = named, "named by --deployment"
    else:
        if last is not None and last in names and has_ca(last):
            return last, "the one serve used before; --deployment NAME chooses another"
        first = next((n for n in names if has_ca(n)), None)
        if first is None:
            return None, ""
        chosen, why = first, "the store's only deployment"
        if len(names) > 1 and first == names[0]:
            why = f"the first of {len(names)} deployments by name; --deployment NAME chooses"
        elif len(names) > 1:  # those before it have no internal CA
            why = (
                f"the first by name that has an internal CA, of {len(names)} deployments; "
                "--deployment NAME chooses"
            )
    if last != chosen:
        _set_meta(store, SERVE_SIGNER_KEY, chosen)
    return chosen, why


def _meta_value(store: Store, key: str) -> str | None:
    from sqlalchemy import select

    from ccapki.store import schema as t

    with store.connection() as c:
        return c.execute(select(t.meta.c.value).where(t.meta.c.key == key)).scalar()


def _set_meta(store: Store, key: str, value: str) -> None:
    from sqlalchemy import delete, insert

    from ccapki.store import schema as t

    with store.transaction() as c:
        c.execute(delete(t.meta).where(t.meta.c.key == key))
        c.execute(insert(t.meta), {"key": key, "value": value})


def _check_identity(store: Store, identity: str) -> None:
    """Raises :class:`NotFoundError` naming the identities the store holds (those with a
    certificate, of the deployment acted on) when ``identity`` is not one of them, or
    saying it holds none and how to make them; nothing when it is one."""
    if store.identities.get(identity) is not None:
        return
    held = sorted(store.identities.current())
    where = store.deployment
    several = len(store.deployments.names()) > 1
    other = " (or name another deployment with --deployment NAME)" if several else ""
    if not held:
        raise NotFoundError(
            f"--tls-identity {identity!r}: deployment {where!r} holds no identity with a "
            "certificate yet",
            "run `ccapki apply FILE` first (or `ccapki import` for a third-party "
            f"certificate){other}, or serve without --tls-identity",
        )
    shown = ", ".join(held[:20]) + (f" and {len(held) - 20} more" if len(held) > 20 else "")
    raise NotFoundError(
        f"--tls-identity {identity!r}: no such identity with a certificate in deployment "
        f"{where!r} (it holds: {shown})",
        f"name one of those: --tls-identity {held[0]}{other}",
    )


class _EncryptedKey(Exception):
    """The --tls-key file asked for a password (read as uvicorn reads it: none)."""


def _no_password() -> bytes:
    raise _EncryptedKey


def _check_tls_pair(cert: str, key: str) -> None:
    """Load ``cert`` and ``key`` as the server will, before anything starts: a key that is
    not the certificate's, an encrypted key (OpenSSL would ask for its password on the
    terminal), a CSR or a DER file would otherwise stop the service at start with an
    internal error. Raises :class:`InputError`."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(cert, key, password=_no_password)
    except _EncryptedKey:
        raise InputError(
            f"--tls-key {key}: is an encrypted private key, which the service cannot read "
            "unattended",
            "decrypt it into a file only this user reads (`openssl pkey -in KEY -out PLAIN`, "
            "then chmod 600 PLAIN), or serve an identity of the store: --tls-identity NAME",
        ) from None
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise InputError(
                f"--tls-key {key} is not the private key of --tls-cert {cert}",
                "give the key the certificate was made for (`ccapki inspect FILE` shows the "
                "public key of each)",
            ) from None
        raise InputError(
            f"--tls-cert {cert} and --tls-key {key}: not a PEM certificate and its PEM private key",
            "give the certificate in PEM (its chain after it) and its unencrypted PEM key; "
            "`ccapki inspect FILE` says what a file holds",
        ) from None


@contextlib.contextmanager
def _tls_files(
    env: Env,
    store: Store,
    host: str,
    identity: str | None,
    cert: str | None,
    key: str | None,
    named: str | None = None,
) -> Iterator[tuple[str, str, str]]:
    """The certificate and key files uvicorn reads, and what they are: the given files, a
    store identity, or a certificate made for the service by the internal CA of a
    deployment (see :func:`_signing_deployment`; self-signed when no deployment has one);
    the last two written to a private (0700) temporary folder, removed at the end."""
    if cert or key:
        if not (cert and key):
            raise InputError("--tls-cert and --tls-key go together", "give both files, or neither")
        for f in (cert, key):
            if not Path(f).is_file():
                raise InputError(f"{f}: no such file", "check the path")
        _check_tls_pair(cert, key)
        yield cert, key, f"the files {cert} and {key}"
        return
    from cryptography.hazmat.primitives import serialization

    from ccapki import api
    from ccapki.pki.certs import display_name

    with tempfile.TemporaryDirectory(prefix="ccapki-serve-") as tmp:
        folder = Path(tmp)
        os.chmod(folder, 0o700)
        if identity:
            _check_identity(store, identity)
            data = api.export(store, identity, "fullchain")
            key_bytes = api.export(
                store, identity, "key", destination="<ccapki serve: its TLS key, temporary>"
            )
            what = f"the identity {identity}"
        else:
            signer, why = _signing_deployment(store, named)
            with contextlib.ExitStack() as scope:
                if signer is not None:
                    scope.enter_context(store.scoped(signer))
                chain, pkey = api.service_certificate(
                    store,
                    _service_cert_names(host),
                    days=SERVE_CERT_DAYS,
                    self_signed=signer is None,
                )
            sent = chain if len(chain) == 1 else chain[:-1]  # the root: the client's
            data = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in sent)
            key_bytes = pkey.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            if signer is None:
                what = (
                    f"a self-signed {SERVE_CERT_DAYS}-day certificate (no deployment has an "
                    "internal CA: clients must trust this certificate itself, or give "
                    "--tls-cert/--tls-key or --tls-identity)"
                )
            else:
                ca = display_name(chain[1])
                what = (
                    f"a {SERVE_CERT_DAYS}-day certificate from the internal CA of deployment "
                    f"{signer} ({ca}; {why})"
                )
        cert_path, key_path = folder / "cert.pem", folder / "key.pem"
        for path, content in ((cert_path, data), (key_path, key_bytes)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
        yield str(cert_path), str(key_path), what


#: The longest --instance-id (the job leases' owner column holds 128 characters).
_INSTANCE_ID_MAX = 128


def _check_instance_id(value: str) -> None:
    """Refuse an --instance-id that names nothing (``--instance-id "$ID"`` with ID unset),
    holds a control character, or does not fit the job leases' owner column. Raises
    :class:`InputError`."""
    hint = (
        "give this instance a name of printable characters (e.g. --instance-id web-1), or "
        "leave --instance-id out for HOST:PID"
    )
    if not value.strip():
        raise InputError("--instance-id is empty", hint)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise InputError(f"--instance-id {value!r} holds a control character", hint)
    if len(value) > _INSTANCE_ID_MAX:
        raise InputError(
            f"--instance-id is {len(value)} characters long (at most {_INSTANCE_ID_MAX})", hint
        )


def _config(
    env: Env,
    host: str,
    port: int,
    tls: bool,
    instance_id: str | None,
    jobs: bool,
    *,
    trusted_proxy: str | None = None,
    max_body_mib: int = 1,
    max_upload_mib: int = 16,
) -> ServiceConfig:
    from ccapki.service.config import ServiceConfig, default_instance_id

    fixed = os.environ.get("CCAPKI_NOW")
    now = env.now() if fixed else None
    if trusted_proxy is not None:
        try:
            trusted_proxy = str(ipaddress.ip_address(trusted_proxy.strip("[]")))
        except ValueError:
            raise InputError(
                f"--trusted-proxy {trusted_proxy!r} is not an IP address",
                "give the proxy's address as the service sees it, e.g. --trusted-proxy "
                "127.0.0.1 for a TLS proxy on the same host",
            ) from None
    return ServiceConfig(
        home=env.home,
        database_url=env.database_url,
        host=host,
        port=port,
        tls=tls,
        instance_id=instance_id or default_instance_id(),
        jobs_enabled=jobs,
        wait=env.wait,
        clock=(lambda: now) if now is not None else None,
        trusted_proxy=trusted_proxy,
        max_body=max_body_mib << 20,
        max_upload_body=max_upload_mib << 20,
    )


@click.command(
    epilog="""\b
EXAMPLES
  ccapki serve                                  HTTPS on 127.0.0.1:8443, its own certificate
  ccapki serve --listen 0.0.0.0:443 --tls-identity cam     serve with a store identity
  ccapki serve --tls-cert svc.pem --tls-key svc.key        serve with your files
  ccapki serve --no-tls --listen 127.0.0.1:8080 --trusted-proxy 127.0.0.1
                                                behind a TLS proxy on the same host
  ccapki users add ann --role admin             first, someone to log in (see ccapki users)

\b
The service is store-wide: it serves every deployment the store holds, whatever their
number (requests name theirs; --deployment NAME is the default of those that name none).

\b
TLS: by default the service makes itself a 30-day certificate (for localhost, the host
name and the --listen address), signed by an internal CA of the store: that of the
deployment --deployment NAME names, else of the one that signed at the last start, else
of the only deployment, else of the first by name that has one (the second line printed
says which); clients that trust that
deployment's root (`ccapki --deployment NAME export-roots`) trust it. A store with no
internal CA yet: a self-signed certificate. Its key never enters the store; it is written
to a private (0700) temporary folder for the server and removed at exit.

\b
EXIT CODES
  0 stopped (SIGTERM or Ctrl-C)   2 bad input (no store, a bad --listen, TLS files missing)
""",
)
@click.option(
    "--listen",
    default="127.0.0.1:8443",
    show_default=True,
    metavar="HOST:PORT",
    help="Address to listen on (port 0: any free port; the one chosen is printed).",
)
@click.option("--tls/--no-tls", default=True, show_default=True, help="Serve HTTPS.")
@click.option("--tls-identity", metavar="NAME", help="Serve with this identity of the store.")
@click.option("--tls-cert", metavar="FILE", help="Serve with this certificate (PEM, chain).")
@click.option("--tls-key", metavar="FILE", help="The private key of --tls-cert (PEM).")
@click.option(
    "--deployment",
    "deployment",
    metavar="NAME",
    help="The deployment whose internal CA signs the service's certificate, and the "
    "default of requests that name none (default: ccapki --deployment, $CCAPKI_DEPLOYMENT).",
)
@click.option("--instance-id", metavar="ID", help="This instance's name in job leases.")
@click.option("--no-jobs", is_flag=True, help="Do not run background jobs in this instance.")
@click.option(
    "--trusted-proxy",
    metavar="ADDR",
    help="A reverse proxy's address: from it only, X-Forwarded-For's last hop is the "
    "client's address (login throttling).",
)
@click.option(
    "--max-body",
    "max_body_mib",
    type=click.IntRange(1, 1024),
    default=1,
    show_default=True,
    metavar="MIB",
    help="The largest request body (JSON, forms), in MiB; more is refused (413).",
)
@click.option(
    "--max-upload-body",
    "max_upload_mib",
    type=click.IntRange(1, 4096),
    default=16,
    show_default=True,
    metavar="MIB",
    help="The largest multipart upload (certificate and key files), in MiB.",
)
@pass_env
def serve(
    env: Env,
    listen: str,
    tls: bool,
    tls_identity: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    deployment: str | None,
    instance_id: str | None,
    no_jobs: bool,
    trusted_proxy: str | None,
    max_body_mib: int,
    max_upload_mib: int,
) -> int:
    """Serve the REST API and the dashboard (see docs/service.md)."""
    if instance_id is not None:
        _check_instance_id(instance_id)
    host, port = _listen(listen)
    env.refuse_what_if("serve")
    if not tls and (tls_identity or tls_cert or tls_key):
        raise InputError(
            "--no-tls with a TLS certificate option", "drop --no-tls, or the --tls-* options"
        )
    if tls_identity and (tls_cert or tls_key):
        raise InputError(
            "--tls-identity and --tls-cert/--tls-key both given", "give one of the two"
        )
    import uvicorn

    from ccapki.service.app import create_app
    from ccapki.store.session import Store

    config = _config(
        env,
        host,
        port,
        tls,
        instance_id,
        not no_jobs,
        trusted_proxy=trusted_proxy,
        max_body_mib=max_body_mib,
        max_upload_mib=max_upload_mib,
    )
    # the keys are unsealed now, once: a wrong or missing passphrase stops the start-up
    # (asked in a terminal, as every command does), never a request later
    store = Store.open(
        config.home,
        url=config.database_url,
        passphrase=env.passphrase,
        clock=config.clock,
        wait=config.wait,
        caller="cli",  # its start-up (a TLS certificate); create_app makes it the service's
    )
    try:
        if store.read_only is not None:
            # every request writes (a token's last use, a session, the login throttle):
            # a read-only store started, then answered 500 "a ccapki bug" to each
            from ccapki.store.session import read_only_error

            raise read_only_error(store.home, store.read_only)
        store.unlock()
        named = deployment or env.deployment_option
        if named:
            store.use(named)
    except BaseException:
        store.close()
        raise
    env.warn_loose_modes()
    try:
        with contextlib.ExitStack() as stack:
            files = None
            if tls:
                files = stack.enter_context(
                    _tls_files(env, store, host, tls_identity, tls_cert, tls_key, named)
                )
            sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
            stack.callback(sock.close)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                raise InputError(
                    f"cannot listen on {host}:{port} ({exc.strerror})",
                    "choose another --listen address or port (port 0: any free one)",
                ) from None
            sock.listen(2048)  # connections wait from now on, never refused at start-up
            bound = sock.getsockname()[1]
            app = create_app(config, store=store)
            uconfig = uvicorn.Config(
                app,
                ssl_certfile=files[0] if files else None,
                ssl_keyfile=files[1] if files else None,
                log_level="warning",
                access_log=False,
                proxy_headers=False,
                server_header=False,
                timeout_graceful_shutdown=10,
            )
            server = uvicorn.Server(uconfig)
            # from the first line printed (what a supervisor waits for) a SIGTERM or Ctrl-C
            # stops the service with exit 0: before uvicorn installs its own handlers it
            # is kept here (it was an "interrupted" exit 143, or, once the work was said
            # done, ignored: the service then ran on after being told to stop)
            env.work_done()
            if threading.current_thread() is threading.main_thread():
                for sig in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(sig, lambda _sig, _frame: setattr(server, "should_exit", True))
            scheme = "https" if tls else "http"
            shown = f"[{host}]" if ":" in host else host
            click.echo(f"serving on {scheme}://{shown}:{bound}/ (instance {config.instance_id})")
            if files:
                click.echo(f"TLS: {files[2]}")
            if not tls and not _loopback(host):
                click.echo(
                    f"warning: --no-tls on {shown}: passwords, session cookies and API tokens "
                    "cross the network in clear; put the TLS proxy on this host and listen on "
                    "127.0.0.1 only (--listen 127.0.0.1:PORT), or drop --no-tls",
                    err=True,
                )
            if not any(u.active for u in store.users.list()):  # every route but /health: 401
                click.echo(
                    "warning: no active user: nobody can log in or call the API; add one "
                    "(`ccapki users add NAME --role admin`, seen at once, no restart)",
                    err=True,
                )
            sys.stdout.flush()
            # from here a SIGTERM or Ctrl-C stops the server gracefully (uvicorn's own
            # handlers), and the command then exits 0
            server.run(sockets=[sock])
            click.echo("stopped", err=True)
    finally:
        store.close()
    return 0


# ---------------------------------------------------------------------------- users


@click.group(
    epilog="""\b
EXAMPLES
  ccapki users add ann --role admin             asks for a password (twice)
  printf '%s\\n' "$PW" | ccapki users add bob --role operator --password-stdin
  ccapki users add ci --role viewer --no-password   API tokens only
  ccapki users token ci --label grafana --expires-days 90    prints the token once
  ccapki users list
  ccapki users set-role bob viewer
  ccapki users set-password ann                 a forgotten password; unlocks the name
  ccapki users disable bob                      ends bob's sessions too
  ccapki users revoke 3                         revoke API token 3 (see `users tokens`)

\b
EXIT CODES
  0 done   2 bad input (unknown user or role, a name taken, a short password, no
           password given without a terminal)
""",
)
def users() -> None:
    """Users of the service: roles viewer (read), operator (issue, import, CSRs, trust
    apply, renew), admin (export private keys, backups, users)."""


_ROLES = click.Choice(["viewer", "operator", "admin"])


def _loopback(host: str) -> bool:
    """Whether ``host`` (a --listen address) is reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def _epilog(*examples: str, codes: str = "0 done   2 no store, or no user by that name") -> str:
    """A subcommand's EXAMPLES and EXIT CODES (``codes``: what this one returns)."""
    lines = "\n".join(f"  {e}" for e in examples)
    return f"\b\nEXAMPLES\n{lines}\n\n\b\nEXIT CODES\n  {codes}\n"


def _stdin_password(kept: str) -> str:
    """The first line of standard input (``--password-stdin``), without its end; ``kept``
    says what the refusal left (a line that is not UTF-8 text). Raises :class:`InputError`."""
    try:
        line = sys.stdin.readline().rstrip("\r\n")
        line.encode()  # a byte that is not UTF-8, kept as a lone surrogate (surrogateescape)
        return line
    except (UnicodeDecodeError, UnicodeEncodeError):
        raise InputError(
            f"the password on standard input is not UTF-8 text: {kept}",
            "pipe in the password as UTF-8 text: printf '%s\\n' \"$PW\" | ccapki users ... "
            "--password-stdin",
        ) from None


def _read_password(password_stdin: bool, no_password: bool = False) -> str | None:
    """The new user's password: from standard input (``--password-stdin``), asked twice in
    a terminal, or None with ``--no-password``. Raises :class:`InputError` when neither
    flag is given and there is no terminal to ask in (never a password-less user by
    accident), or when both flags are given."""
    if no_password:
        if password_stdin:
            raise InputError(
                "--no-password and --password-stdin contradict each other",
                "give one: --password-stdin for a web login, --no-password for API tokens only",
            )
        return None
    if password_stdin:
        line = _stdin_password("no user was added")
        if not line:
            raise InputError(
                "no password on standard input: no user was added",
                "pipe it in: printf '%s\\n' \"$PW\" | ccapki users add NAME --role ROLE "
                "--password-stdin (or give --no-password for a user of API tokens only)",
            )
        return line
    if sys.stdin.isatty():
        value: str = click.prompt(
            "Password", hide_input=True, confirmation_prompt=True, default="",
            show_default=False, err=True,
        )  # fmt: skip
        if not value:  # Enter twice is no way to make a password-less admin
            raise InputError(
                "an empty password: no user was added",
                "type a password (a web login), or give --no-password for a user of API "
                "tokens only",
            )
        return value
    raise InputError(
        "no terminal to ask for the password in (standard input is not a terminal): no user "
        "was added",
        "pipe the password in with --password-stdin (printf '%s\\n' \"$PW\" | ccapki users add "
        "NAME --role ROLE --password-stdin), or give --no-password for a user of API tokens only",
    )


@users.command(
    "add",
    epilog=_epilog(
        "ccapki users add ann --role admin             asks for a password (twice)",
        "printf '%s\\n' \"$PW\" | ccapki users add bob --role operator --password-stdin",
        "ccapki users add ci --role viewer --no-password   API tokens only",
        codes="0 added   2 bad input (a name taken or not a name, an unknown role, a short or "
        "empty password, no terminal to ask in): nothing added",
    ),
)
@click.argument("name")
@click.option("--role", type=_ROLES, required=True, help="What the user may do.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option(
    "--no-password", is_flag=True, help="No web login: a user of API tokens only (never asked)."
)
@pass_env
def users_add(env: Env, name: str, role: str, password_stdin: bool, no_password: bool) -> int:
    """Add a user (a web login with a password; without one, API tokens only)."""
    import re

    from ccapki.service.auth import hash_password
    from ccapki.store.records import Role

    if not re.fullmatch(r"[A-Za-z0-9._@-]{1,64}", name):
        raise InputError(
            f"{name!r} is not a user name", "use letters, digits and . _ @ - (64 at most)"
        )
    env.refuse_what_if("users add")
    password = _read_password(password_stdin, no_password)
    hashed = hash_password(password) if password else None
    with env.open_store() as store:
        store.users.add(name, Role(role), hashed)
    click.echo(f"added {role} {name}" + ("" if hashed else " (no password: API tokens only)"))
    return 0


@users.command(
    "list",
    epilog=_epilog("ccapki users list", "ccapki users list --json", codes="0 listed   2 no store"),
)
@click.option("--json", "as_json", is_flag=True)
@pass_env
def users_list(env: Env, as_json: bool) -> int:
    """List the users."""
    with env.open_store() as store:
        found = store.users.list()
    if as_json:
        rows = [
            {
                "name": u.name,
                "role": u.role.value,
                "disabled": not u.active,
                "created_at": u.created_at.isoformat(),
            }
            for u in found
        ]
        click.echo(json.dumps(rows, indent=2))
        return 0
    if not found:
        click.echo("no users yet: `ccapki users add NAME --role admin`")
        return 0
    click.echo(f"{'NAME':24} {'ROLE':9} STATE")
    for u in found:
        state = "active" if u.active else "disabled"
        click.echo(f"{u.name:24} {u.role.value:9} {state}")
    return 0


@users.command(
    "set-role",
    epilog=_epilog(
        "ccapki users set-role bob viewer",
        codes="0 done   2 no store, no user by that name, or a role other than viewer, "
        "operator, admin",
    ),
)
@click.argument("name")
@click.argument("role", type=_ROLES, metavar="ROLE")
@pass_env
def users_set_role(env: Env, name: str, role: str) -> int:
    """Change a user's role."""
    from ccapki.store.records import Role

    env.refuse_what_if("users set-role")
    with env.open_store() as store:
        user = store.users.update(name, role=Role(role))
    click.echo(f"{user.name} is {role}")
    return 0


@users.command(
    "set-password",
    epilog=_epilog(
        "ccapki users set-password ann                 asks for the new password (twice)",
        "printf '%s\\n' \"$PW\" | ccapki users set-password ann --password-stdin",
        codes="0 done   2 no store, no user by that name, a short or empty password, or no "
        "terminal to ask in: nothing changed",
    ),
)
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_env
def users_set_password(env: Env, name: str, password_stdin: bool) -> int:
    """Set a user's web-login password (a forgotten one, or a user of API tokens only);
    the name's failed logins are forgotten, so a locked-out admin can log in at once."""
    from ccapki.service.auth import hash_password

    env.refuse_what_if("users set-password")
    if password_stdin:
        password = _stdin_password("nothing was changed")
    elif sys.stdin.isatty():
        password = click.prompt(
            "New password", hide_input=True, confirmation_prompt=True, default="",
            show_default=False, err=True,
        )  # fmt: skip
    else:
        raise InputError(
            "no terminal to ask for the password in (standard input is not a terminal): "
            "nothing was changed",
            "pipe the password in: printf '%s\\n' \"$PW\" | ccapki users set-password "
            f"{name} --password-stdin",
        )
    if not password:
        raise InputError(
            "an empty password: nothing was changed",
            "type a password (8 characters or more), or pipe one in with --password-stdin",
        )
    hashed = hash_password(password)
    with env.open_store() as store:
        user = store.users.update(name, password_hash=hashed)
        store.logins.clear(user.name.lower())  # failures are counted whatever the case
    click.echo(f"set the password of {user.name} (its failed logins forgotten)")
    return 0


@users.command(
    "disable",
    epilog=_epilog("ccapki users disable bob              no login, no token; sessions end"),
)
@click.argument("name")
@pass_env
def users_disable(env: Env, name: str) -> int:
    """Disable a user: no login, no token works, its sessions end."""
    env.refuse_what_if("users disable")
    with env.open_store() as store:
        user = store.users.update(name, disabled=True)
    click.echo(f"disabled {user.name}")
    return 0


@users.command(
    "enable",
    epilog=_epilog("ccapki users enable bob"),
)
@click.argument("name")
@pass_env
def users_enable(env: Env, name: str) -> int:
    """Enable a disabled user again."""
    env.refuse_what_if("users enable")
    with env.open_store() as store:
        user = store.users.update(name, disabled=False)
    click.echo(f"enabled {user.name}")
    return 0


@users.command(
    "token",
    epilog=_epilog(
        "ccapki users token ci --label grafana --expires-days 90",
        "TOKEN=$(ccapki users token ci)                 the token alone on standard output",
        codes="0 token printed   2 no store, no user by that name, or --expires-days out of "
        "1..3650",
    ),
)
@click.argument("name")
@click.option("--label", default="", help="What the token is for.")
@click.option(
    "--expires-days", type=click.IntRange(1, 3650), help="Days it lasts (default: no expiry)."
)
@pass_env
def users_token(env: Env, name: str, label: str, expires_days: int | None) -> int:
    """Make an API token for NAME and print it (once: the store keeps only its SHA-256)."""
    from ccapki.service.auth import issue_token

    env.refuse_what_if("users token")
    with env.open_store() as store:
        user = store.users.get(name)
        token, record = issue_token(store, user, label, expires_days)
    until = f", expires {record.expires_at:%Y-%m-%d}" if record.expires_at else ""
    click.echo(f"token {record.id} for {user.name}{until} (shown once):", err=True)
    click.echo(token)
    return 0


@users.command(
    "tokens",
    epilog=_epilog(
        "ccapki users tokens",
        "ccapki users tokens ci",
        codes="0 listed (also none)   2 no store, or no user by that name",
    ),
)
@click.argument("name", required=False)
@pass_env
def users_tokens(env: Env, name: str | None) -> int:
    """List API tokens (of NAME): id, user, label, expiry, last use (never the token)."""
    with env.open_store() as store:
        people = {u.id: u.name for u in store.users.list()}
        found = store.tokens.list(store.users.get(name) if name else None)
    now = env.now()
    for t in found:
        if t.revoked_at:
            state = "revoked"
        elif t.expires_at and t.expires_at <= now:
            state = "expired"
        else:
            state = f"expires {t.expires_at:%Y-%m-%d}" if t.expires_at else "no expiry"
        used = f"last used {t.last_used_at:%Y-%m-%d}" if t.last_used_at else "never used"
        click.echo(f"{t.id:5} {people.get(t.user_id, '?'):20} {t.label or '-':16} {state}, {used}")
    if not found:
        click.echo("no tokens")
    return 0


@users.command(
    "revoke",
    epilog=_epilog(
        "ccapki users revoke 3                 (ids: ccapki users tokens)",
        codes="0 revoked   2 no store, or no live token with that id (a number)",
    ),
)
@click.argument("token_id", type=int)
@pass_env
def users_revoke(env: Env, token_id: int) -> int:
    """Revoke API token TOKEN_ID (see `ccapki users tokens`)."""
    env.refuse_what_if("users revoke")
    with env.open_store() as store:
        store.tokens.revoke(token_id)
    click.echo(f"revoked token {token_id}")
    return 0
