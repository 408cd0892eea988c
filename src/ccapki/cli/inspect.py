"""``ccapki inspect``: what a certificate says, and who signed it in the FAQ's words."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import click

from ccapki.cli.app import Env, pass_env
from ccapki.errors import InputError

if TYPE_CHECKING:
    from cryptography import x509

    from ccapki.pki.formats import Kind, Material, PrivateKey
    from ccapki.pki.inspect import CertInfo, KeyInfo, KeyMatch, KnownCA
    from ccapki.store.session import Store
    from ccapki.topology.model import IdentitySpec

__all__ = ["inspect_cmd"]


def _known(env: Env) -> list[KnownCA]:
    """The CAs the store knows, for "signed by": the named deployment's, or, with none
    named, every deployment's (inspecting a file never needs --deployment), each CA once."""
    from ccapki.pki.inspect import KnownCA

    with env.optional_store() as store:
        if store is None:  # no store, or one to upgrade first (noted)
            return []
        named = store.acting_on
        scopes: list[str | None] = [named] if named is not None else []
        scopes = scopes or [*store.deployments.names()] or [None]
        out: dict[str, KnownCA] = {}
        for scope in scopes:
            if scope is None:  # an empty store: the implied deployment
                cas = store.cas.list()
            else:
                with store.scoped(scope):
                    cas = store.cas.list()
            for c in cas:
                out.setdefault(c.fingerprint, KnownCA(c.name, c.kind, c.certificate))
        return list(out.values())


def _validity(info: CertInfo, now: dt.datetime) -> str:
    """``FROM -> TO UTC (valid, 300d left)``, ``(expired 2d ago)``, ``(not yet valid:
    starts in 3d)`` (Rich markup)."""
    from ccapki.cli.output import days_text

    span = f"{info.not_before:%Y-%m-%d %H:%M} -> {info.not_after:%Y-%m-%d %H:%M} UTC"
    if info.status == "expired":
        from ccapki.pki.expiry import span_words  # hours within 24 h, as every command

        return f"{span} ([red]expired {span_words(now - info.not_after, short=True)} ago[/red])"
    if info.status == "not-yet-valid":
        days = (info.not_before - now).days
        return (
            f"{span} ([yellow]not yet valid: starts {f'in {days}d' if days else 'today'}[/yellow])"
        )
    left = info.not_after - now
    if info.days_left == 0 and left > dt.timedelta(0):  # its last day: in hours
        from ccapki.pki.expiry import span_words

        return f"{span} (valid, [yellow]{span_words(left, short=True)}[/yellow] left)"
    return f"{span} (valid, {days_text(info.days_left)} left)"


def _render(info: CertInfo, title: str, now: dt.datetime) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ccapki.cli.output import console

    # certificate fields are the sender's text: escape them, so "[...]" is not Rich markup
    t = Table(title=escape(title), show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    t.add_row("subject", escape(info.subject) or "(empty: the SANs name it)")
    t.add_row("SANs", escape(", ".join([*info.san_dns, *info.san_ip])) or "[red]none[/red]")
    t.add_row("issuer", escape(info.issuer) or "(empty)")
    # the row's label says "signed by": the sentence without it ("internal CA ...")
    t.add_row("signed by", escape(info.signed_by.removeprefix("signed by ")))
    t.add_row("validity", _validity(info, now))
    t.add_row("key", f"{info.key} ({info.key_bits} bits)")
    t.add_row("signature", info.signature_algorithm)
    t.add_row("CA", "yes" if info.is_ca else "no")
    t.add_row("EKU", ", ".join(info.eku) or "-")
    t.add_row("serial", info.serial)
    t.add_row("SHA-256", info.sha256)
    t.add_row("SHA-1", info.sha1)
    t.add_row("key SHA-256", info.spki_sha256)
    if info.malformed:
        t.add_row("malformed", f"[red]{escape(info.malformed)}[/red] (shown as if absent)")
    console().print(t)


def _show_csrs(
    csrs: tuple[x509.CertificateSigningRequest, ...], title: str, fmt: str, show_all: bool
) -> int:
    """Show a file's CSRs (the first, or every one with --all) as text, JSON or PEM; 0."""
    from cryptography.hazmat.primitives import serialization
    from rich.markup import escape
    from rich.table import Table

    from ccapki.cli.output import console, plural
    from ccapki.pki.inspect import describe_csr

    chosen = csrs if show_all else csrs[:1]
    if fmt == "pem":
        pems = [c.public_bytes(serialization.Encoding.PEM) for c in chosen]
        click.echo(b"".join(pems).decode(), nl=False)
        return 0
    infos = [describe_csr(c) for c in chosen]
    if fmt == "json":
        from ccapki.cli.output import print_json

        print_json(infos[0].to_json() if len(infos) == 1 else [i.to_json() for i in infos])
        return 0
    for n, info in enumerate(infos):
        head = f"{title}: certificate signing request (CSR)" if n == 0 else f"CSR [{n}]"
        t = Table(title=escape(head), show_header=False, title_justify="left")
        t.add_column(style="bold")
        t.add_column()
        t.add_row("subject", escape(info.subject))
        sans = escape(", ".join([*info.san_dns, *info.san_ip]))
        t.add_row("SANs", sans or "[red]none[/red] (clients check the SANs, not the CN)")
        t.add_row("key", f"{info.key} ({info.key_bits} bits)")
        t.add_row(
            "signature",
            f"{info.signature_algorithm}, "
            + (
                "verifies (made with the key it carries)"
                if info.signature_valid
                else "[red]does not verify[/red] (the CSR is damaged)"
            ),
        )
        t.add_row("CA", "requested" if info.requests_ca else "no")
        t.add_row("EKU", ", ".join(info.eku) or "-")
        t.add_row("SHA-256", info.sha256)
        t.add_row("key SHA-256", info.spki_sha256)
        console().print(t)
    if not show_all and len(csrs) > 1:
        click.echo(f"(+{plural(len(csrs) - 1, 'more CSR')}: --all shows them)")
    return 0


def _key_matches(env: Env, spki: str) -> tuple[tuple[KeyMatch, ...] | None, str | None]:
    """What the store holds on the public key ``spki`` (every deployment's, or the one
    named) and the state of its sealed copy of the key; ``(None, None)`` with no store.
    Reads fingerprints and records only: no key is unsealed."""
    import contextlib

    from ccapki.pki.inspect import KeyMatch

    found: list[KeyMatch] = []
    held: str | None = None
    with env.optional_store() as store:
        if store is None:  # no store, or one to upgrade first (noted)
            return None, None
        named = store.acting_on
        scopes: list[str | None] = [named] if named is not None else []
        scopes = scopes or [*store.deployments.names()] or [None]
        for scope in scopes:
            label = scope if len(scopes) > 1 else None
            with store.scoped(scope) if scope is not None else contextlib.nullcontext(store):
                certified: set[str] = set()
                for holders in store.identities.versions_on_keys([spki]).values():
                    for name, version in holders:
                        current = store.identities.get(name)
                        now = current is not None and current.version == version
                        tag = "(current)" if now else "(an earlier version)"
                        found.append(KeyMatch("certificate", label, name, f"v{version} {tag}"))
                        certified.add(name)
                for ca in store.cas.list():
                    if ca.spki == spki:
                        where = label if ca.deployment == scope else None
                        found.append(KeyMatch("ca", where, ca.name, ca.kind))
                for c in store.csrs.list():
                    if c.spki == spki and c.identity not in certified:
                        made = f"made {c.created_at:%Y-%m-%d %H:%M} UTC"
                        found.append(KeyMatch("pending-csr", label, c.identity, made))
                for k in store.keys.list():
                    if k.fingerprint == spki:
                        held = k.state.value
        if held is None and any(m.kind == "ca" for m in found) and store.keys.has(spki):
            held = "ca"  # a shared CA's key (kept apart from every deployment's keys)
    return tuple(dict.fromkeys(found)), held


def _render_key(info: KeyInfo, title: str, where: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ccapki.cli.output import console

    t = Table(title=escape(title), show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    t.add_row("key", f"{info.key} ({info.key_bits} bits)")
    t.add_row(
        "file holds", escape(info.format) + (" (password-protected)" if info.encrypted else "")
    )
    t.add_row("key SHA-256", info.spki_sha256)
    if info.matches is None:
        t.add_row("in the store", f"not looked up: no ccapki store at {escape(where)}")
    elif info.matches:
        t.add_row("belongs to", "\n".join(escape(m.text()) for m in info.matches))
    else:
        t.add_row(
            "belongs to",
            f"[yellow]nothing in the store at {escape(where)}[/yellow] (no certificate, CA "
            "or pending CSR on this key)",
        )
    if info.held is not None:
        t.add_row("in the store", f"held, sealed ({info.held})")
    console().print(t)


def _show_keys(
    env: Env,
    keys: tuple[tuple[PrivateKey, Kind], ...],
    title: str,
    fmt: str,
    show_all: bool,
    *,
    locked: bool,
) -> int:
    """Show a file's private keys (the first, or every one with --all): their public
    facts only, as text or JSON (``locked``: the file needed a password); 0. Raises
    :class:`InputError` for --format pem (inspect never prints a private key)."""
    from ccapki.pki.inspect import describe_key

    if fmt == "pem":
        raise InputError(
            f"{title}: holds a private key, and inspect never prints a private key",
            "leave out --format pem to see the key's type, size and key SHA-256; to keep "
            "the key, `ccapki import CERT --key FILE` seals it in the store",
        )
    chosen = keys if show_all else keys[:1]
    infos = []
    for key, kind in chosen:
        matches, held = _key_matches(env, _spki(key))
        infos.append(
            describe_key(key, format=kind.value, encrypted=locked, matches=matches, held=held)
        )
    if fmt == "json":
        from ccapki.cli.output import print_json

        print_json(infos[0].to_json() if len(infos) == 1 else [i.to_json() for i in infos])
        return 0
    where = env.store_where
    for n, info in enumerate(infos):
        head = f"{title}: private key (not shown)" if n == 0 else f"private key [{n}]"
        _render_key(info, head, where)
    if not show_all and len(keys) > 1:
        from ccapki.cli.output import plural

        click.echo(f"(+{plural(len(keys) - 1, 'more private key')}: --all shows them)")
    return 0


def _spki(key: PrivateKey) -> str:
    from ccapki.pki.keys import public_key_fingerprint

    return public_key_fingerprint(key)


#: Endings that make an argument a file, never an identity name.
_FILE_ENDINGS = (".pem", ".crt", ".cer", ".der", ".p12", ".pfx", ".p7b", ".p7c", ".key", ".csr")


def _looks_like_a_path(target: str) -> bool:
    return "/" in target or target.lower().endswith(_FILE_ENDINGS)


class _Target(NamedTuple):
    """What ``inspect`` shows: certificates, or else the CSRs or the private keys of a file
    holding no certificate."""

    certs: list[x509.Certificate]
    title: str
    csrs: tuple[x509.CertificateSigningRequest, ...] = ()
    keys: tuple[tuple[PrivateKey, Kind], ...] = ()
    locked: bool = False  # the file needed a password


def _parse_file(data: bytes, source: str, password: str | None) -> tuple[Material, bool]:
    """``source``'s bytes parsed, and whether they needed a password; a password-protected
    file (an encrypted key, a PKCS#12 file) with no --password is asked for one in a
    terminal (hidden), as `export` asks. Raises :class:`PasswordError` for a wrong
    password, or for none outside a terminal."""
    from ccapki.errors import PasswordError
    from ccapki.pki.formats import Kind, parse_material

    if password:
        material = parse_material(data, source=source, password=password.encode())
        if Kind.DER_KEY not in material.key_kinds:  # a PEM key's kind says if it is encrypted
            return material, False
        try:  # a DER key says nothing: encrypted if it needs the password
            parse_material(data, source=source)
        except PasswordError:
            return material, True
        return material, False
    try:
        return parse_material(data, source=source), False
    except PasswordError as exc:
        if not sys.stdin.isatty():
            raise PasswordError(
                exc.message, "give its password with --password (or run in a terminal to be asked)"
            ) from None
    asked = str(click.prompt(f"Password of {source}", hide_input=True, err=True))
    return parse_material(data, source=source, password=asked.encode()), True


def _from_target(
    env: Env, target: str, password: str | None, version: int | None = None
) -> _Target:
    """The certificates of ``target`` (a file or an identity; ``version``: that version of
    an identity) and a title; for a file holding no certificate, its CSRs or else its
    private keys (then no certificate)."""
    from ccapki.errors import NotFoundError

    if not target:  # `ccapki inspect "$F"` with F unset: Path("") is the current folder
        raise InputError(
            "TARGET is empty", "name a certificate, CSR or key file, or an identity of the store"
        )
    path = Path(target)
    if version is not None and (path.exists() or path.is_symlink()):
        raise InputError(
            f"--version names a version of an identity in the store, and {target} is a file",
            f"leave out --version to inspect the file, or give an identity's name "
            f"(`ccapki inspect NAME --version {version}`)",
        )
    if path.exists() or path.is_symlink():  # a broken link or a loop: said as such
        from ccapki.fsutil import read_input_file
        from ccapki.pki.formats import require_certificates

        data = read_input_file(path)
        material, locked = _parse_file(data, str(path), password)
        for note in material.notes:  # on stderr: --format json/pem output stays clean
            click.echo(f"note: {note}", err=True)
        if material.csrs and not material.certificates:
            return _Target([], str(path), csrs=material.csrs)
        if material.keys and not material.certificates:
            keys = tuple(zip(material.keys, material.key_kinds, strict=True))
            return _Target([], str(path), keys=keys, locked=locked)
        certs = list(require_certificates(material))
        if len(certs) > 1:  # in any order, as CAs send them: leaf first, as import sorts them
            from ccapki.pki.chain import sort_chain

            chain = sort_chain(certs)
            certs = [*chain.certificates, *chain.extras]
        return _Target(certs, str(path))
    if _looks_like_a_path(target):
        raise InputError(
            f"{target}: no such file",
            "check the path (an identity name, as `ccapki plan` lists it, has no / and no file "
            "extension)",
        )
    if not env.store_exists():
        from ccapki.errors import StoreError

        raise StoreError(
            f"{target!r} is not a file, and there is no ccapki store at {env.home} to look it "
            "up in",
            "give a certificate file (PEM, DER, PKCS#7, PKCS#12), or create the store "
            f"(`{env.command_for('init')}`, then `{env.command_for('apply FILE')}`), or "
            "point --home / CCAPKI_HOME at yours",
        )
    with env.open_store() as store:
        ident = store.identities.get(target)
        if ident is not None:
            _say_if_dropped(store, ident.name)
    spec = None if ident is not None else _planned(env, target)
    pending = None
    if spec is not None:
        with env.open_store() as store:
            ident = store.identities.get(spec.name)
            made = [c.created_at for c in store.csrs.list() if c.identity == spec.name]
            pending = max(made) if made else None
    if ident is not None:
        title = f"{ident.name} v{ident.version}"
        if version is not None and version != ident.version:
            from ccapki.lifecycle.certfiles import identity_version

            with env.open_store() as store:
                earlier = identity_version(store, ident.name, version)
            title = f"{ident.name} v{version} (an earlier version; the current is v{ident.version})"
            return _Target([earlier.certificate, *earlier.chain], title)
        return _Target([ident.certificate, *ident.chain], title)
    if spec is not None:
        raise NotFoundError(*_not_issued(spec, target, pending))
    raise NotFoundError(
        f"{target!r} is neither a file nor an identity in the store",
        "give a certificate file (PEM, DER, PKCS#7, PKCS#12) or an identity name from "
        "`ccapki plan`",
    )


def _say_if_dropped(store: Store, name: str) -> None:
    """A note (stderr) when the deployment file the store last applied no longer names
    identity ``name``: the store keeps its certificates, which no appliance should present."""
    from ccapki.errors import DeploymentError
    from ccapki.lifecycle.status import read_settings

    kept = store.deployments.latest()
    if kept is None:
        return
    try:
        planned = read_settings(kept.text, kept.path or "<stored deployment>", kept.facts)
    except DeploymentError:  # a stored file that no longer parses: status says so
        return
    if planned.identities and name not in planned.identities:
        where = f" ({kept.path})" if kept.path else ""
        click.echo(
            f"note: {name} is not in the deployment file last applied{where}: this is the "
            "last certificate the store keeps of it (`ccapki status` counts it as unused)",
            err=True,
        )


def _planned(env: Env, target: str) -> IdentitySpec | None:
    """The identity the stored deployment gives ``target`` (an identity or appliance name),
    ``None`` when the store holds no deployment; raises :class:`NotFoundError` (naming the
    known identities) when the deployment has no such name."""
    from ccapki.cli.common import load_deployment_arg
    from ccapki.errors import CcapkiError

    try:
        dep, _ = load_deployment_arg(env, None)
    except CcapkiError:  # the store holds no deployment
        return None
    return dep.identity_of(target)  # an unknown name: NotFoundError listing the known ones


def _not_issued(
    spec: IdentitySpec, target: str, pending: dt.datetime | None = None
) -> tuple[str, str]:
    """The error and hint for an identity the plan names but the store holds no
    certificate of: the next step depends on where its certificate comes from, and on a
    CSR made already (``pending``: when)."""
    from ccapki.topology.model import Source

    via = f" ({target} is one of its appliances)" if target != spec.name else ""
    message = f"{spec.name} is planned but has no certificate yet{via}"
    if spec.acme:
        return message, (
            f"order it from the ACME CA: `ccapki acme order {spec.name}` (or `ccapki apply "
            "FILE`, which orders what is due)"
        )
    if spec.source is Source.THIRD_PARTY and pending is not None:
        return f"{message}: its CSR is pending since {pending:%Y-%m-%d %H:%M} UTC", (
            "`ccapki import` the certificate the CA returns for it (the CSR's key waits in "
            "the store)"
        )
    if spec.source is Source.THIRD_PARTY:
        return message, (
            f"make its CSR (`ccapki csr {spec.name}`), have your CA sign it, then "
            "`ccapki import` the certificate it returns"
        )
    return message, "issue it with `ccapki apply` (the deployment the store holds)"


@click.command(
    "inspect",
    epilog="""\b
EXAMPLES
  ccapki inspect cas-dorm                     the identity's current certificate and chain
  ccapki inspect cert.pem --format json
  ccapki inspect bundle.p12 --password ...    first certificate is the leaf
  ccapki inspect cas-dorm --format pem > cas-dorm.pem
  ccapki inspect cas-clinic.csr               a CSR: subject, SANs, key, signature
  ccapki inspect saved.key                    a private key: type, size, key SHA-256 and
                                              what of the store is on it (never the key)
  ccapki inspect enc.key --password ...       an encrypted key (else asked in a terminal)

\b
EXIT CODES
  0 shown   2 unreadable file, wrong password, unknown identity, or --format pem of a
            private key (inspect never prints a key)
""",
)
@click.argument("target")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "pem"]), default="text", show_default=True
)
@click.option(
    "--password",
    help="Password of a PKCS#12 file or an encrypted key (else asked in a terminal).",
)
@click.option("--all", "show_all", is_flag=True, help="Show every certificate of a bundle/chain.")
@click.option("--json", "as_json", is_flag=True, help="The same as --format json.")
@click.option(
    "--version",
    "version",
    type=click.IntRange(min=1),
    metavar="N",
    help="An identity's earlier version (kept after a renewal or reissue); default: the "
    "current one.",
)
@pass_env
def inspect_cmd(
    env: Env,
    target: str,
    fmt: str,
    password: str | None,
    show_all: bool,
    as_json: bool,
    version: int | None,
) -> int:
    """Inspect a certificate file, a CSR, a private key or an identity: names, validity, key,
    fingerprints, signer (of a private key: its public facts only, and what of the store is
    on it)."""
    if as_json:  # as every reporting command takes it
        if fmt not in ("text", "json"):
            raise click.UsageError(f"--json and --format {fmt} contradict each other")
        fmt = "json"
    from ccapki.pki.inspect import describe

    certs, title, csrs, keys, locked = _from_target(env, target, password, version)
    if csrs:
        return _show_csrs(csrs, title, fmt, show_all)
    if keys:
        return _show_keys(env, keys, title, fmt, show_all, locked=locked)
    if fmt == "pem":
        from cryptography.hazmat.primitives import serialization

        chosen = certs if show_all else certs[:1]
        click.echo(
            b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chosen).decode(), nl=False
        )
        return 0
    known = _known(env)
    infos = [
        describe(c, now=env.now(), known=known, chain=certs[i + 1 :]) for i, c in enumerate(certs)
    ]
    if not show_all:
        infos = infos[:1]
    if fmt == "json":
        from ccapki.cli.output import print_json

        print_json(infos[0].to_json() if len(infos) == 1 else [i.to_json() for i in infos])
        return 0
    for n, info in enumerate(infos):
        _render(info, title if n == 0 else f"chain [{n}]", env.now())
    if not show_all and len(certs) > 1:
        from ccapki.cli.output import plural

        click.echo(f"(+{plural(len(certs) - 1, 'chain certificate')}: --all shows them)")
    return 0
