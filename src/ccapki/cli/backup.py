"""``ccapki backup``: encrypted archives of the whole store, restores, recovery kits."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ccapki.cli.app import Env, pass_env
from ccapki.errors import InputError, PasswordError

if TYPE_CHECKING:
    from ccapki.lifecycle.backups import Skipped

__all__ = ["backup"]

_PASS_ENV = "CCAPKI_BACKUP_PASSPHRASE"  # noqa: S105 - a variable name


def _backup_passphrase(*, confirm: bool) -> str:
    """``CCAPKI_BACKUP_PASSPHRASE``, else asked in a terminal (twice when ``confirm``)."""
    env = os.environ.get(_PASS_ENV)
    if env == "":
        raise PasswordError(
            f"{_PASS_ENV} is set but empty",
            f"set {_PASS_ENV} to the backup passphrase, or unset it to be asked in a terminal",
        )
    if env is not None:
        return env
    if sys.stdin.isatty():
        return str(
            click.prompt(
                "Backup passphrase", hide_input=True, confirmation_prompt=confirm, err=True
            )
        )
    raise PasswordError(
        "no backup passphrase given",
        f"set {_PASS_ENV}, or run the command in a terminal to be asked",
    )


def _export_password() -> bytes:
    from ccapki.lifecycle.exports import check_export_password

    env = os.environ.get("CCAPKI_EXPORT_PASSWORD")
    if env:
        check_export_password(env.encode(), "the recovery kit's PKCS#12 file")
        return env.encode()
    if sys.stdin.isatty():
        value = str(
            click.prompt("PKCS#12 password", hide_input=True, confirmation_prompt=True, err=True)
        )
        if value:
            check_export_password(value.encode(), "the recovery kit's PKCS#12 file")
            return value.encode()
    raise InputError(
        "the recovery kit's PKCS#12 file needs a password",
        "set CCAPKI_EXPORT_PASSWORD, or run the command in a terminal to be asked",
    )


def _tally(
    c: Mapping[str, int],
    *,
    keys: tuple[str, str] = ("key", "keys"),
    certificates: tuple[str, str] = ("certificate version", "certificate versions"),
) -> str:
    """``3 CAs, 1 CSR, ...``: the counts of an archive's records, each with its own plural."""
    from ccapki.cli.output import plural

    words = (
        ("certificates", certificates),
        ("keys", keys),
        ("cas", ("CA", "CAs")),
        ("csrs", ("CSR", "CSRs")),
        ("trust_entries", ("trust-store entry", "trust-store entries")),
        ("audit", ("audit row", "audit rows")),
        ("deployments", ("deployment file", "deployment files")),
    )
    return ", ".join(plural(c.get(field, 0), one, many) for field, (one, many) in words)


_CERTS = ("certificate", "certificates")


def _ids(n: int) -> str:
    from ccapki.cli.output import plural

    return plural(n, "identity", "identities")


@click.group(
    epilog="""\b
EXAMPLES
  ccapki backup create --out ccapki-2026-11-28.backup   everything, encrypted (asks twice)
  ccapki backup verify ccapki-2026-11-28.backup         integrity and contents, no restore
  ccapki backup restore ccapki-2026-11-28.backup        into this store (empty or not)
  ccapki backup restore FILE --identity cas-dorm        one identity, all its versions
  ccapki backup appliance cas-dorm --out kit/           rebuild one appliance by hand

The backup passphrase comes from CCAPKI_BACKUP_PASSPHRASE, else a prompt; it is not the
store's passphrase. The format is documented in docs/backup-format.md.

\b
EXIT CODES
  0 done   2 bad input: wrong passphrase, damaged or truncated file, newer data in the
           store (restore without --force): nothing written
"""
)
def backup() -> None:
    """Encrypted backups of the whole store, restores, per-appliance recovery kits."""


@backup.command(
    "create",
    epilog="""\b
EXAMPLES
  ccapki backup create --out /media/usb/ccapki.backup
  CCAPKI_BACKUP_PASSPHRASE=... ccapki backup create --out nightly.backup --json
  ccapki backup create --out now.backup --skip-damaged   all but the keys that do not open

The file is written 0600 and atomically (an interrupted backup leaves no file) and logged
in the audit log (`backup-create`). It holds every private key, encrypted under the backup
passphrase: keep it and the passphrase apart. A key whose sealed bytes are damaged
(`ccapki doctor` lists them) stops the backup, unless --skip-damaged: then it is left out
(with its CSRs), and the output, the backup itself (`backup verify`, `backup restore`) and
the audit log name it.

\b
EXIT CODES
  0 written   2 bad input (short passphrase, refused --out), a damaged key (without
              --skip-damaged): nothing written
""",
)
@click.option("--out", required=True, metavar="FILE", help="The backup file to write.")
@click.option(
    "--skip-damaged",
    is_flag=True,
    help="Leave out keys whose sealed bytes do not open (named in the output and the backup).",
)
@click.option("--json", "as_json", is_flag=True)
@pass_env
def create(env: Env, out: str, skip_damaged: bool, as_json: bool) -> int:
    """Write one encrypted, authenticated archive of everything the store holds."""
    env.refuse_what_if("backup create")
    from ccapki.fsutil import STDOUT, check_output_file
    from ccapki.lifecycle.backups import create_backup
    from ccapki.lifecycle.exports import refuse_unaudited_key_export

    if out == STDOUT:
        raise InputError(
            "a backup is written to a file, not to standard output; nothing was written",
            "give --out FILE (written 0600, atomically)",
        )
    check_output_file(out)
    with env.open_store() as store:
        refuse_unaudited_key_export(store, "backup create")
        store.unlock()  # the store's passphrase before the backup's
        passphrase = _backup_passphrase(confirm=True)
        summary = create_backup(store, out, passphrase, skip_damaged=skip_damaged)
    env.work_done()
    if as_json:
        from ccapki.cli.output import print_json

        print_json(
            {
                "path": summary.path,
                "bytes": summary.bytes,
                "identities": summary.identities,
                "records": dict(summary.counts),
                "created_at": summary.created_at.isoformat(),
                "skipped_keys": [k.as_json() for k in summary.skipped.keys],
            }
        )
        return 0
    c = summary.counts
    click.echo(
        f"wrote {summary.path} (0600, {summary.bytes / 1024:.1f} KiB): "
        f"{_ids(summary.identities)}: {_tally(c)}"
    )
    click.echo("keep it and its passphrase apart; check it with `ccapki backup verify FILE`")
    _say_token_keys(c.get("ca_token_keys", 0))
    _say_skipped(summary.skipped, "left out")
    return 0


def _say_skipped(skipped: Skipped, verb: str) -> None:
    """The damaged keys a backup lacks (``backup create --skip-damaged``), one a line."""
    if not skipped:
        return
    from ccapki.cli.output import plural

    click.echo(
        f"warning: {plural(skipped.total, 'damaged key')} {verb} (their sealed bytes do "
        "not open)"
        + (f", with {plural(skipped.csrs, 'CSR')}" if skipped.csrs else "")
        + (f" and {plural(skipped.acme_orders, 'ACME order')}" if skipped.acme_orders else "")
        + ":"
    )
    for k in skipped.keys:
        what = "ACME account key" if k.table == "acme_accounts" else "key"
        click.echo(
            f"  missing: {what} {k.fingerprint} ({k.deployment}/{k.identity or 'a CA'}, {k.state})"
        )
    if skipped.total > len(skipped.keys):
        click.echo(f"  ... and {skipped.total - len(skipped.keys)} more (the audit log names them)")


def _say_token_keys(count: int, uris: Sequence[str] = ()) -> None:
    """CA keys in PKCS#11 tokens: a backup records where they are, never the keys."""
    if not count:
        return
    where = f" ({', '.join(sorted(set(uris)))})" if uris else ""
    click.echo(
        f"note: {'1 CA key is' if count == 1 else f'{count} CA keys are'} in PKCS#11 "
        f"tokens{where}: the backup records where "
        "they are, not the keys; keep the token's own backup (its vendor's tool), and "
        "`ccapki doctor` checks the token is reachable"
    )


@backup.command(
    "verify",
    epilog="""\b
EXAMPLES
  ccapki backup verify nightly.backup
  ccapki backup verify nightly.backup --json

Reads the whole file: every chunk authenticates, nothing is missing or added, every key
parses and matches its certificate's public key. Needs no store.

\b
EXIT CODES
  0 intact   2 wrong passphrase, damaged, truncated or unknown version
""",
)
@click.argument("file", type=click.Path(dir_okay=True))
@click.option("--json", "as_json", is_flag=True)
def verify(file: str, as_json: bool) -> int:
    """Check a backup's integrity and list what it holds, without restoring."""
    from ccapki.lifecycle.backups import backup_store_id, read_backup, verify_backup

    # the path is checked (a folder, a missing file) before the passphrase is asked
    fh, reader = read_backup(file, lambda: _backup_passphrase(confirm=False))
    with fh:
        contents = verify_backup(reader)
    h = contents.header
    if as_json:
        from ccapki.cli.output import print_json

        print_json(
            {
                "file": file,
                "ok": True,
                "format_version": h.version,
                "created_at": h.created_at.isoformat(),
                "created_by": h.created_by,
                "schema": h.schema,
                "store_id": backup_store_id(h),
                "records": dict(contents.counts),
                "skipped_keys": [k.as_json() for k in contents.skipped.keys],
                "skipped_total": contents.skipped.total,
                "deployments": list(contents.deployments),
                "identities": [
                    {
                        "deployment": i.deployment,
                        "name": i.name,
                        "versions": i.versions,
                        "fingerprint": i.fingerprint,
                        "not_after": i.not_after.isoformat(),
                    }
                    for i in contents.identities
                ],
            }
        )
        return 0
    c = contents.counts
    click.echo(
        f"{file}: intact (format v{h.version}, made {h.created_at:%Y-%m-%d %H:%M} UTC by "
        f"{h.created_by})"
    )
    made_of = backup_store_id(h)
    click.echo(f"  store ID: {made_of or 'none (made before backups carried it)'}")
    from ccapki.cli.output import plural

    click.echo(
        f"  {_ids(len(contents.identities))} ("
        f"{plural(c.get('certificates', 0), 'certificate version')}), "
        f"{plural(c.get('keys', 0), 'key')} (each checked against its fingerprint), "
        f"{plural(c.get('cas', 0), 'CA')}, {plural(c.get('csrs', 0), 'CSR')}, "
        f"{plural(c.get('trust_entries', 0), 'trust-store entry', 'trust-store entries')}, "
        f"{plural(c.get('audit', 0), 'audit row')}, "
        f"{plural(c.get('deployments', 0), 'deployment file')}"
    )
    _say_token_keys(c.get("ca_token_keys", 0))
    _say_skipped(contents.skipped, "not in this backup")
    several = len(contents.deployments) > 1
    for i in contents.identities[:50]:
        where = f"{i.deployment}/" if several else ""
        click.echo(
            f"  {where}{i.name}: {plural(i.versions, 'version')}, newest expires "
            f"{i.not_after:%Y-%m-%d}"
        )
    if len(contents.identities) > 50:
        click.echo(f"  ... and {len(contents.identities) - 50} more (--json lists them all)")
    return 0


#: the identities a restore kept as the store holds them ("kept:") named one a line
_KEPT_SHOWN = 20


@backup.command(
    "restore",
    epilog="""\b
EXAMPLES
  ccapki init && ccapki backup restore nightly.backup       a new machine, an empty store
  ccapki backup restore nightly.backup                      merge into this store
  ccapki backup restore nightly.backup --identity cas-dorm  only one identity
  ccapki backup restore nightly.backup --force              the backup's certificates win

Works on any store (SQLite or PostgreSQL, CCAPKI_DATABASE_URL). A backup of another
store (its store ID, which `backup verify` prints, is not this store's) is refused
unless --force, except into an empty store (a new machine: `ccapki init`, then restore),
which asks nothing and takes the backup's store ID. Keys are re-sealed under this
store's key. What the store holds already is kept. With --identity, the identity's
deployment file comes too when the store holds none of that deployment (to export it,
kit it, renew it). The store holds newer data when an identity has a higher version than
the backup's newest, or another certificate at the same version: the restore is refused
(nothing is written) unless --force, which makes the backup's newest certificate the
current version (added as a new version; the store's versions stay in its history). A
key whose sealed bytes are damaged here is sealed again from the backup's copy even when
the store holds newer versions of its identity: a full restore then restores the rest
and keeps the identities the store holds newer data for as they are ("kept:");
--identity repairs that identity's keys and keeps its certificates.

\b
EXIT CODES
  0 restored   2 wrong passphrase, damaged or truncated file, newer data in the store,
               another store's backup: nothing written
""",
)
@click.argument("file", type=click.Path(dir_okay=True))
@click.option("--identity", metavar="NAME", help="Restore only this identity.")
@click.option("--force", is_flag=True, help="Restore over newer data in the store.")
@click.option("--json", "as_json", is_flag=True)
@pass_env
def restore(env: Env, file: str, identity: str | None, force: bool, as_json: bool) -> int:
    """Restore a backup into this store (all of it, or one identity), in one transaction."""
    env.refuse_what_if("backup restore")
    from ccapki.lifecycle.backups import read_backup, restore_backup

    if not env.store_exists():
        with env.open_store():  # raises: no store here, with the hint to `ccapki init`
            pass
    # the path is checked (a folder, a missing file) before the passphrase is asked
    fh, reader = read_backup(file, lambda: _backup_passphrase(confirm=False))
    if env.deployment_option is not None:  # a deployment the backup brings may be new here
        env.act_on(env.deployment_option, source="--deployment")
    with fh, env.open_store() as store:
        summary = restore_backup(
            store,
            reader,
            identity=identity,
            force=force,
            source=str(Path(file).resolve()),
            deployment=env.deployment_option,
        )
    env.work_done()
    if as_json:
        from ccapki.cli.output import print_json

        print_json(
            {
                "file": file,
                "added": summary.added,
                "kept": summary.kept,
                "identities": summary.identities,
                "forced": summary.forced,
                "token_keys": summary.token_keys,
                "repaired": summary.repaired,
                "repair_only": summary.repair_only,
                "skipped_keys": [k.as_json() for k in summary.skipped.keys],
            }
        )
        return 0
    a, k = summary.added, summary.kept
    what = f"identity {identity}" if identity else "backup"
    added = _tally(a, keys=("key re-sealed", "keys re-sealed"), certificates=_CERTS)
    click.echo(
        f"restored {what} from {file} (made {summary.header.created_at:%Y-%m-%d %H:%M} UTC): "
        f"{_ids(len({*summary.identities, *summary.forced}))} with new versions: "
        f"{added}"
    )
    held = sum(k.values())
    if held:
        from ccapki.cli.output import plural

        click.echo(f"kept {plural(held, 'record')} the store held already")
    for name in summary.forced:
        click.echo(f"forced: {name} now has the backup's certificate as its current version")
    for key in summary.repaired:
        click.echo(f"repaired: key {key} was damaged in the store; sealed again from the backup")
    for name in summary.repair_only[:_KEPT_SHOWN]:
        click.echo(
            f"kept: {name}'s certificates as they are (the store holds newer ones): not "
            "restored; its keys repaired only where damaged"
        )
    if len(summary.repair_only) > _KEPT_SHOWN:
        click.echo(
            f"kept: {len(summary.repair_only) - _KEPT_SHOWN} more identities as they are "
            "(--json lists them)"
        )
    _say_token_keys(len(summary.token_keys), summary.token_keys)
    _say_skipped(summary.skipped, "not in this backup, so not restored")
    return 0


@backup.command(
    "appliance",
    epilog="""\b
EXAMPLES
  ccapki backup appliance cas-dorm --out kit-cas-dorm/     an HA pair: both peers' steps
  ccapki backup appliance cam --out kit-cam/

Writes NAME-upload.pem (certificate + chain + key, 0600), NAME.p12 (encrypted with
CCAPKI_EXPORT_PASSWORD or the password asked), trusted-ca-N.pem (the roots the
appliance's trust store must hold) and README.txt (the GUI steps, in order). The key
exports are logged in the audit log. DIR holds one kit: a folder holding anything else
(another appliance's kit) is refused; a kit written before for the same appliance (or
HA pair) is replaced in place.

\b
EXIT CODES
  0 written   2 unknown appliance, no certificate yet, refused --out: nothing written
""",
)
@click.argument("name")
@click.option("--out", required=True, metavar="DIR", help="The folder to write (made if missing).")
@pass_env
def appliance(env: Env, name: str, out: str) -> int:
    """Write what an administrator needs to rebuild one appliance (or HA pair) by hand."""
    env.refuse_what_if("backup appliance")
    from ccapki.cli.common import load_deployment_arg
    from ccapki.fsutil import STDOUT, check_output_folder
    from ccapki.lifecycle.backups import check_kit_folder, recovery_kit, write_recovery_kit
    from ccapki.lifecycle.exports import refuse_unaudited_key_export

    if out == STDOUT:
        raise InputError(
            "a recovery kit is a folder of files; nothing was written",
            "give --out DIR (made if missing)",
        )
    dep, _ = load_deployment_arg(env, None)
    spec = dep.identity(name)
    check_output_folder(out)
    check_kit_folder(out, spec.name)  # one kit per folder: before the password is asked
    with env.open_store() as store:
        refuse_unaudited_key_export(store, "backup appliance")
        store.unlock()
        kit = recovery_kit(store, dep, spec.name, _export_password())
        written = write_recovery_kit(store, kit, out)
    env.work_done()
    click.echo(
        f"wrote the recovery kit of {kit.identity} v{kit.version} "
        f"({', '.join(kit.appliances)}; expires {kit.not_after:%Y-%m-%d}) to {out}:"
    )
    for path, f in written:
        mode = " (0600, holds the private key)" if f.private else ""
        click.echo(f"  {Path(path).name}{mode}: {f.what}")
    click.echo(f"follow {Path(out) / 'README.txt'}, step by step")
    return 0
