"""Certificate files: ``csr``, ``import``, ``export``, ``export-roots``, ``check-ha``, ``keys``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ccapki.cli.app import Env, pass_env
from ccapki.errors import InputError

if TYPE_CHECKING:
    from ccapki.lifecycle.certfiles import CsrResult

__all__ = ["check_ha", "csr", "export", "export_roots", "import_cmd", "keys"]


def _password(value: str | None, prompt: str, *, confirm: bool = False) -> bytes | None:
    if value is not None:
        return value.encode()
    env = os.environ.get("CCAPKI_EXPORT_PASSWORD")
    if env:
        return env.encode()
    if sys.stdin.isatty():
        return str(
            click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True)
        ).encode()
    return None


@click.command(
    epilog="""\b
EXAMPLES
  ccapki csr cas-clinic                 key kept sealed (pending), CSR in ./cas-clinic.csr
  ccapki csr --all --out csrs/          every third-party identity

Older pending keys are never destroyed by a new CSR: a certificate answering an older
request still finds its key. Retire one explicitly with `ccapki keys retire FINGERPRINT`.
"""
)
@click.argument("identities", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every third-party identity of the plan.")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="Folder for the .csr files; - prints them on standard output.",
)
@click.option("--follow-symlink", is_flag=True, help="Write through a .csr that is a symlink.")
@pass_env
def csr(env: Env, identities: tuple[str, ...], all_: bool, out: str, follow_symlink: bool) -> int:
    """Make a key (kept encrypted, pending) and a PKCS#10 CSR with the plan's names."""
    env.refuse_what_if("csr")
    from ccapki.cli.common import load_deployment_arg
    from ccapki.fsutil import STDOUT, write_output
    from ccapki.lifecycle.certfiles import make_csrs
    from ccapki.topology.model import Source

    dep, _ = load_deployment_arg(env, None)
    names = list(identities)
    if all_:
        names += [i.name for i in dep.identities if i.source is Source.THIRD_PARTY]
    if not names:
        raise InputError(
            "no identity named", "name identities (`ccapki csr cas-clinic`) or pass --all"
        )
    names = [dep.identity(n).name for n in dict.fromkeys(names)]
    to_stdout = out == STDOUT
    if not to_stdout:
        _check_folder_writable(Path(out))  # before the passphrase is asked, a key made
    written: list[str] = []

    def deliver(r: CsrResult) -> None:
        dest = STDOUT if to_stdout else Path(out) / f"{r.identity}.csr"
        written.append(write_output(dest, r.pem, follow_symlink=follow_symlink))

    store = env.open_store()
    try:
        # each file is written before the store commits: a failed write keeps no key
        results = make_csrs(store, dep, names, deliver)
    except BaseException:
        if not to_stdout:
            for path in written:
                Path(path).unlink(missing_ok=True)
        raise
    finally:
        store.close()
    for r, path in zip(results, written, strict=True):
        kept = f"; {r.pending_before} older pending key(s) kept" if r.pending_before else ""
        click.echo(
            f"wrote {path} for {r.identity} (key {r.spki[:16]} sealed, pending{kept})",
            err=to_stdout,
        )
    return 0


def _check_folder_writable(folder: Path) -> None:
    """Refuse an output folder that cannot be made or written to (nothing done yet)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    why = ""
    if not existing.is_dir():
        why = f"{existing} is not a folder"
    elif not os.access(existing, os.W_OK | os.X_OK):
        why = f"{existing} is not writable"
    if why:
        raise InputError(
            f"{folder}: cannot write ({why}); nothing was written",
            "choose an --out folder that exists or can be made, and that you can write to",
        )


@click.command(
    "import",
    epilog="""\b
EXAMPLES
  ccapki import returned/                       a folder the CA sent back
  ccapki import cas-clinic.cer intermediate.p7b
  ccapki import cert.pem --key saved.key        the key saved when the CSR was made
  ccapki import bundle.pfx --password ...

\b
EXIT CODES
  0 imported (or already held: nothing to do)   2 refused or unreadable: nothing was imported
""",
)
@click.argument("files", nargs=-1, required=True)
@click.option("--key", "key_files", multiple=True, help="A private key file to match.")
@click.option("--password", help="Password of PKCS#12 files and encrypted keys.")
@click.option("--identity", help="The identity these certificates are for.")
@click.option("--force", is_flag=True, help="Import even if it does not fit the plan.")
@pass_env
def import_cmd(
    env: Env,
    files: tuple[str, ...],
    key_files: tuple[str, ...],
    password: str | None,
    identity: str | None,
    force: bool,
) -> int:
    """Import certificates (PEM, DER, PKCS#7, PKCS#12) and keys; match them; all or nothing."""
    env.refuse_what_if("import")
    from ccapki.cli.common import load_deployment_arg
    from ccapki.lifecycle.certfiles import import_materials
    from ccapki.pki.formats import parse_files

    pw = password.encode() if password else None
    materials = parse_files([*files, *key_files], pw)
    dep, _ = load_deployment_arg(env, None)
    store = env.open_store()
    try:
        result = import_materials(store, dep, materials, env.now(), force=force, identity=identity)
        versions = {n: store.current_identity(n) for n in {i.identity for i in result.identities}}
    finally:
        store.close()
    for imp in result.identities:
        v = versions[imp.identity]
        assert v is not None
        click.echo(
            f"imported {imp.identity} v{v.version}: {imp.certificate.subject.rfc4514_string()} "
            f"(key from {imp.key_from}, chain {len(imp.chain)}, expires "
            f"{imp.certificate.not_valid_after_utc:%Y-%m-%d})"
        )
        for w in imp.warnings:
            click.echo(f"  warning: {w}")
    for ca in result.cas:
        click.echo(f"kept CA {ca}")
    if result.keys_kept:
        click.echo(f"kept {result.keys_kept} key(s) with no certificate yet (pending)")
    for held in result.held:
        click.echo(f"already held: {held.describe()}")
    for name in result.held_cas:
        click.echo(f"already held: CA {name}")
    for fp in result.held_keys:
        click.echo(f"already held: key {fp[:16]}")
    for note in result.notes:
        click.echo(f"note: {note}")
    return 0


_FORMATS = ["pem-bundle", "cert", "chain", "fullchain", "key", "der", "pkcs12"]


@click.command(
    epilog="""\b
EXAMPLES
  ccapki export cas-dorm --format pem-bundle --out cas-dorm.pem   the FAQ's upload file
  ccapki export cas-dorm --format pkcs12 --out cas-dorm.p12 --password ...
  ccapki export cas-dorm --for-peer --out cas-dorm-peer.p12      HA: primary -> secondary
  ccapki export cam --format cert --out cam.crt

Files holding a private key are written 0600, atomically, and logged in the audit log.
"""
)
@click.argument("identity")
@click.option(
    "--format", "fmt", type=click.Choice(_FORMATS), default="pem-bundle", show_default=True
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="The file to write (a regular file only); - writes to standard output.",
)
@click.option(
    "--force-stdout", is_flag=True, help="Allow --out - for a format holding the private key."
)
@click.option("--follow-symlink", is_flag=True, help="Write through --out if it is a symlink.")
@click.option("--include-root/--no-root", default=False, help="Put the root in the chain.")
@click.option(
    "--key-format", type=click.Choice(["pkcs8", "pkcs1"]), default="pkcs8", show_default=True
)
@click.option("--encrypt-key", is_flag=True, help="Encrypt the PEM key (asks for a password).")
@click.option("--password", help="Password for PKCS#12 or an encrypted key.")
@click.option("--legacy", is_flag=True, help="PKCS#12 with 3DES/SHA-1 for old Java and Windows.")
@click.option("--for-peer", is_flag=True, help="PKCS#12 to move an HA identity to the secondary.")
@pass_env
def export(
    env: Env,
    identity: str,
    fmt: str,
    out: str,
    include_root: bool,
    key_format: str,
    encrypt_key: bool,
    password: str | None,
    legacy: bool,
    for_peer: bool,
    force_stdout: bool,
    follow_symlink: bool,
) -> int:
    """Write an identity as the files appliances and admins need."""
    env.refuse_what_if("export")
    from ccapki.cli.common import load_deployment_arg
    from ccapki.fsutil import STDOUT, refuse_key_on_stdout, write_output
    from ccapki.lifecycle.certfiles import identity_material
    from ccapki.pki import export as ex

    if for_peer:
        fmt = "pkcs12"
    dep, _ = load_deployment_arg(env, None)
    spec = dep.identity(identity)
    if for_peer and not spec.ha:
        raise InputError(
            f"{spec.name} is a standalone appliance, not an HA pair",
            "--for-peer is for moving an HA pair's identity to its secondary",
        )
    with_key = fmt in ("pem-bundle", "key", "pkcs12")
    to_stdout = out == STDOUT
    if to_stdout:
        refuse_key_on_stdout(private=with_key, force_stdout=force_stdout)
    pw: bytes | None = None
    if fmt == "pkcs12":
        pw = _password(password, "PKCS#12 password", confirm=True)
        if not pw:
            raise InputError(
                "a PKCS#12 file needs a password",
                "give --password, set CCAPKI_EXPORT_PASSWORD, or run in a terminal to be asked",
            )
    elif with_key and encrypt_key:
        pw = _password(password, "Key password", confirm=True)
        if not pw:
            raise InputError(
                "--encrypt-key needs a password (the key would be written unencrypted)",
                "give --password, set CCAPKI_EXPORT_PASSWORD, or run in a terminal to be asked",
            )
    store = env.open_store()
    try:
        ident = store.current_identity(spec.name)
        key: Any = None
        if with_key:
            ident, key = identity_material(store, spec.name)
        elif ident is None:
            identity_material(store, spec.name)  # raises the right error
        assert ident is not None
        chain = list(ident.chain)
        if fmt == "pem-bundle":
            data = ex.pem_bundle(
                ident.certificate,
                chain,
                key,
                include_root=include_root,
                key_format=key_format,  # type: ignore[arg-type]
                key_password=pw,
            )
        elif fmt == "key":
            data = ex.key_pem(key, key_format=key_format, password=pw)  # type: ignore[arg-type]
        elif fmt == "pkcs12":
            assert pw is not None
            data = ex.pkcs12(spec.name, ident.certificate, key, chain, pw, legacy=legacy)
        elif fmt == "cert":
            data = ex.cert_pem(ident.certificate)
        elif fmt == "chain":
            data = ex.chain_pem(chain, include_root=include_root)
        elif fmt == "fullchain":
            data = ex.fullchain_pem(ident.certificate, chain, include_root=include_root)
        else:
            data = ex.cert_der(ident.certificate)
        path = write_output(
            out,
            data,
            private=with_key,
            follow_symlink=follow_symlink,
            force_stdout=force_stdout,
        )
        if with_key:
            store.audit(
                "key-export",
                spec.name,
                format=fmt,
                path=path if to_stdout else str(Path(path).resolve()),
                version=ident.version,
                encrypted=bool(pw),
                for_peer=for_peer,
            )
    finally:
        store.close()
    mode = " (0600, holds the private key)" if with_key else ""
    click.echo(
        f"wrote {path}{mode}: {spec.name} v{ident.version} as {fmt}, expires "
        f"{ident.not_after:%Y-%m-%d}",
        err=to_stdout,
    )
    if for_peer and spec.secondary is not None:
        click.echo(
            f"install it on {spec.secondary.name} (the secondary) exactly as on "
            f"{spec.primary.name}: one identity for the pair; then run "
            f"`ccapki check-ha {spec.name}` with the files from both peers",
            err=to_stdout,
        )
    return 0


@click.command(
    "check-ha",
    epilog="""\b
EXAMPLES
  ccapki check-ha cas-dorm                                    from the store
  ccapki check-ha cas-dorm --primary a.p12 --secondary b.p12 --password ...

\b
EXIT CODES
  0 fit for HA   1 findings   2 bad input
""",
)
@click.argument("pair")
@click.option("--primary", type=click.Path(dir_okay=False), help="Bundle taken off the primary.")
@click.option("--secondary", type=click.Path(dir_okay=False), help="Bundle off the secondary.")
@click.option("--password", help="Password of PKCS#12 files.")
@click.option("--json", "as_json", is_flag=True)
@pass_env
def check_ha(
    env: Env,
    pair: str,
    primary: str | None,
    secondary: str | None,
    password: str | None,
    as_json: bool,
) -> int:
    """Confirm both HA peers hold the same certificate and key, fit for the heartbeat."""
    from ccapki.cli.common import load_deployment_arg
    from ccapki.lifecycle.certfiles import check_ha_pair, identity_material

    dep, _ = load_deployment_arg(env, None)
    spec = dep.identity(pair)
    if not spec.ha:
        raise InputError(f"{spec.name} is not an HA pair", "name an HA pair from `ccapki plan`")
    if (primary is None) != (secondary is None):
        raise InputError("give both --primary and --secondary, or neither", "see --help")
    if primary and secondary:
        sides = [_bundle(primary, password), _bundle(secondary, password)]
    else:
        store = env.open_store()
        try:
            ident, key = identity_material(store, spec.name)
        finally:
            store.close()
        sides = [(ident.certificate, key), (ident.certificate, key)]
    checks = check_ha_pair(spec, sides[0], sides[1], env.now())
    ok = all(c.ok for c in checks)
    if as_json:
        from ccapki.cli.output import print_json

        print_json(
            {
                "pair": spec.name,
                "ok": ok,
                "source": "files" if primary else "store",
                "checks": [{**c.__dict__, "peers": list(c.peers)} for c in checks],
            }
        )
    else:
        for c in checks:
            mark = click.style("pass", fg="green") if c.ok else click.style("FAIL", fg="red")
            click.echo(f"{mark}  {c.item}: {c.detail}")
        click.echo(
            f"{spec.name}: fit for HA"
            if ok
            else f"{spec.name}: HA broken: the IPsec heartbeat will not come up and both peers "
            "would go active"
        )
        if not primary:
            click.echo(
                "checked the store's identity for both peers; to check what each peer really "
                f"holds, give the bundles taken off them: `ccapki check-ha {spec.name} "
                "--primary FILE --secondary FILE`"
            )
    return 0 if ok else 1


def _bundle(path: str, password: str | None) -> tuple[Any, Any]:
    from ccapki.fsutil import read_input_file
    from ccapki.pki.chain import sort_chain
    from ccapki.pki.formats import parse_material, require_certificates

    m = parse_material(
        read_input_file(path), source=path, password=password.encode() if password else None
    )
    sc = sort_chain(require_certificates(m))
    return sc.leaf, (m.keys[0] if m.keys else None)


@click.command(
    "export-roots",
    epilog="""\b
EXAMPLES
  ccapki export-roots --out roots/     PEM, .cer (Windows/GPO), .p7b, .mobileconfig, INSTALL.txt
""",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="The folder to write; - prints the roots (PEM) on standard output.",
)
@click.option("--follow-symlink", is_flag=True, help="Write through files that are symlinks.")
@click.option("--json", "as_json", is_flag=True)
@pass_env
def export_roots(env: Env, out: str, follow_symlink: bool, as_json: bool) -> int:
    """The roots clients must install so agents and browsers stop warning."""
    env.refuse_what_if("export-roots")
    from ccapki.fsutil import STDOUT, write_output
    from ccapki.lifecycle.certfiles import client_roots
    from ccapki.pki import roots as r
    from ccapki.pki.certs import display_name

    store = env.open_store()
    try:
        found = client_roots(store)
    finally:
        store.close()
    need = [c for c in found if not c.public]
    folder = Path(out)
    written: list[str] = []
    to_stdout = out == STDOUT
    if to_stdout and as_json:
        raise InputError(
            "--json and --out - would both write to standard output",
            "give --out a folder, or leave out --json",
        )

    def write_file(path: Path, data: bytes) -> str:
        return write_output(path, data, follow_symlink=follow_symlink)

    if need and to_stdout:
        written.append(write_output(STDOUT, r.roots_pem([c.certificate for c in need])))
    elif need:
        certs = [c.certificate for c in need]
        written.append(str(write_file(folder / "ccapki-roots.pem", r.roots_pem(certs))))
        written.append(str(write_file(folder / "ccapki-roots.p7b", r.roots_p7b(certs))))
        for i, c in enumerate(need):
            written.append(
                str(write_file(folder / f"ccapki-root-{i + 1}.cer", r.roots_der_cer(c.certificate)))
            )
        written.append(
            str(
                write_file(
                    folder / "ccapki-roots.mobileconfig",
                    r.mobileconfig(
                        certs,
                        identifier="edu.ccapki.roots",
                        organization="ccapki",
                        display_name="Clean Access roots",
                    ),
                )
            )
        )
        text = "\n\n".join(
            r.install_instructions(
                p,
                name="ccapki-root",
                cer="ccapki-root-1.cer",
                pem="ccapki-roots.pem",
                p7b="ccapki-roots.p7b",
                profile="ccapki-roots.mobileconfig",
            )
            for p in ("windows", "macos", "linux")
        )
        if len(need) > 1:
            text += (
                f"\n\n{len(need)} roots: repeat the .cer steps for ccapki-root-1.cer to "
                f"ccapki-root-{len(need)}.cer, or use ccapki-roots.p7b / the .mobileconfig, "
                "which hold them all.\n"
            )
        written.append(str(write_file(folder / "INSTALL.txt", text.encode())))
    if as_json:
        from ccapki.cli.output import print_json

        print_json(
            {
                "roots": [
                    {
                        "subject": c.certificate.subject.rfc4514_string(),
                        "identities": list(c.identities),
                        "public": c.public,
                        "self_signed_leaf": c.self_signed_leaf,
                    }
                    for c in found
                ],
                "files": written,
            }
        )
        return 0
    for c in found:
        who = ", ".join(c.identities)
        if c.public:
            click.echo(
                f"no client action: {who} chain to public root {display_name(c.certificate)}",
                err=to_stdout,
            )
        elif c.self_signed_leaf:
            click.echo(
                f"install on clients: {who}'s own certificate (true self-signed)", err=to_stdout
            )
        else:
            click.echo(
                f"install on clients: {display_name(c.certificate)} (for {who})", err=to_stdout
            )
    for w in written:
        click.echo(f"wrote {w}", err=to_stdout)
    return 0


@click.group(
    epilog="""\b
EXAMPLES
  ccapki keys list                  every key the store holds (never the key itself)
  ccapki keys retire 3f9a2c...      give up a pending key explicitly
"""
)
def keys() -> None:
    """Private keys in the store: list them, retire a pending one."""


@keys.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_env
def keys_list(env: Env, as_json: bool) -> int:
    """List keys: fingerprint, type, identity, state, when made."""
    store = env.open_store()
    try:
        rows = store.key_records()
    finally:
        store.close()
    if as_json:
        from ccapki.cli.output import print_json

        print_json(rows)
        return 0
    click.echo(f"{'fingerprint':<16}  {'state':<8} {'type':<11} {'identity':<16} created")
    for k in rows:
        click.echo(
            f"{k['fingerprint'][:16]}  {k['state']:<8} {k['key_type']:<11} "
            f"{k['identity'] or '-':<16} {k['created_at']:%Y-%m-%d %H:%M}"
        )
    return 0


@keys.command("retire")
@click.argument("fingerprint")
@pass_env
def keys_retire(env: Env, fingerprint: str) -> int:
    """Retire a pending key (kept sealed, never matched to new CSRs; still exportable)."""
    env.refuse_what_if("keys retire")
    store = env.open_store()
    try:
        fp = fingerprint.lower().replace(":", "").strip()
        if not fp:
            raise InputError("no fingerprint given", "give a fingerprint from `ccapki keys list`")
        matches = [k for k in store.key_records() if k["fingerprint"].startswith(fp)]
        if not matches:
            raise InputError(
                f"no key starts with {fp!r}", "give a fingerprint shown by `ccapki keys list`"
            )
        if len(matches) > 1:
            raise InputError(
                f"{len(matches)} keys start with {fp!r}",
                "give more of the fingerprint shown by `ccapki keys list`",
            )
        key = matches[0]
        short, owner = key["fingerprint"][:16], key["identity"] or "-"
        if key["state"] == "retired":
            click.echo(f"key {short} ({owner}) is already retired: nothing to do")
            return 0
        if key["state"] != "pending":
            what = {
                "active": f"active (the key of a certificate of {owner})",
                "ca": "a CA's signing key",
            }.get(key["state"], key["state"])
            raise InputError(
                f"key {short} is {what}; only a pending key can be retired",
                "retire a pending key (state `pending` in `ccapki keys list`); an active key "
                "is replaced by renewing its identity (`ccapki apply`, or `ccapki csr` and "
                "`ccapki import` for a third-party one)",
            )
        store.set_key_state(key["fingerprint"], "retired")
        store.audit("key-retire", owner, fingerprint=key["fingerprint"])
    finally:
        store.close()
    click.echo(f"retired key {short} ({owner})")
    return 0
