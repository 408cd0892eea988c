"""``ccapki status``: every certificate by days left, staged warnings, what is served."""

from __future__ import annotations

import datetime as dt
import sys
from functools import lru_cache
from typing import TYPE_CHECKING

import click

from ccapki.cli.app import Env, pass_env
from ccapki.errors import CcapkiError, InputError, StoreError

if TYPE_CHECKING:
    from ccapki.lifecycle.status import StatusItem, StatusReport

__all__ = ["status"]

#: Rows of one deployment: stage, days, kind, name, expires, served, note (plain text).
Row = tuple[str, str, str, str, str, str, str]


def _stage_text(item: StatusItem) -> str:
    if not item.in_use:
        return "unused"
    if item.stage.isdigit():
        return f"<={item.stage}d"
    if item.stage in ("expired", "damaged", "not-yet-valid"):  # CRITICAL under --nagios
        return item.stage.upper()
    return item.stage


@lru_cache(maxsize=4096)  # a batch's expiry, a probe run's times: the same few, many times
def _day(when: dt.datetime) -> str:
    return f"{when:%Y-%m-%d}"


@lru_cache(maxsize=4096)
def _minute(when: dt.datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M}"


def _served_text(item: StatusItem) -> str:
    if item.kind != "identity":
        return ""
    served = item.served
    if not served:
        return "not probed"
    if len(served) == 1 and served[0].verdict.value == "expected":  # the usual row
        since = served[0].since
        return (
            f"expected on 1 endpoint since {_minute(since)}" if since else "expected on 1 endpoint"
        )
    bad = [s for s in served if s.verdict.value != "expected"]
    if not bad:
        since = max((s.since for s in served if s.since), default=None)
        n = len(served)
        when = f" since {_minute(since)}" if since else ""
        return f"expected on {n} endpoint{'s' if n != 1 else ''}{when}"
    parts = []
    for s in bad[:3]:
        when = f"since {s.since:%Y-%m-%d}" if s.since else f"at {s.at:%Y-%m-%d %H:%M}"
        parts.append(f"{s.appliance}/{s.kind} {s.verdict.value.upper()} {when}")
    if len(bad) > 3:
        parts.append(f"+{len(bad) - 3} more")
    ok = len(item.served) - len(bad)
    if ok:
        parts.append(f"{ok} expected")
    return "; ".join(parts)


def _hours_cell(not_after: dt.datetime, now: dt.datetime) -> str:
    """The DAYS cell of a certificate within 24 hours of its expiry, where whole days would
    say 0 or -1: the hours its words say (:func:`ccapki.pki.expiry.expiry_words`; minutes in
    the last hour), negative once expired: ``5h`` ("expires in 5 hours"), ``-16h`` ("expired
    16 hours ago"), ``40m``."""
    from ccapki.pki.expiry import span_words

    span = span_words(not_after - now, short=True)
    return f"-{span}" if not_after < now else span


def _rows(report: StatusReport, deployment: str) -> list[Row]:
    """The deployment's rows, a trust-store root held by several appliances on one row."""
    from ccapki.lifecycle.status import identity_certificates

    rows: list[Row] = []
    roots: dict[str, list[StatusItem]] = {}
    # a true self-signed identity's own certificate in trust stores: its identity's row
    own = identity_certificates(report.items)
    for i in report.items:
        if i.deployment == deployment and i.kind == "trust-root":
            roots.setdefault(i.fingerprint, []).append(i)
    shown: set[str] = set()
    for i in report.items:
        if i.deployment != deployment:
            continue
        name = i.name
        served = ""
        if i.kind == "trust-root":
            if i.fingerprint in shown or (i.deployment, i.fingerprint) in own:
                continue
            shown.add(i.fingerprint)
            held = roots[i.fingerprint]
            appliance, _, name = i.name.partition(": ")
            # where it is trusted goes in the last column (of any width): the columns
            # after NAME stay aligned whatever the number of appliances
            if len(held) > 1:
                names = [h.name.partition(": ")[0] for h in held]
                more = f" +{len(names) - 4}" if len(names) > 4 else ""
                served = f"(on {len(held)} appliances: {', '.join(names[:4])}{more})"
            else:
                served = f"(on {appliance})"
        elif i.kind == "csr":
            name = f"{i.name} (key {i.fingerprint[:12]})"
        elif i.kind == "chain-ca":  # which appliances' identities send it
            from ccapki.lifecycle.status import chain_holders_words

            served = f"(in the chain of {chain_holders_words(i.chain_of)})"
        else:
            served = _served_text(i)
        days = "-" if i.days_left is None else str(i.days_left)
        if i.days_left in (0, -1) and i.not_after is not None:  # within 24 h: in hours
            days = _hours_cell(i.not_after, report.now)
        expires = _day(i.not_after) if i.not_after else ""
        rows.append((_stage_text(i), days, i.kind, name, expires, served, i.note))
    return rows


def _heading(report: StatusReport, name: str) -> str:
    release = report.releases.get(name)
    rel = f"CCA {release}" if release else "no deployment file stored (default stages)"
    stages = ", ".join(str(d) for d in report.warn_days[name])
    return f"{name}: {rel}; warnings at {stages} days; as of {report.now:%Y-%m-%d %H:%M} UTC"


#: The widest the plain table's NAME column is padded to (longer names run over).
_NAME_WIDTH = 60


def _render_plain(report: StatusReport) -> None:
    head = ("STAGE", "DAYS", "KIND", "NAME", "EXPIRES", "SERVED")
    out: list[str] = []  # printed at once: one write, not one per line of thousands
    for n, name in enumerate(report.deployments):
        rows = _rows(report, name)
        if n:
            out.append("")
        out.append(_heading(report, name))
        if not rows:
            out.append("  nothing issued yet")
            continue
        widths = [max(len(head[k]), *(len(r[k]) for r in rows)) for k in range(5)]
        # a long name (a root on many appliances) runs over its row alone, not every row
        widths[3] = min(widths[3], _NAME_WIDTH)
        line = "  ".join(f"{h:<{w}}" for h, w in zip(head[:5], widths, strict=True))
        out.append(f"{line}  {head[5]}".rstrip())
        for r in rows:
            cells = [f"{r[0]:<{widths[0]}}", f"{r[1]:>{widths[1]}}"]
            cells += [f"{r[k]:<{widths[k]}}" for k in (2, 3, 4)]
            out.append(f"{'  '.join(cells)}  {r[5]}".rstrip())
            if r[6]:
                out.append(f"{'':<{widths[0]}}  note: {r[6]}")
    step = _served_next(report)
    if step:
        out.append(step)
    out.append(f"summary: {report.summary()}")
    click.echo("\n".join(out))


def _served_next(report: StatusReport) -> str | None:
    """The ``next:`` line when an appliance served a wrong certificate at the last probe
    (stale, unknown, temporary, HA peers disagreeing): which identities, and how to put
    their current certificate in place; None when none did."""
    names = list(dict.fromkeys(i.name for i in report.items if i.wrong_served))
    if not names:
        return None
    return (
        f"next: install the current certificate of {', '.join(names)} where the last probe "
        "saw a wrong one (`ccapki export NAME`; an HA pair's on both peers; the lab: "
        "`ccapki lab reload`), then `ccapki probe` checks what is served"
    )


_STYLE = {
    "EXPIRED": "bold red",
    "DAMAGED": "bold red",
    "NOT-YET-VALID": "bold red",  # lifecycle.status.EARLY_STAGE: every client refuses it
    "unused": "dim",
    "pending": "cyan",
    "ok": "green",
    "missing-san": "bold yellow",  # lifecycle.status.UNFIT_STAGE: a new certificate needed
}


def _render_rich(report: StatusReport) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ccapki.cli.output import console

    out = console()
    for name in report.deployments:
        rows = _rows(report, name)
        t = Table(title=escape(_heading(report, name)), title_justify="left")
        notes = any(r[6] for r in rows)
        for col in ("stage", "days", "kind", "name", "expires", "served", "note")[
            : 7 if notes else 6
        ]:
            t.add_column(col, justify="right" if col == "days" else "left")
        for r in rows:
            style = _STYLE.get(r[0], "yellow" if r[0].startswith("<=") else "")
            served = escape(r[5])
            wrong = r[2] == "identity" and r[5] != "not probed"
            if wrong and r[5] and not r[5].startswith("expected"):
                served = f"[bold red]{served}[/bold red]"
            note = escape(r[6])
            if r[6].startswith("TEMPORARY"):
                note = f"[bold magenta]{note}[/bold magenta]"
            stage = f"[{style}]{escape(r[0])}[/{style}]" if style else escape(r[0])
            cells = [stage, r[1], r[2], escape(r[3]), r[4], served, note]
            t.add_row(*cells[: 7 if notes else 6])
        if not rows:
            t.add_row("", "", "", "nothing issued yet", "", "")
        out.print(t)
    step = _served_next(report)
    if step:
        out.print(escape(step))
    word = "[green]" if report.exit_code == 0 else "[bold yellow]"
    out.print(f"summary: {word}{escape(report.summary())}[/]")


#: within this of its expiry a certificate's time left is said in hours
_DAY = dt.timedelta(days=1)


def _nagios_details(report: StatusReport) -> list[str]:
    """The plugin's long text: one line per row of the table that needs doing (a root
    several appliances trust: once, naming them)."""
    from ccapki.lifecycle.status import EARLY_STAGE, UNFIT_STAGE

    several = len(report.deployments) > 1
    held: dict[tuple[str, str], list[str]] = {}
    for i in report.items:
        if i.kind == "trust-root":
            held.setdefault((i.deployment, i.fingerprint), []).append(i.name.partition(": ")[0])
    lines = []
    for i in report.rows():
        where = f" ({i.deployment})" if several else ""
        if i.stage == "damaged" and i.in_use:  # the note names `ccapki doctor`
            lines.append(f"{i.kind} {i.name}{where}: {i.note}")
        elif i.stage == "missing":  # no certificate, no days: the note says what to do
            lines.append(f"{i.kind} {i.name}{where}: {i.note or 'no certificate yet'}")
        elif i.stage in (UNFIT_STAGE, EARLY_STAGE) and i.in_use:
            # names missing, or not valid yet (until when): the note says why and the fix
            lines.append(f"{i.kind} {i.name}{where}: {i.note}")
        elif i.warning:
            left = "expired" if i.stage == "expired" else f"{i.days_left} days left"
            if i.not_after is not None and abs(i.not_after - report.now) < _DAY:
                # within 24 hours: in hours, as every command says it (pki/expiry.py)
                from ccapki.pki.expiry import expiry_stamp, expiry_words

                stamp = expiry_stamp(i.not_after, report.now)
                left = f"{expiry_words(i.not_after, report.now)} ({stamp})"
            name = i.name
            if i.kind == "trust-root":
                names = held[(i.deployment, i.fingerprint)]
                more = f" +{len(names) - 4}" if len(names) > 4 else ""
                name = f"{i.name.partition(': ')[2]} (on {', '.join(names[:4])}{more})"
            lines.append(f"{i.kind} {name}{where}: {left} (stage {i.stage})")
        for s in i.wrong_served:
            lines.append(
                f"{s.appliance} {s.kind} ({s.address}) serves "
                f"{_article(s.verdict.value)} {s.verdict.value} certificate"
                f" instead of {i.name}{where}" + (f": {s.reason}" if s.reason else "")
            )
    return lines


def _print_json(report: StatusReport) -> None:
    """``report.to_dict()`` as JSON, indented, each item on one line: tens of thousands of
    items print in a blink (an indented dump runs json's pure-Python encoder; each item
    writes its own JSON)."""
    import json

    data = report.to_dict(items=False)
    items = report.items
    head = json.dumps(data, indent=2, default=str)[:-2]  # without the closing "\n}"
    now = report.now  # each item's hours_left, beside its days_left
    body = ",\n    ".join([i.to_json(now) for i in items])
    body = f"    {body}" if items else body
    tail = f"[\n{body}\n  ]" if items else "[]"
    sys.stdout.write(f'{head},\n  "items": {tail}\n}}\n')


def _report(env: Env, every: bool) -> StatusReport:
    from ccapki.lifecycle.status import estate_status

    now = env.now()
    with env.open_store() as store:
        if not store.deployments.names():
            raise StoreError(
                f"the store at {env.home} holds no deployment yet",
                "apply your deployment file first (`ccapki apply FILE`), then run "
                "`ccapki status` again",
            )
        if every:
            return estate_status(store, now=now)
        try:
            names = [store.deployment]
        except InputError as exc:  # several deployments, none named: --all is the other way
            raise InputError(
                exc.message, f"{exc.hint}; or see them all with `ccapki status --all`"
            ) from None
        return estate_status(store, now=now, deployments=names)


@click.command(
    epilog="""\b
EXAMPLES
  ccapki status                      every identity, CA, pending CSR and trust-store root
  ccapki status --all                every deployment of the store, one table each
  ccapki --deployment hospital status
  ccapki status --json               the report as JSON (items, stages, what is served)
  ccapki status --nagios --all       a monitoring-plugin check (Nagios, Icinga, Sensu)
  CCAPKI_NOW=2027-09-01T00:00:00+00:00 ccapki status     what-if: the estate on that date

\b
Stages come from the deployment file: [monitoring] warn_days = [60, 30, 7] (the default);
"<=30d" means at most 30 days left. TEMPORARY marks an appliance's own install-time
certificate (source self-signed or perfigo, adopted by `ccapki import`, not issued by
ccapki), which from CCA 4.7.2 to 4.7's last release lasts only 3 months; a self-signed
identity ccapki issued is noted as such (clients trust it once `ccapki export-roots` is
installed). SERVED is what each appliance presented at its last `ccapki probe`, and since
when. A trust-store root is one row, however many appliances trust it: the summary, the
Nagios data and the JSON `counts` count rows, while the JSON `items` list the root once per
appliance that trusts it. A true self-signed identity, also the root its peers trust, is
its identity's row alone.
Within 24 hours of expiry the table, notes and --nagios lines say it in hours ("expires
in 5 hours": DAYS 5h; "expired 16 hours ago": DAYS -16h; --json keeps days_left, 0 or
-1, and adds hours_left, rounded down alike). "rollover" (a warning) marks a
signing CA that can no longer sign for the validity its identities ask for: the next
renewal makes its successor (G2). DAMAGED marks an identity whose stored certificate
is not the one its row names (`ccapki doctor` says what and how to restore it). A
pending CSR made for names or a key type the file no longer gives is stale (make a new
one). "missing-san" (a warning) marks an identity whose certificate lacks names the
deployment file gives it (an HA peer renamed, a hostname or IP changed), as `ccapki
check-ha` and `ccapki trust check` find it: the note says how to get a new certificate
(`ccapki apply` reissues it; a third-party one needs a new CSR). NOT-YET-VALID marks an
identity whose certificate is not valid yet (its CA dated it ahead, or this machine's
clock is behind): every client would refuse it; the note says until when and the fix,
as `ccapki doctor` does.

\b
EXIT CODES
  0 fine
  1 a warning stage (rollover, missing-san too), expired, NOT-YET-VALID, a wrong
    certificate served, an identity the file plans still without a certificate, or
    DAMAGED
  2 bad input (no store, several deployments and none named)
  with --nagios:
  0 OK   1 WARNING (a warning stage, rollover, missing-san, an identity not yet
    issued)
  2 CRITICAL (expired, NOT-YET-VALID, a wrong certificate served, DAMAGED)
  3 UNKNOWN (any error, no store, unreadable store; error, hint on stderr)
"""
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--nagios",
    is_flag=True,
    help="Monitoring-plugin output: one status line with performance data; exit 0-3.",
)
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Every deployment of the store (default: the one --deployment names, or the only one).",
)
@pass_env
def status(env: Env, as_json: bool, nagios: bool, every: bool) -> int:
    """Every certificate by days left, with staged warnings and what each appliance serves."""
    from ccapki._util import gc_paused

    with gc_paused():  # tens of thousands of small objects, no cycles: no collector passes
        return _status(env, as_json, nagios, every)


def _status(env: Env, as_json: bool, nagios: bool, every: bool) -> int:
    if not nagios:
        report = _report(env, every)
        if as_json:
            _print_json(report)
        elif sys.stdout.isatty():
            _render_rich(report)
        else:
            _render_plain(report)
        return report.exit_code
    try:
        if as_json:
            raise InputError(
                "--json and --nagios both given", "choose one: --json, or --nagios for a check"
            )
        report = _report(env, every)
    except CcapkiError as exc:
        click.echo(f"CCAPKI UNKNOWN - {exc.message}")
        click.echo(f"error: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"hint: {exc.hint}", err=True)
        return 3
    except Exception as exc:
        if env.debug:
            raise
        from ccapki.cli.app import database_trouble

        trouble = database_trouble(exc)  # a damaged or locked file: not a ccapki bug
        if trouble is not None:
            click.echo(f"CCAPKI UNKNOWN - {trouble.message}")
            click.echo(f"error: {trouble.message}\nhint: {trouble.hint}", err=True)
            return 3
        click.echo(f"CCAPKI UNKNOWN - internal error: {type(exc).__name__}")
        click.echo(f"error: internal error: {type(exc).__name__}: {exc}", err=True)
        click.echo(
            "hint: this is a ccapki bug: run again with --debug and report the traceback",
            err=True,
        )
        return 3
    click.echo(report.nagios_line())
    for line in _nagios_details(report):
        click.echo(line)
    return report.nagios_code


def _article(word: str) -> str:
    """ "a" or "an" before ``word``."""
    return "an" if word[:1] in "aeiou" else "a"
