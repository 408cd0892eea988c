"""``ccapki doctor``: check the store itself and print the fix of each problem."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from ccapki.cli.app import Env, pass_env

if TYPE_CHECKING:
    from ccapki.lifecycle.doctor import Progress, Report

__all__ = ["doctor"]


@contextlib.contextmanager
def _progress_bar(show: bool) -> Iterator[Progress | None]:
    """A transient progress bar on standard error for big stores; None when not shown.
    Drawn from the first update on (a passphrase prompt comes before it, never under it)."""
    if not show:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn
    from rich.progress import Progress as Bar

    bar = Bar(
        TextColumn("checking {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        auto_refresh=False,
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def update(phase: str, done: int, total: int) -> None:
        if not tasks:
            bar.start()
        if phase not in tasks:
            tasks[phase] = bar.add_task(phase, total=total)
        bar.update(tasks[phase], completed=done, total=total)
        bar.refresh()

    try:
        yield update
    finally:
        if tasks:
            bar.stop()


_CHECKED = {
    "cas": ("CA", "CAs"),
    "identities": ("identity", "identities"),
    "certificates": ("certificate version", "certificate versions"),
    "keys": ("sealed key", "sealed keys"),
    "trust_entries": ("trust entry", "trust entries"),
    "token_keys": ("CA key in a PKCS#11 token", "CA keys in PKCS#11 tokens"),
    "acme_accounts": ("ACME account", "ACME accounts"),
}


def _render(report: Report) -> None:
    from ccapki.cli.output import plural

    several = len(report.deployments) > 1
    for p in report.problems:
        where = f"[{p.deployment}] " if several and p.deployment else ""
        click.echo(f"{p.severity.value + ':':<9}{where}{p.subject}: {p.message}")
        click.echo(f"{'':<9}fix: {p.fix}")
    for what in report.skipped:
        click.echo(f"skipped: {what}")
    counts = [plural(n, *_CHECKED[k]) for k, n in report.checked.items() if k in _CHECKED]
    if counts:
        click.echo(f"checked {report.where}: {', '.join(counts)}")
    errors, warnings = len(report.errors), len(report.warnings)
    if not report.problems:
        click.echo("healthy: no problems found")
    else:
        click.echo(f"{plural(errors, 'error')}, {plural(warnings, 'warning')}")


@click.command(
    epilog="""\b
EXAMPLES
  ccapki doctor                        every check; each problem with its fix
  ccapki doctor --json                 the same as JSON (problems: code, severity, fix)
  ccapki --deployment campus doctor    one deployment of a store that holds several
                                       (default: every deployment)
  ccapki doctor --quick --strict       PRAGMA quick_check; warnings fail too

\b
CHECKS
  file modes (store folder, ccapki.db, data.key); the database (SQLite integrity_check,
  a PostgreSQL server's reachability) and its schema version; the data key; every
  certificate has its key (an external CA needs none), its chain is complete and every
  signature verifies; one current version per identity, none not yet valid or expired;
  every sealed key opens and is the key of its certificates; trust entries parse; pending
  keys older than 90 days; the last backup's age (warning after 7 days, or none); a CA
  key in a PKCS#11 token: the module loads, the token is present and, with
  CCAPKI_PKCS11_PIN set, the key object is there and signs a test message; a
  deployment with source = "acme" identities: the ACME directory answers (HTTPS verified
  with [acme] ca_bundle), the store's account is still valid at the CA, and the secrets
  [acme] names are in the environment (the network is asked; nothing is ordered).
  Read only: doctor never changes the store (nor migrates it).

\b
EXIT CODES
  0 healthy (warnings alone, without --strict)
  1 problems found (errors; with --strict, warnings too)
  2 bad input: no store there, a wrong passphrase, an unknown --deployment
""",
)
@click.option("--quick", is_flag=True, help="SQLite PRAGMA quick_check instead of integrity_check.")
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_env
def doctor(env: Env, quick: bool, strict: bool, as_json: bool) -> int:
    """Check the store itself (keys, chains, versions, database, files, backups) and
    print the fix of each problem."""
    from ccapki.lifecycle.doctor import examine

    env.refuse_file_home()
    show = not as_json and sys.stderr.isatty()
    with _progress_bar(show) as progress:
        report = examine(
            env.home,
            env.database_url,
            passphrase=env.passphrase,
            now=env.now(),
            deployment=env.deployment_option,
            quick=quick,
            progress=progress,
        )
    if as_json:
        from ccapki.cli.output import print_json

        print_json(report.to_json())
    else:
        _render(report)
    return 1 if report.errors or (strict and report.warnings) else 0
