"""Certificate files: ``csr``, ``import``, ``export``, ``export-roots``, ``check-ha``, ``keys``."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from ccapki.cli.app import Env, pass_env
from ccapki.errors import InputError

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Mapping, Sequence

    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

    from ccapki.lifecycle.certfiles import ClientRoot, CsrResult
    from ccapki.lifecycle.csrdelivery import Undelivered
    from ccapki.lifecycle.exports import ExportFormat
    from ccapki.pki.export import KeyFormat
    from ccapki.store.records import StoredIdentity
    from ccapki.store.session import Store
    from ccapki.topology.model import Deployment, IdentitySpec
    from ccapki.trust import HaCheck

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


def _refuse_idle_options(
    fmt: str,
    *,
    legacy: bool,
    encrypt_key: bool,
    password: str | None,
    key_format: str = "pkcs8",
    include_root: bool = False,
) -> None:
    """Refuse an ``export`` option the format does not use (it would be ignored without a
    word: above all ``--password`` with ``--format key``, which still wrote the key
    unencrypted). Raises :class:`InputError`; nothing is written."""
    key_pem = fmt in ("pem-bundle", "key")
    idle = ""
    if key_format != "pkcs8" and not key_pem:
        idle, uses = f"--key-format {key_format}", "a PEM key (--format pem-bundle or key)"
    elif include_root and fmt not in ("pem-bundle", "chain", "fullchain", "pkcs12"):
        idle = "--include-root"
        uses = "a file holding the chain (--format pem-bundle, chain, fullchain or pkcs12)"
    elif legacy and fmt != "pkcs12":
        idle, uses = "--legacy", "a PKCS#12 file (--format pkcs12, or --for-peer)"
    elif encrypt_key and not key_pem and fmt != "pkcs12":  # a PKCS#12 is encrypted anyway
        idle, uses = "--encrypt-key", "a PEM key (--format pem-bundle or key)"
    elif password is not None and not key_pem and fmt != "pkcs12":
        idle, uses = "--password", "a PKCS#12 file or an encrypted PEM key"
    if idle:
        raise InputError(
            f"{idle} has no effect on --format {fmt} (it is for {uses}); nothing was written",
            f"leave out {idle}, or choose the format it is for",
        )
    if password is not None and key_pem and not encrypt_key:
        raise InputError(
            f"--password was given, but --format {fmt} writes the key unencrypted without "
            "--encrypt-key; nothing was written",
            "add --encrypt-key to encrypt the key with this password, or leave out --password "
            "(the key is then written unencrypted, 0600)",
        )


@click.command(
    epilog="""\b
EXAMPLES
  ccapki csr cas-clinic                 key kept sealed (pending), CSR in ./cas-clinic.csr
  ccapki csr --all --out csrs/          every third-party identity (csrs/ is made if missing)
  ccapki csr cas-clinic --out -         print the CSR on standard output
  ccapki csr cas-clinic --out req.csr   one CSR, in the file named (a name ending .csr)
  ccapki csr cas-clinic --file campus.toml   refused unless campus.toml is applied

A CSR is made from the deployment file the store last applied. An edited file must be
applied first (`ccapki apply FILE`, then `ccapki csr NAME`): --file FILE, or the file last
applied changed on disk since, giving the identity other names, key type, subject or
source, is refused (the CSR would ask the CA for the old ones).

Older pending keys are never destroyed by a new CSR: a certificate answering an older
request still finds its key. Retire one explicitly with `ccapki keys retire FINGERPRINT`.
A CSR file takes its name once the store keeps its key; a run stopped in between (kill -9)
leaves a CSR the store keeps (`ccapki status` says so), which the next `ccapki csr NAME`
writes: the same CSR and key, no new one.

\b
EXIT CODES
  0 CSRs written   2 bad input or unwritable --out: no key kept, nothing written
"""
)
@click.argument("identities", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every third-party identity of the plan.")
@click.option(
    "--out",
    metavar="DIR",
    default=".",
    show_default=True,
    help="Folder for the .csr files (made if missing); a name ending .csr: the file of one "
    "CSR; - prints them on standard output.",
)
@click.option("--follow-symlink", is_flag=True, help="Write through a .csr that is a symlink.")
@click.option(
    "--file",
    "deployment_file",  # not "file": that names a command taking a FILE argument
    metavar="FILE",
    type=click.Path(),
    help="The deployment file meant: refused unless the store applied it (as it is now) "
    "for the identities named.",
)
@pass_env
def csr(
    env: Env,
    identities: tuple[str, ...],
    all_: bool,
    out: str,
    follow_symlink: bool,
    deployment_file: str | None = None,
) -> int:
    """Make a key (kept encrypted, pending) and a PKCS#10 CSR with the plan's names."""
    env.refuse_what_if("csr")
    file = deployment_file
    from ccapki.cli.common import load_deployment_arg
    from ccapki.fsutil import STDOUT, check_output_folder
    from ccapki.lifecycle.csrdelivery import CsrHandover
    from ccapki.lifecycle.importing import source_warning
    from ccapki.topology.model import Source

    if file is not None:  # the deployment it names is the one acted on
        from ccapki.topology.fastload import load_deployment

        env.act_on(load_deployment(file).name, source=file)
    dep, _ = load_deployment_arg(env, None)
    names = list(identities)
    if all_:
        names += [i.name for i in dep.identities if i.source is Source.THIRD_PARTY]
    if not names and all_:
        raise InputError(
            f"--all: deployment {dep.name} has no third-party identity (every identity is "
            "issued by ccapki), so there is no CSR to make",
            'set source = "third-party" (in [deployment] or on an appliance) for what an '
            "outside CA signs and `ccapki apply` the file, or name an identity: "
            "`ccapki csr NAME`",
        )
    if not names:
        raise InputError(
            "no identity given",
            "name identities (`ccapki csr cas-clinic`), or pass --all for every third-party "
            "identity",
        )
    names = [dep.identity(n).name for n in dict.fromkeys(names)]
    _refuse_unapplied(env, dep, file, names)
    to_stdout = out == STDOUT
    # `--out cas-clinic.csr` names the file of one CSR (not a folder of that name)
    one_file = not to_stdout and out.lower().endswith(".csr") and not Path(out).is_dir()
    if one_file and len(names) != 1:
        raise InputError(
            f"--out {out} names one file, but {len(names)} CSRs are to be written; "
            "nothing was written",
            "give a folder for several CSRs (`--out csrs/`), or name one identity",
        )
    if not to_stdout:  # before the passphrase is asked, a key made
        check_output_folder(Path(out).parent if one_file else out, target=out)

    with env.open_store() as store:
        # each file is staged before the store commits its key and takes its name after:
        # a run killed in between leaves no CSR whose key is lost; one killed after the
        # commit leaves a CSR the store keeps, which the next run writes (no new key)
        handover = CsrHandover(
            store, dep.name, out, one_file=one_file, follow_symlink=follow_symlink, command="csr"
        )
        again = _unwritten_csrs(store, dep, names)
        make = [n for n in names if n not in again]

        def deliver(r: CsrResult) -> None:
            handover.stage(r.identity, r.spki, r.pem)

        try:
            # the lifecycle's make_csrs: its deliver runs inside the transaction (the
            # API's runs after the commit)
            from ccapki.lifecycle.certfiles import make_csrs

            with store.scoped(dep.name):
                results = make_csrs(store, dep, make, deliver) if make else []
        except BaseException:
            handover.discard()
            raise
        env.work_done()  # committed: a late Ctrl-C no longer makes this an error
        handed = handover.place(tuple(again.values()))
    from ccapki.cli.output import plural

    for r, h in zip(results, handed, strict=False):
        kept = f"; {plural(r.pending_before, 'older pending key')} kept" if r.pending_before else ""
        click.echo(
            f"wrote {h.path} for {r.identity} (key {r.spki[:16]} sealed, pending{kept})",
            err=to_stdout,
        )
    for h in handed[len(results) :]:
        assert h.again is not None
        made = h.again.record.created_at
        click.echo(
            f"wrote {h.path} for {h.identity}: the CSR a `ccapki {h.again.by}` made on "
            f"{made:%Y-%m-%d %H:%M} UTC and kept (key {h.spki[:16]} sealed, pending), whose run "
            "was stopped before it wrote it; the same CSR and key, no new one",
            err=to_stdout,
        )
    if handed:  # what the administrator does with the files (28 at once at scale)
        what = "the CSR" if len(handed) == 1 else f"the {len(handed)} CSRs"
        click.echo(
            f"next: send {what} to the CA, then `ccapki import FILE` what it returns (the "
            "certificate with its chain, or a folder of them: matched by key)",
            err=to_stdout,
        )
    for name in names:
        spec = dep.identity(name)
        if spec.source is not Source.THIRD_PARTY:
            click.echo(f"warning: {source_warning(name, spec.source)}", err=True)
    from ccapki.topology.plan import csr_private_ips_warning

    private = csr_private_ips_warning([dep.identity(n) for n in names])
    if private:
        click.echo(f"warning: {private}", err=True)
    return 0


def _unwritten_csrs(store: Store, dep: Deployment, names: list[str]) -> dict[str, Undelivered]:
    """The CSRs of the identities ``names`` that a run (``csr``, ``renew --commit``) made
    and the store kept, but that run was stopped before it wrote their files, by identity:
    written again instead of made again (a second pending key for one request). One made
    for what the file no longer gives its identity (other names, key type) is left out (a
    new one is made). Reads only; raises what the store raises."""
    from ccapki.lifecycle.csrdelivery import undelivered_for

    with store.scoped(dep.name):
        return undelivered_for(store, dep, names)


def _refuse_unapplied(env: Env, applied: Deployment, file: str | None, names: list[str]) -> None:
    """Refuse a CSR made from the file last applied (``applied``) when the file the
    administrator means differs for an identity named: ``file`` (``--file``), else the
    file last applied as it is on disk now (edited since). Raises :class:`InputError`."""
    from ccapki.cli.unapplied import csr_differs, unapplied_words
    from ccapki.errors import CcapkiError
    from ccapki.topology.fastload import load_deployment

    if file is not None:
        given = load_deployment(file)  # a broken file: its own error (FILE:LINE)
        if given.name != applied.name:
            raise InputError(
                f"{file} is deployment {given.name}, the CSR is made from {applied.name}'s "
                "file last applied; nothing was written",
                f"name the deployment (`ccapki --deployment {given.name} csr ...`), or apply "
                f"{file} first (`ccapki apply {file}`)",
            )
        shown = file
    else:
        with env.open_store() as store:
            kept = store.deployments.latest()
        path = Path(kept.path) if kept is not None and kept.path else None
        if path is None or not path.is_file():
            return
        try:
            if path.read_text(encoding="utf-8") == kept.text:  # type: ignore[union-attr]
                return
            given = load_deployment(str(path))
        except (OSError, UnicodeDecodeError, CcapkiError):  # not ours to judge here
            return
        if given.name != applied.name:
            return
        shown = str(path)
    for name in names:
        why = csr_differs(applied, given, name)
        if why:
            raise InputError(*unapplied_words(shown, name, why, edited=file is None))


@click.command(
    "import",
    epilog="""\b
EXAMPLES
  ccapki import returned/                       a folder the CA sent back
  ccapki import cas-clinic.cer intermediate.p7b
  ccapki import cert.pem --key saved.key        the key saved when the CSR was made
  ccapki import bundle.pfx --password ...
  ccapki import --file campus.toml cas1.p12 --password ...   adopt an appliance's
                                                certificate before the first apply

Adopting an estate: `ccapki import --file FILE` (before `ccapki apply FILE`) takes the
certificates the appliances hold now (an appliance's own self-signed one: its PKCS#12 with
the key) and keeps FILE as applied; `ccapki apply FILE` then keeps each that fits the plan
and issues only the rest. A certificate whose key type is not the file's (an appliance's own
RSA one, when FILE sets no key: ecdsa-p256 is the default) is replaced by that apply: the
import warns, naming the key = "..." setting that keeps it.

A folder's files that hold no certificate or key (a README.txt) are skipped with a
warning; a damaged certificate file refuses the whole import.
A file holding certificates and a CA on none's chain (another CA's intermediate sent
along) keeps the certificates and ignores that CA ("ignored: X (in no certificate's
chain)"); a file of CA certificates alone keeps them. The CA's answer to a stale CSR (made
before the deployment file changed the identity's names or key type) is refused: make a
new CSR (`ccapki apply FILE`, then `ccapki csr NAME`), or --force takes it anyway. So is
the answer to a CSR whose key was retired (`ccapki keys retire`): --force takes it and makes
the key active again.

\b
EXIT CODES
  0 imported (or already held: nothing to do)   2 refused or unreadable: nothing was imported
""",
)
@click.argument("files", nargs=-1, required=True)
@click.option(
    "--key", "key_files", multiple=True, metavar="KEYFILE", help="A private key file to match."
)
@click.option("--password", help="Password of PKCS#12 files and encrypted keys.")
@click.option("--identity", help="The identity these certificates are for.")
@click.option("--force", is_flag=True, help="Import even if it does not fit the plan.")
@click.option(
    "--file",
    "dep_file",
    metavar="FILE",
    help="The deployment file, not applied yet: adopt certificates already in service.",
)
@pass_env
def import_cmd(
    env: Env,
    files: tuple[str, ...],
    key_files: tuple[str, ...],
    password: str | None,
    identity: str | None,
    force: bool,
    dep_file: str | None = None,
) -> int:
    """Import certificates (PEM, DER, PKCS#7, PKCS#12) and keys; match them; all or nothing."""
    env.refuse_what_if("import")
    from ccapki import api
    from ccapki.cli.common import load_deployment_arg

    skipped: list[tuple[str, str]] = []  # files in a folder holding no certificate or key
    if "" in files or "" in key_files:  # `ccapki import "$CERT"` with CERT unset
        option = "a file name" if "" in files else "--key"
        raise InputError(
            f"{option} is empty: nothing was imported",
            "name the certificate and key files (or folders) to import",
        )
    materials = api.read_files(files, password, skipped=skipped)
    if key_files:  # --key names a key: a CSR, a CRL or a certificate there is the wrong file
        from ccapki.pki.formats import require_keys

        keys = api.read_files(key_files, password, skipped=skipped)
        for material in keys:
            require_keys(material)
        materials += keys
    for path, reason in skipped:
        click.echo(f"warning: skipped {path}: {reason}", err=True)
    dep, dep_path = load_deployment_arg(env, dep_file)
    with env.open_store() as store:
        kept = store.deployments.latest() if dep_file is not None else None
        if kept is not None and kept.text != dep.source_text:
            raise InputError(
                f"--file {dep_file}: deployment {dep.name!r} is applied already, from another "
                "text (`ccapki import` works from the file it last applied); nothing was "
                "imported",
                "leave out --file; to import against an edit of the file, `ccapki apply "
                "FILE` first",
            )
        store.unlock()  # a wrong passphrase fails here, before anything is written
        with store.transaction():  # the import and the file adopted: together or neither
            result = api.import_materials(
                store, dep, materials, env.now(), force=force, identity=identity
            )
            if dep_file is not None:  # as `apply` records it; the next `apply` keeps these
                from ccapki.lifecycle.status import settings_json

                store.deployments.record(dep.name, dep.source_text, dep_path, settings_json(dep))
        versions = {n: store.identities.get(n) for n in {i.identity for i in result.identities}}
        chained = _chained(store, dep, result.ca_certificates)
        # a certificate from another root: the appliances must trust it before it is installed
        from ccapki.pki.certs import fingerprint

        mine = {fingerprint(c) for i in result.identities for c in (i.certificate, *i.chain)}
        # a CA kept for an identity already held (imported before without its chain)
        mine |= {fingerprint(c) for c, n in zip(result.ca_certificates, chained, strict=True) if n}
        adds = [c for c in (api.plan_trust(store, dep) if mine else []) if c.fingerprint in mine]
        new_dns = _new_cas_dns(store, dep, [i.identity for i in result.identities])
    from ccapki.topology.plan import key_type_warnings

    # a key type the file does not give (an appliance's own RSA certificate, adopted, when
    # the file sets no key): the plan replaces it; said per identity, or counted at scale
    the_spec = {s.name: s for s in dep.identities}
    odd_keys = key_type_warnings(
        [(the_spec[i.identity], i.certificate) for i in result.identities if i.identity in the_spec]
    )
    per_identity = {name: w for name, w in odd_keys if name is not None}
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
        if imp.identity in per_identity:
            click.echo(f"  warning: {per_identity[imp.identity]}")
    for name, w in odd_keys:  # counted, not one line per identity
        if name is None:
            click.echo(f"warning: {w}")
    for ca, names in zip(result.cas, chained, strict=True):
        if names:
            click.echo(f"kept CA {ca} (in the chain of {', '.join(names)})")
        else:
            click.echo(
                f"kept CA {ca}: in the chain of no certificate of {dep.name} yet (kept to "
                "complete the chain of one to come; no appliance trusts it for that: "
                "`ccapki trust add APPLIANCE FILE` does)"
            )
    if result.keys_kept:
        from ccapki.cli.output import plural

        click.echo(f"kept {plural(result.keys_kept, 'key')} with no certificate yet (pending)")
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    for held in result.held:
        click.echo(f"already held: {held.describe()}")
    for name in result.held_cas:
        click.echo(f"already held: CA {name}")
    for fp in result.held_keys:
        click.echo(f"already held: key {fp[:16]}")
    for what in result.ignored:  # an unrelated CA sent along with a certificate
        click.echo(f"ignored: {what}")
    for note in result.notes:
        click.echo(f"note: {note}")
    if adds:
        from ccapki.cli.output import plural

        click.echo(
            f"next: the trust stores lack what the imported certificate needs "
            f"({plural(len(adds), 'addition')}, `ccapki trust plan` lists them): add them on "
            "the appliances before installing it, then `ccapki trust apply`"
        )
        click.echo(
            "next: the clients that connect to it (web login, agent, admin GUI) need its root "
            "too, unless they already trust that CA: `ccapki export-roots --out DIR` writes "
            "it for them (`ccapki trust check --clients FILE` checks a bundle they hold)"
        )
    for line in new_dns:  # before the CAS presents it, as `apply` says it
        click.echo(f"next: {line}")
    specs = {s.name: s for s in dep.identities}
    from ccapki.pki.certs import is_self_signed

    for imp in result.identities:  # what `apply` and `renew --commit` end with too
        spec = specs.get(imp.identity)
        name = imp.identity
        if is_self_signed(imp.certificate) and spec is not None and not spec.acme:
            # adopting an estate: an appliance's own certificate, taken from where it is
            # served; only an HA peer holding another one needs it installed
            peers = (
                f"; the other peer of the HA pair {name} needs this one too, if it holds "
                f"another (`ccapki export {name} --for-peer --out {name}-peer.p12` writes "
                f"it; `ccapki check-ha {name}` compares both)"
                if spec.ha
                else ""
            )
            click.echo(
                f"next: {name}'s own self-signed certificate, adopted: the appliance it came "
                f"from presents it already, nothing to install there{peers}; `ccapki probe "
                f"{name}` (or `ccapki verify --live`) shows what is served"
            )
            continue
        where = (
            f"both peers of the HA pair {name} ({' and '.join(m.name for m in spec.members)}) "
            "at once"
            if spec is not None and spec.ha
            else name
        )
        click.echo(
            f"next: install it on {where}{', after those trust-store additions' if adds else ''}"
            f": `ccapki export {name} --format pem-bundle --out {name}.pem` writes it with its "
            "intermediates and key; then `ccapki verify --live` proves what is served"
        )
    return 0


def _new_cas_dns(store: Store, dep: Deployment, names: Sequence[str]) -> list[str]:
    """CCA 4.9+ (CAM-CAS DN authorization): for each CAS identity among ``names`` whose
    current certificate (just imported) has another subject DN than the version before it
    (a CA that orders the subject its own way, a new CAS), the step that allows it on the
    CAM before the CAS presents it, or the CAM-CAS link goes down; as ``apply`` says it
    for certificates it issues. Empty before 4.9. Raises nothing of its own."""
    from ccapki.cli.trust import dn_pair_note
    from ccapki.topology.model import Role

    if not dep.profile.dn_authorization:
        return []
    specs = {s.name: s for s in dep.identities}
    out: list[str] = []
    for name in dict.fromkeys(names):
        spec = specs.get(name)
        if spec is None or spec.role is not Role.CAS:
            continue
        versions = store.identities.history(name)
        if not versions:
            continue
        new = versions[-1].certificate.subject
        old = versions[-2].certificate.subject if len(versions) > 1 else None
        if old == new:
            continue
        after = (
            f"; {old.rfc4514_string()} is no longer needed once it does" if old is not None else ""
        )
        pair = f" {dn_pair_note(spec)}" if spec.ha else ""  # one entry for both peers
        out.append(
            f"allow CAS {spec.primary.name} by DN on the CAM ({dep.release} authorization): "
            f"{new.rfc4514_string()}{pair}, before {name} presents its new certificate{after}"
        )
    return out


def _chained(store: Store, dep: Deployment, cas: Sequence[x509.Certificate]) -> list[list[str]]:
    """For each CA certificate, the identities of ``dep`` whose current certificate it
    signed or whose chain holds it, the chain completed from the CAs the store holds (as
    ``trust plan`` completes it: a root above an intermediate counts)."""
    from ccapki.pki.certs import fingerprint
    from ccapki.pki.chain import extend_chain

    idents = [i for i in (store.identities.get(s.name) for s in dep.identities) if i]
    pool = [c.certificate for c in store.cas.list()]
    chains = [
        (i.name, {fingerprint(c) for c in extend_chain((i.certificate, *i.chain), pool)[1:]})
        for i in idents
    ]
    return [[name for name, fps in chains if fingerprint(ca) in fps] for ca in cas]


_FORMATS = ["pem-bundle", "cert", "chain", "fullchain", "key", "der", "pkcs12"]


@click.command(
    epilog="""\b
EXAMPLES
  ccapki export cas-dorm --format pem-bundle --out cas-dorm.pem   the FAQ's upload file
  ccapki export cas-dorm --format pkcs12 --out cas-dorm.p12 --password ...
  ccapki export cas-dorm --for-peer --out cas-dorm-peer.p12      HA: primary -> secondary
  ccapki export cam --format cert --out cam.crt
  ccapki export cas-dorm --format chain --include-root --out chain.pem
  ccapki export cas-dorm --version 1 --out cas-dorm-v1.pem        v1, to undo a renewal

Every format leaves the root out unless --include-root is given: appliances and clients
keep the root in their trust store (`ccapki export-roots`). The FAQ's upload file is the
certificate and its private key in one file (pem-bundle, with the intermediates between
them so the appliance serves the whole chain). Files holding a private key are written 0600,
atomically, and logged in the audit log. --out must be in a folder that exists.

\b
EXIT CODES
  0 written   2 bad input (unknown identity, no certificate yet, refused --out, an option
              the format does not use, such as --password without --encrypt-key):
              nothing written
"""
)
@click.argument("identity")
@click.option(
    "--format", "fmt", type=click.Choice(_FORMATS), default="pem-bundle", show_default=True
)
@click.option(
    "--out",
    required=True,
    metavar="FILE",
    help="The file to write (a regular file, in a folder that exists); - writes to standard "
    "output.",
)
@click.option(
    "--force-stdout", is_flag=True, help="Allow --out - for a format holding the private key."
)
@click.option("--follow-symlink", is_flag=True, help="Write through --out if it is a symlink.")
@click.option(
    "--include-root/--no-root",
    default=False,
    show_default=True,
    help="Put the self-signed root in the file (pem-bundle, chain, fullchain, pkcs12).",
)
@click.option(
    "--key-format",
    type=click.Choice(["pkcs8", "pkcs1"]),
    default="pkcs8",
    show_default=True,
    help="The PEM key's form (pem-bundle, key): PKCS#8, or the traditional PKCS#1 (RSA) / "
    "SEC1 (EC).",
)
@click.option("--encrypt-key", is_flag=True, help="Encrypt the PEM key (asks for a password).")
@click.option(
    "--password", help="Password for PKCS#12, or for the key with --encrypt-key (8+ characters)."
)
@click.option("--legacy", is_flag=True, help="PKCS#12 with 3DES/SHA-1 for old Java and Windows.")
@click.option("--for-peer", is_flag=True, help="PKCS#12 to move an HA identity to the secondary.")
@click.option(
    "--version",
    "version",
    type=click.IntRange(min=1),
    metavar="N",
    help="An earlier version of the identity (its certificate, chain and key, kept after a "
    "renewal or reissue): installing it again undoes one. Default: the current version.",
)
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
    version: int | None,
) -> int:
    """Write an identity as the files appliances and admins need."""
    env.refuse_what_if("export")
    from ccapki.cli.common import load_deployment_arg
    from ccapki.fsutil import STDOUT, check_output_file, refuse_key_on_stdout, write_output
    from ccapki.lifecycle.exports import (
        KEY_FORMATS,
        check_export_password,
        export_identity,
        record_key_export,
        refuse_unaudited_key_export,
    )

    if for_peer:
        given = click.get_current_context().get_parameter_source("fmt")
        if fmt != "pkcs12" and given is not click.core.ParameterSource.DEFAULT:
            raise InputError(
                f"--for-peer writes a PKCS#12 file, and --format {fmt} asks for another; "
                "nothing was written",
                f"leave out --format {fmt} (or give --format pkcs12) to move the identity to "
                f"the secondary, or leave out --for-peer to export it as {fmt}",
            )
        fmt = "pkcs12"
    dep, _ = load_deployment_arg(env, None)
    spec = dep.identity(identity)
    if for_peer and not spec.ha:
        raise InputError(
            f"{spec.name} is a standalone appliance, not an HA pair",
            "--for-peer is for moving an HA pair's identity to its secondary",
        )
    with_key = fmt in KEY_FORMATS
    to_stdout = out == STDOUT
    if to_stdout:
        refuse_key_on_stdout(private=with_key, force_stdout=force_stdout)
    else:
        check_output_file(out, follow_symlink=follow_symlink)  # before any password prompt
    _refuse_idle_options(
        fmt,
        legacy=legacy,
        encrypt_key=encrypt_key,
        password=password,
        key_format=key_format,
        include_root=include_root,
    )
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
    if pw is not None:  # before the store is opened (or its passphrase asked)
        check_export_password(pw, "a PKCS#12 file" if fmt == "pkcs12" else "the key")
    with env.open_store() as store:
        if with_key:
            refuse_unaudited_key_export(store, "export")
        exported = export_identity(
            store,
            spec.name,
            cast("ExportFormat", fmt),
            password=pw,
            include_root=include_root,
            key_format=cast("KeyFormat", key_format),
            legacy=legacy,
            version=version,
        )
        current = store.identities.get(spec.name) if version is not None else None
        with contextlib.ExitStack() as audited:
            if with_key:
                # the key file and its audit row land together: the write lock first
                # (another writer: wait, then StoreBusy with nothing written), the row,
                # then the file, last before the commit (a file that cannot be written
                # logs nothing). The file written first was left behind, unaudited, when
                # the row then failed (another writer's lock: exit 70)
                audited.enter_context(store.transaction())
                record_key_export(
                    store,
                    exported,
                    "<stdout>" if to_stdout else str(Path(out).resolve()),
                    encrypted=bool(pw),
                    for_peer=for_peer,
                )
            path = write_output(
                out,
                exported.data,
                private=with_key,
                follow_symlink=follow_symlink,
                force_stdout=force_stdout,
            )
    if to_stdout:  # standard output has no file mode to speak of
        if fmt == "key":
            what = "the private key"
        else:
            what = f"the {fmt}" + (" with the private key" if with_key else "")
        where = f"{what} to standard output"
    else:
        where = path + (" (0600, holds the private key)" if with_key else "")
    click.echo(
        f"wrote {where}: {spec.name} v{exported.version} as {fmt}, expires "
        f"{exported.not_after:%Y-%m-%d}",
        err=to_stdout,
    )
    if current is not None and current.version != exported.version:
        click.echo(
            f"note: v{exported.version} is an earlier version of {spec.name} (the current is "
            f"v{current.version}); installed, it replaces v{current.version} on the "
            f"appliance{'s' if spec.ha else ''}, and `ccapki status` and `verify --live` go on "
            f"naming v{current.version} as the one to serve",
            err=True,
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
  ccapki check-ha cas-dorm                      from the store
  ccapki check-ha cas-dorm --primary a.p12 --secondary b.p12 --password ...
  ccapki check-ha cas-dorm --primary a.p12 --secondary b.pfx \\
      --password ... --secondary-password ...   each file its own password

On 4.7+ the IPsec heartbeat is judged as strongSwan decides IKE_AUTH: each peer's key its
certificate's, one subject DN on both, each peer's trust store (as the store holds it)
verifying the other's chain. "HA broken" means it will not come up; "not fit for HA" that
it comes up, but the peers present different certificates, miss names, or present an
expired certificate each peer trusts directly (strongSwan does not read its dates; the
clients refuse it); "cannot tell" that a file holds the certificate without its key (give
the bundle, key included).

\b
EXIT CODES
  0 fit for HA   1 findings (not fit, HA broken, or cannot tell)   2 bad input
""",
)
@click.argument("pair")
@click.option("--primary", type=click.Path(dir_okay=False), help="Bundle taken off the primary.")
@click.option("--secondary", type=click.Path(dir_okay=False), help="Bundle off the secondary.")
@click.option(
    "--password",
    envvar="CCAPKI_EXPORT_PASSWORD",
    show_envvar=True,
    help="Password of the files (PKCS#12, encrypted keys), as `export` wrote them; the "
    "primary's only when --secondary-password is given.",
)
@click.option("--secondary-password", help="Password of the secondary's file.")
@click.option("--json", "as_json", is_flag=True)
@pass_env
def check_ha(
    env: Env,
    pair: str,
    primary: str | None,
    secondary: str | None,
    password: str | None,
    secondary_password: str | None,
    as_json: bool,
) -> int:
    """Confirm both HA peers hold the same certificate and key, fit for the heartbeat."""
    from ccapki.cli.common import load_deployment_arg
    from ccapki.lifecycle.certfiles import (
        check_ha_pair,
        ha_heartbeat_blockers,
        ha_peer_trust,
        identity_material,
    )

    dep, dep_file = load_deployment_arg(env, None)
    spec = dep.identity(pair)
    if not spec.ha:
        raise InputError(f"{spec.name} is not an HA pair", "name an HA pair from `ccapki plan`")
    for option, value in (("--primary", primary), ("--secondary", secondary)):
        if value == "":  # `--primary "$FILE"` with FILE unset: never the store's in its place
            raise InputError(
                f"{option} is empty",
                f"name the file taken off that peer (`{option} FILE`), or give neither "
                "--primary nor --secondary to check the store's identity",
            )
    if (primary is None) != (secondary is None):
        given, missing = ("--primary", "--secondary") if primary else ("--secondary", "--primary")
        raise InputError(
            f"{given} is given but {missing} is not: check-ha compares the files of both peers",
            f"add the file taken off the other peer: `ccapki check-ha {spec.name} --primary "
            f"FILE --secondary FILE`, or give neither to check the store's identity",
        )
    chains: list[tuple[x509.Certificate, ...]]
    if primary and secondary:
        both = secondary_password is None
        files = [
            _bundle(primary, password, "--password"),
            _bundle(
                secondary,
                password if both else secondary_password,
                "--password (or --secondary-password, when the files differ)"
                if both
                else "--secondary-password",
            ),
        ]
        sides = [(leaf, key) for leaf, key, _ in files]
        chains = [(leaf, *rest) for leaf, _, rest in files]
    else:
        with env.open_store() as store:
            ident, key = identity_material(store, spec.name)
        sides = [(ident.certificate, key), (ident.certificate, key)]
        chains = [(ident.certificate, *ident.chain)] * 2
    now = env.now()
    trust = None
    if dep.profile.ha_ipsec_heartbeat:  # whether strongSwan reads the dates: the trust stores
        with env.open_store() as store:
            trust = ha_peer_trust(store, spec)
    checks = check_ha_pair(spec, sides[0], sides[1], now, profile=dep.profile, trust=trust)
    if primary:  # which version each peer holds: identical files may both be out of date
        with env.open_store() as store:
            checks.append(
                _current_on_peers(
                    spec.name, store.identities.history(spec.name), sides, _owners(store, sides)
                )
            )
    # the heartbeat as strongSwan judges it: each peer's trust store against the other's
    # chain, one IKE identity (the subject DN), each key its certificate's
    blockers: tuple[str, ...] = ()
    if dep.profile.ha_ipsec_heartbeat:
        with env.open_store() as store:
            blockers = ha_heartbeat_blockers(store, spec, checks, chains[0], chains[1], now)
    ok = all(c.ok for c in checks) and not blockers
    # a file holding the certificate alone says nothing of the peer's key (an appliance
    # cannot hold a certificate without it): the heartbeat cannot be judged from it
    keyless = [
        label for label, (_, k) in zip(("primary", "secondary"), sides, strict=True) if k is None
    ]
    if as_json:
        from ccapki.cli.output import print_json

        print_json(
            {
                "pair": spec.name,
                "ok": ok,
                "source": "files" if primary else "store",
                "heartbeat_keyed": dep.profile.ha_ipsec_heartbeat,
                "heartbeat_blocked_by": list(blockers),
                "keyless": keyless,
                "checks": [c.as_dict() for c in checks],
            }
        )
    else:
        for c in checks:
            mark = click.style("pass", fg="green") if c.ok else click.style("FAIL", fg="red")
            click.echo(f"{mark}  {c.item}: {c.detail}")
        if not any(not c.ok and c.breaks_heartbeat for c in checks):  # else: rows above
            for why in blockers:
                click.echo(f"{click.style('FAIL', fg='red')}  heartbeat (IKEv2): {why}")
        if ok:
            click.echo(f"{spec.name}: fit for HA")
        elif keyless:
            owners = " and the ".join(f"{label}'s" for label in keyless)
            owners += " file holds" if len(keyless) == 1 else " files hold"
            what = (
                "the IPsec heartbeat comes up"
                if dep.profile.ha_ipsec_heartbeat
                else "both peers serve the one identity after a failover"  # no heartbeat < 4.7
            )
            click.echo(
                f"{spec.name}: cannot tell whether {what}: the {owners} "
                "no private key (only the certificate; a peer always holds its key): give the "
                "bundle installed on the peer with its key, a PKCS#12 or PEM bundle "
                f"(`ccapki export {spec.name} --for-peer` writes the store's current one)"
            )
        elif blockers:
            click.echo(
                f"{spec.name}: HA broken: the IPsec heartbeat will not come up and both peers "
                "would go active"
            )
        else:
            failed = [c.item for c in checks if not c.ok]
            why, fix = _not_fit(
                env, spec, checks, [c for c, _ in sides], now, dep_file,
                heartbeat=dep.profile.ha_ipsec_heartbeat,
            )  # fmt: skip
            if dep.profile.ha_ipsec_heartbeat:  # rows failed, yet strongSwan authenticates
                click.echo(
                    f"{spec.name}: not fit for HA ({'; '.join(failed)}): the IPsec heartbeat "
                    f"still comes up (one subject DN, each peer trusts the other's chain), but "
                    f"{why}: {fix}"
                )
            else:  # before 4.7 the heartbeat is not keyed by the certificate
                click.echo(
                    f"{spec.name}: not fit for HA: {why}: {fix} (on {dep.release} the "
                    "heartbeat does not use the certificate, so it stays up)"
                )
        if not primary:
            click.echo(
                "checked the store's identity for both peers; to check what each peer really "
                f"holds, give the bundles taken off them: `ccapki check-ha {spec.name} "
                "--primary FILE --secondary FILE`"
            )
    return 0 if ok else 1


def _not_fit(
    env: Env,
    spec: IdentitySpec,
    checks: Sequence[HaCheck],
    certs: Sequence[x509.Certificate],
    now: dt.datetime,
    dep_file: str | None,
    *,
    heartbeat: bool,
) -> tuple[str, str]:
    """Why ``check-ha`` finds HA pair ``spec`` not fit though its heartbeat is not down
    (``heartbeat``: 4.7+, keyed by the certificate; else there is none to break), said as
    what failed, and the fix. The rows are told apart by their findings' codes (and the
    CLI's own rows by item), never by their words. ``certs``: the primary's and the
    secondary's certificates. Raises what reading the store raises."""
    from ccapki.lifecycle.status import new_certificate_step
    from ccapki.pki.certs import fingerprint
    from ccapki.trust import Code

    differ = {Code.HA_CERTIFICATE_DIFFERS, Code.HA_KEY_DIFFERS}
    keyless = {Code.KEY_MISMATCH, Code.MISSING_KEY}
    failed = [c for c in checks if not c.ok]
    codes = {f.code for c in failed for f in c.findings}
    items = {c.item for c in failed}
    export = f"install the same bundle on both (`ccapki export {spec.name} --for-peer`)"
    source = "acme" if spec.acme else spec.source.value
    whys: list[str] = []
    fixes: list[str] = []
    if codes & differ:
        whys.append(
            "the peers present different certificates or keys"
            if heartbeat
            else "after a failover clients meet another certificate"
        )
        fixes.append(export)
    if codes & keyless:
        whys.append("a peer does not hold its certificate's key: it cannot serve TLS with it")
        fixes.append(export)
    if _NAMES_ROW in items:
        whys.append("a peer's certificate lacks names the deployment file gives the pair")
        with env.open_store() as store:
            history = store.identities.history(spec.name)
        fixes.append(_names_fix(spec, history, now, dep_file) or export)
    if _CURRENT_ROW in items:
        whys.append("the peers do not present the store's current certificate")
        fixes.append(export)
    dated = [f for c in failed for f in c.findings if f.code in (Code.EXPIRED, Code.NOT_YET_VALID)]
    if dated:
        same = fingerprint(certs[0]) == fingerprint(certs[1])
        said = []
        for f in dated if not same else dated[:1]:
            cert = certs[0] if f.subject == "primary" else certs[1]
            whose = "the pair's certificate" if same else f"the {f.subject}'s certificate"
            when = (
                f"expired on {cert.not_valid_after_utc:%Y-%m-%d}"
                if f.code == Code.EXPIRED
                else f"is not valid until {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC "
                "(check the clocks)"
            )
            said.append(f"{whose} {when}")
        whys.append(f"{' and '.join(said)}: clients refuse it (agents, web login, admin GUI)")
        fixes.append(new_certificate_step(spec.name, source, dep_file, ha=True, applied=True))
    if not whys:  # a row of key usage (before 4.7: no heartbeat it could break)
        whys.append("a peer's certificate is not fit for TLS both ways (see the rows above)")
        fixes.append(new_certificate_step(spec.name, source, dep_file, ha=True, applied=True))
    return ", and ".join(whys), "; ".join(dict.fromkeys(fixes))


#: the row of ``check-ha FILES`` saying which version each peer holds
_CURRENT_ROW = "the store's current certificate on both peers"

#: the ``check-ha`` row saying each peer's certificate names everything the pair needs
_NAMES_ROW = "names the Service IP, virtual hostname and both peers"


def _names_fix(
    spec: IdentitySpec, history: Sequence[StoredIdentity], now: dt.datetime, path: str | None
) -> str | None:
    """The fix ``check-ha`` gives when a peer's certificate misses names of HA pair
    ``spec`` and the store's current certificate (the last of ``history``) misses them
    too (a peer renamed, a Service IP changed): exporting it again cannot help, a new
    certificate must be issued (``path``: the deployment file to apply). Returns None when
    the store's current certificate names them all (exporting it is then the fix) or none
    is issued. Raises nothing."""
    from ccapki.lifecycle.certfiles import check_ha_pair
    from ccapki.lifecycle.status import acme_ip_words, new_certificate_step

    if not history:
        return None
    current = history[-1].certificate
    rows = check_ha_pair(spec, (current, None), (current, None), now)
    if all(r.ok for r in rows if r.item == _NAMES_ROW):
        return None
    missing: list[str] = []
    if spec.acme:
        from ccapki.lifecycle.certfiles import plan_names
        from ccapki.pki.certs import covers, parse_ip

        missing = [n for n in plan_names(spec) if not covers(current, n)]
        if missing and all(parse_ip(n) is not None for n in missing):
            # a new order would lack them again (docs/acme.md: IP addresses left out)
            return (
                f"the store's current certificate v{history[-1].version} lacks them too, and "
                "so would a new one: clients and peers reaching the pair by its names are "
                "served, by IP they see a name mismatch; " + acme_ip_words(spec.name, missing, path)
            )
    # the step `ccapki status` gives the same certificate (stage missing-san); the file
    # check-ha reads is the one the store applied: only the steps after `apply` are left
    step = new_certificate_step(
        spec.name,
        "acme" if spec.acme else spec.source.value,
        path,
        ha=True,
        applied=True,
        missing=missing,
    )
    return (
        f"the store's current certificate v{history[-1].version} lacks them too, so exporting "
        f"it again does not help: {step}"
    )


def _owners(
    store: Store, sides: Sequence[tuple[x509.Certificate, object]]
) -> dict[str, tuple[str, int]]:
    """fingerprint -> (identity, version) of the certificates of ``sides`` the store holds
    as some identity's version (of the deployment acted on)."""
    from ccapki.pki.certs import fingerprint

    fps = sorted({fingerprint(cert) for cert, _ in sides})
    rows = store.rows(
        "SELECT fingerprint, identity, version FROM certificates "
        "WHERE deployment = :d AND fingerprint IN :fps",
        {"d": store.deployment, "fps": fps},
    )
    return {fp: (identity, int(version)) for fp, identity, version in rows}


def _current_on_peers(
    name: str,
    history: Sequence[StoredIdentity],
    sides: Sequence[tuple[x509.Certificate, object]],
    owners: Mapping[str, tuple[str, int]] | None = None,
) -> HaCheck:
    """The ``check-ha`` row saying whether each peer's file holds the store's current
    certificate of HA pair ``name`` (``history``: its versions, oldest first): a peer
    with an older version (not reloaded since a reissue or renewal) or a certificate the
    store does not hold for it fails, and the fix says to install the current on it."""
    from ccapki.pki.certs import fingerprint
    from ccapki.trust import HaCheck

    if not history:  # nothing issued yet: the other rows judge the files alone
        return HaCheck(_CURRENT_ROW, True, "none issued yet")
    current = history[-1]
    version = {v.fingerprint: v.version for v in history}
    said: list[str] = []
    stale: list[str] = []
    for label, (cert, _) in zip(("primary", "secondary"), sides, strict=True):
        held = version.get(fingerprint(cert))
        if held == current.version:
            said.append(f"{label} v{held}")
            continue
        stale.append(label)
        other = (owners or {}).get(fingerprint(cert))
        if held:
            said.append(f"{label} holds v{held} (older)")
        elif other is not None:
            said.append(f"{label} holds {other[0]} v{other[1]}'s certificate, not {name}'s")
        else:
            said.append(
                f"{label} holds one the store does not hold for {name} (another identity's, "
                "or installed by hand)"
            )
    if not stale:
        return HaCheck(_CURRENT_ROW, True, ", ".join(said))
    return HaCheck(
        _CURRENT_ROW,
        False,
        f"{', '.join(said)}; the current is v{current.version}: install it on the "
        f"{' and '.join(stale)} (`ccapki export {name} --for-peer`)",
        tuple(stale),
    )


def _bundle(
    path: str, password: str | None, option: str
) -> tuple[x509.Certificate, PrivateKeyTypes | None, tuple[x509.Certificate, ...]]:
    """The leaf, key and intermediates of one peer's file; ``option`` names where its
    password comes from."""
    from ccapki.errors import PasswordError
    from ccapki.fsutil import read_input_file
    from ccapki.pki.chain import sort_chain
    from ccapki.pki.formats import parse_material, require_certificates

    try:
        m = parse_material(
            read_input_file(path), source=path, password=password.encode() if password else None
        )
    except PasswordError as exc:
        raise PasswordError(exc.message, f"give this file's password with {option}") from None
    held = (
        "give the peer's certificate with its key: the PKCS#12 or PEM bundle installed on it "
        "(`ccapki export PAIR --for-peer` writes one)"
    )
    sc = sort_chain(require_certificates(m, key_only_hint=held))
    return sc.leaf, (m.keys[0] if m.keys else None), sc.intermediates


#: more identities than this under one root are counted, not all named, by export-roots
_MOST_NAMED = 6


def _outgoing_words(root: ClientRoot, who: str) -> str:
    """An earlier root clients keep for now: ``who``'s (its identities') earlier true
    self-signed certificate, or the earlier CA root by name."""
    from ccapki.pki.certs import display_name

    if root.identities:
        return f"{who}'s earlier certificate (true self-signed)"
    return f"the earlier root {display_name(root.certificate)}"


def _identities_words(names: Sequence[str]) -> str:
    """``cam, cas1, cas2``; past :data:`_MOST_NAMED` the first of them and how many more
    (``cam, cas021, ... +264 more``): one root of a large estate signs them all."""
    if len(names) <= _MOST_NAMED:
        return ", ".join(names)
    return f"{', '.join(names[:_MOST_NAMED])} +{len(names) - _MOST_NAMED} more"


def _several_roots_header(need: Sequence[ClientRoot]) -> str:
    """The top of INSTALL.txt for several roots: each ``ccapki-root-N.cer`` and what it
    is, so that the steps below (written for ccapki-root-1.cer) are done for each."""
    from ccapki.pki.certs import display_name

    lines = [
        f"{len(need)} roots to install on every client, one per .cer file (ccapki-roots.p7b, "
        "ccapki-roots.pem and ccapki-roots.mobileconfig hold them all): do the steps below "
        "for each .cer file, not only ccapki-root-1.cer.",
    ]
    for i, c in enumerate(need):
        who = _identities_words(c.identities)
        if c.outgoing:
            what = (
                _outgoing_words(c, who)
                + ": keep it until every appliance presents its renewed certificate"
            )
        elif c.self_signed_leaf:
            what = f"{who}'s own certificate (true self-signed)"
        else:
            what = f"{display_name(c.certificate)}" + (f" (for {who})" if who else "")
        lines.append(f"  ccapki-root-{i + 1}.cer: {what}")
    return "\n".join(lines) + "\n\n\n"


@click.command(
    "export-roots",
    epilog="""\b
EXAMPLES
  ccapki export-roots --out roots/     PEM, .cer, .crt, .p7b, .mobileconfig, INSTALL.txt
  ccapki export-roots --out - > roots.pem
  ccapki export-roots --out roots/ --json

The roots of every identity the deployment file names (a public CA's: no client action).
After a renewal made a new root (or renewed a true self-signed identity), the earlier one
stays in what it writes, said "keep on clients", until `ccapki trust apply --prune`
retires it from the appliances' trust stores: they present what it signed until the
renewed certificates are installed. Export the roots again after the prune.

\b
EXIT CODES
  0 written (or no client action needed)   2 bad input, refused --out, or no roots yet
""",
)
@click.option(
    "--out",
    required=True,
    metavar="DIR",
    help="The folder to write (made if missing); - prints the roots (PEM) on standard output.",
)
@click.option("--follow-symlink", is_flag=True, help="Write through files that are symlinks.")
@click.option("--json", "as_json", is_flag=True, help="Print the roots and files as JSON.")
@pass_env
def export_roots(env: Env, out: str, follow_symlink: bool, as_json: bool) -> int:
    """The roots clients must install so agents and browsers stop warning."""
    env.refuse_what_if("export-roots")
    from ccapki.fsutil import STDOUT, atomic_write_all, check_output_folder, write_output
    from ccapki.lifecycle.certfiles import client_roots
    from ccapki.pki import roots as r
    from ccapki.pki.certs import display_name, issuer_display_name

    folder = Path(out)
    written: list[str] = []
    to_stdout = out == STDOUT
    if to_stdout and as_json:
        raise InputError(
            "--json and --out - would both write to standard output",
            "give --out a folder, or leave out --json",
        )
    if not to_stdout:
        check_output_folder(folder, target=out)
    with env.open_store() as store:
        # the earlier roots the appliances still present until the renewed certificates
        # are installed stay in the bundle: a client replacing its copy keeps them
        found = client_roots(store, outgoing_at=env.now())
    if not found:
        raise InputError(
            "no roots yet: the store holds no certificates; nothing was written",
            "run `ccapki apply DEPLOYMENT.toml` first (a third-party identity: `ccapki csr`, "
            "then `ccapki import` what the CA returns)",
        )
    need = [c for c in found if not c.public]

    if need and to_stdout:
        written.append(write_output(STDOUT, r.roots_pem([c.certificate for c in need])))
    elif need:
        certs = [c.certificate for c in need]
        # every file is made first and written all or nothing: a full disk or a folder
        # where one must go leaves the folder as it was (it was half written)
        files: list[tuple[Path, bytes]] = [
            (folder / "ccapki-roots.pem", r.roots_pem(certs)),
            (folder / "ccapki-roots.p7b", r.roots_p7b(certs)),
        ]
        for i, c in enumerate(need):
            files.append((folder / f"ccapki-root-{i + 1}.cer", r.roots_der_cer(c.certificate)))
            # Debian's update-ca-certificates links only a file of one certificate
            files.append((folder / f"ccapki-root-{i + 1}.crt", r.roots_pem([c.certificate])))
        files.append(
            (
                folder / "ccapki-roots.mobileconfig",
                r.mobileconfig(
                    certs,
                    identifier="edu.ccapki.roots",
                    organization="ccapki",
                    display_name="Clean Access roots",
                ),
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
                crt="ccapki-root-1.crt" if len(need) == 1 else "ccapki-root-*.crt",
            )
            for p in ("windows", "macos", "linux")
        )
        if len(need) > 1:  # which file is which root, before the steps for one file
            text = _several_roots_header(need) + text
            text += (
                f"\n\n{len(need)} roots: repeat the .cer steps for ccapki-root-1.cer to "
                f"ccapki-root-{len(need)}.cer, or use ccapki-roots.p7b / the .mobileconfig, "
                "which hold them all.\n"
            )
        files.append((folder / "INSTALL.txt", text.encode()))
        check_output_folder(folder)
        written += [str(p) for p in atomic_write_all(files, follow_symlink=follow_symlink)]
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
                        "complete": c.complete,
                        "outgoing": c.outgoing,
                    }
                    for c in found
                ],
                "files": written,
            }
        )
        return 0
    for c in found:
        who = _identities_words(c.identities)
        if c.outgoing:
            what = _outgoing_words(c, who)
            click.echo(
                f"keep on clients: {what}, until {c.certificate.not_valid_after_utc:%Y-%m-%d} "
                "or until every appliance presents its renewed certificate (the appliances' "
                "trust stores still hold it: `ccapki trust apply --prune` retires it; export "
                "the roots again then)",
                err=to_stdout,
            )
        elif c.public:
            click.echo(
                f"no client action: {who} chain to public root {display_name(c.certificate)}",
                err=to_stdout,
            )
        elif c.self_signed_leaf:
            click.echo(
                f"install on clients: {who}'s own certificate (true self-signed)", err=to_stdout
            )
        elif not c.complete:
            click.echo(
                f"install on clients: the root of {who}, which the store does not hold: the "
                f"chain stops at {display_name(c.certificate)}, issued by "
                f"{issuer_display_name(c.certificate)} (written meanwhile); `ccapki import` "
                "that CA's certificates (intermediate and root), then export the roots again",
                err=to_stdout,
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

\b
EXIT CODES
  0 done (`ccapki keys` alone: this help)   2 bad input (see each command's --help)
"""
)
def keys() -> None:
    """Private keys in the store: list them, retire a pending one."""


@keys.command(
    "list",
    epilog="""\b
EXAMPLES
  ccapki keys list                  fingerprint, state, algorithm, identity, when made,
                                    where: the store, or "token LABEL" (a CA key in a
                                    PKCS#11 token; no PIN needed), and which CA
  ccapki keys list --json

\b
EXIT CODES
  0 listed (it reads the store only: no passphrase needed)   2 no store
""",
)
@click.option("--json", "as_json", is_flag=True)
@pass_env
def keys_list(env: Env, as_json: bool) -> int:
    """List keys: fingerprint, type, identity, state, when made, where (the store or a
    PKCS#11 token) and, for a CA's key, which CA."""
    import dataclasses

    from ccapki.lifecycle.cakeys import list_keys

    with env.open_store() as store:
        rows = list_keys(store)
    if as_json:
        from ccapki.cli.output import print_json

        print_json([dataclasses.asdict(k) for k in rows])
        return 0
    click.echo(
        f"{'fingerprint':<16}  {'state':<10} {'type':<11} {'identity':<16} {'created':<16}  where"
    )
    for k in rows:
        where = f"{k.where}: CA {k.ca}" if k.ca else k.where
        click.echo(
            f"{k.fingerprint[:16]}  {k.state:<10} {k.key_type:<11} "
            f"{k.identity or '-':<16} {k.created_at:%Y-%m-%d %H:%M}  {where}"
        )
    return 0


@keys.command(
    "retire",
    epilog="""\b
EXAMPLES
  ccapki keys retire 3f9a2c1b       a pending key, by the start of its fingerprint

\b
EXIT CODES
  0 retired (or already retired)   2 no such key, several match, or the key is not pending

`ccapki import` refuses a certificate on a retired key (the CA's answer to its CSR, come
anyway); `import --force` takes it and makes the key active again.
""",
)
@click.argument("fingerprint")
@pass_env
def keys_retire(env: Env, fingerprint: str) -> int:
    """Retire a pending key (kept sealed, never matched to new CSRs; still exportable)."""
    env.refuse_what_if("keys retire")
    from ccapki.store.records import KeyState

    # decided and written under the write lock: the key's state read is the one changed
    with env.open_store() as store, store.transaction():
        fp = fingerprint.lower().replace(":", "").strip()
        if not fp:
            raise InputError("no fingerprint given", "give a fingerprint from `ccapki keys list`")
        if not re.fullmatch(r"[0-9a-f]{4,64}", fp):  # "a" would retire whichever key it starts
            raise InputError(
                f"{fingerprint!r} is not the start of a key's SHA-256 fingerprint "
                "(4 to 64 hex digits; nothing was retired)",
                "copy it from `ccapki keys list` (the first 8 hex digits are enough), e.g. "
                "`ccapki keys retire 3f9a2c1b`",
            )
        matches = [k for k in store.keys.list() if k.fingerprint.startswith(fp)]
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
        short, owner = key.fingerprint[:16], key.identity or "-"
        of = key.identity or "no identity (a key imported on its own)"
        if key.state is KeyState.RETIRED:
            click.echo(f"key {short} (of {of}) is already retired: nothing to do")
            return 0
        if key.state is not KeyState.PENDING:
            what = {
                KeyState.ACTIVE: f"active (the key of a certificate of {owner})",
                KeyState.CA: "a CA's signing key",
                KeyState.SUPERSEDED: (
                    f"superseded (the key of an earlier certificate of {owner}, replaced "
                    "by a newer version; kept sealed)"
                ),
            }.get(key.state, key.state.value)
            raise InputError(
                f"key {short} is {what}; only a pending key can be retired",
                "retire a pending key (state `pending` in `ccapki keys list`); an active key "
                "is replaced by renewing its identity (`ccapki apply`, or `ccapki csr` and "
                "`ccapki import` for a third-party one)",
            )
        store.keys.set_state(key.fingerprint, KeyState.RETIRED)
        store.audit.record("key-retire", owner, fingerprint=key.fingerprint)
    click.echo(f"retired key {short} (a pending key of {of}; kept sealed in the store)")
    return 0
