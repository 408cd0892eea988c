"""``ccapki lab`` (emulated appliances over real TLS) and ``ccapki verify --live``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from ccapki.cli.app import Env, pass_env
from ccapki.cli.common import FiniteFloatRange
from ccapki.errors import InputError, Interrupted, StoreError

if TYPE_CHECKING:
    from ccapki.lab import LabStatus
    from ccapki.lab.daemon import LabState
    from ccapki.lifecycle.verify import LiveReport, LiveTarget

__all__ = ["lab", "verify"]

LOADER = "ccapki.lifecycle.labspec:load_spec"


def _state_dir(env: Env) -> Path:
    return env.home / "lab"


@click.group(
    epilog="""\b
EXAMPLES
  ccapki lab up          start every appliance of the stored deployment on 127.0.0.1
  ccapki lab status      endpoints and links (CAS "Not connected", "HA broken" ...)
  ccapki lab reload      serve what the store holds now (after apply / trust apply)
  ccapki lab down        stop it

The lab is one background process; its log is lab/lab.log in the store folder.

\b
EXIT CODES
  0 done (`ccapki lab` alone: this help)   1 lab status: a link is down
  2 bad input (see each command's --help)
"""
)
def lab() -> None:
    """Emulated CAM and CAS appliances: every channel over real TLS on loopback."""


@lab.command(
    "up",
    epilog="""\b
EXAMPLES
  ccapki lab up                     every appliance of the stored deployment on 127.0.0.1
  ccapki lab up --interval 1 --json

\b
EXIT CODES
  0 the lab runs   2 no store or no deployment applied yet, a wrong passphrase, a lab
                     already runs (for this or another deployment), or the lab could
                     not start (see lab/lab.log)
  130/143 interrupted: the lab may have started anyway (`ccapki lab status`)
""",
)
@click.option(
    "--interval",
    type=FiniteFloatRange(0.1, 3600),  # 0, a negative number, nan: never a busy loop
    default=5.0,
    show_default=True,
    help="Seconds between link checks.",
)
@click.option("--json", "as_json", is_flag=True)
@pass_env
def lab_up(env: Env, interval: float, as_json: bool) -> int:
    """Start the lab for the deployment the store holds."""
    from ccapki.lab.daemon import start_background

    with env.open_store() as store:
        store.unlock()  # a wrong passphrase fails here, not inside the daemon
        # the deployment named (--deployment / CCAPKI_DEPLOYMENT), else the store's only
        # one: an ambiguous store fails here, and the daemon is told which one to serve
        name = store.deployment
        kept = store.deployments.latest()
        if kept is None:
            raise StoreError("the store holds no deployment", "run `ccapki apply FILE` first")
        # an identity with no certificate (a third-party one before its CSR is answered):
        # said here, naming it and its next step, not by a daemon that stopped
        from ccapki.lifecycle.labspec import missing_certificates
        from ccapki.topology.loader import parse_deployment

        missing = missing_certificates(
            store, parse_deployment(kept.text, kept.path or "<stored deployment>")
        )
        if missing is not None:
            raise missing
    from ccapki.lab.daemon import read_state

    running = read_state(_state_dir(env))
    if running is not None and running.alive and running.serves_other(name):
        # one lab per store: say whose it is ("lab reload" would reload that one, not this)
        raise StoreError(
            f"a lab already runs in {env.home} for deployment {running.serves!r} "
            f"(pid {running.pid}), not {name!r}",
            f"stop it first (`ccapki lab down`), then `ccapki --deployment {name} lab up`",
        )
    child_env = dict(os.environ)
    if env.store_exists() and "CCAPKI_PASSPHRASE" not in child_env:
        passphrase = _passphrase_if_needed(env)
        if passphrase is not None:
            child_env["CCAPKI_PASSPHRASE"] = passphrase
    try:
        state = start_background(
            _state_dir(env),
            loader=LOADER,
            loader_args=[str(env.home), str(interval), name],
            env=child_env,
            serves=name,
        )
    except Interrupted as exc:  # the daemon may have started: it runs detached
        exc.hint = (
            "the lab may have started anyway: see `ccapki lab status`; `ccapki lab down` stops it"
        )
        raise
    env.work_done()  # the lab runs: a late Ctrl-C no longer makes this an error
    started = f"lab up: deployment {name}, pid {state.pid}, log {state.log_path}"
    if as_json:
        # standard output holds one JSON document (lab status --json's, with the pid and
        # the log): the line for a person goes to standard error
        from ccapki.cli.output import print_json

        click.echo(started, err=True)
        status: dict[str, object] = {"running": True, "generated_at": None}
        status.update({k: [] for k in ("endpoints", "links", "appliances", "pairs")})
        if state.status is not None:
            status = state.status.to_dict()
        print_json({**status, "deployment": name, "pid": state.pid, "log": str(state.log_path)})
        return 0
    click.echo(started)
    if state.status is not None:
        _render_status(state.status, as_json)
    return 0


def _passphrase_if_needed(env: Env) -> str | None:
    from ccapki.home import KEY_FILE

    if (env.home / KEY_FILE).exists():
        return None
    return env.passphrase()


@lab.command(
    "status",
    epilog="""\b
EXAMPLES
  ccapki lab status                 endpoints and links, in the GUI's words
  ccapki lab status --json

An HA pair's heartbeat ("HA up" / "HA broken") is a real IKEv2 negotiation, both ways,
between two strongSwan charon daemons in network namespaces when the lab runs as root with
strongSwan installed; else the lab's TLS emulation of it. The status says which (--json:
pairs[].stack "strongswan" or the emulation's, pairs[].ike_unavailable: why not strongSwan).

\b
EXIT CODES
  0 every checked link is up   1 a link is down   2 no lab runs for this store (or it
    serves another deployment than --deployment names)
""",
)
@click.option("--json", "as_json", is_flag=True)
@pass_env
def lab_status(env: Env, as_json: bool) -> int:
    """Every endpoint and link of the running lab. Exit 1 if a link is down (not yet
    checked links do not count)."""
    from ccapki.lab.daemon import read_state

    state = read_state(_state_dir(env))
    if state is None or not state.alive or state.status is None:
        raise StoreError(
            f"no lab runs for {env.home}{_stale_note(state)}", "start one with `ccapki lab up`"
        )
    named = env.deployment_option
    if named is not None and state.serves_other(named):
        # another deployment's links "up" must not answer for the one named (exit 0)
        raise StoreError(
            f"the lab of {env.home} serves deployment {state.serves!r}, not {named!r}",
            f"see it with `ccapki --deployment {state.serves} lab status`, or serve {named!r}: "
            f"`ccapki lab down`, then `ccapki --deployment {named} lab up`",
        )
    _render_status(state.status, as_json, serves=state.serves)
    return 0 if state.status.links_up else 1


def _started_by_older(env: Env, exc: StoreError, running: LabState | None) -> StoreError | None:
    """The error of a reload the lab refused because the store's schema is newer than it
    knows while this ccapki reads the store: an older ccapki started the lab and the store
    was upgraded since (``ccapki upgrade``). The lab's own hint (use a newer ccapki) is
    wrong then: this one is that ccapki, and the lab must be restarted with it. None when
    the refusal is another, or when this ccapki cannot read the store either."""
    if "newer than this ccapki knows" not in exc.message:
        return None
    from ccapki.store.health import examine_database
    from ccapki.store.schema import SCHEMA_HEAD

    # the store's revision read as it is (an open store of this process may have checked
    # it before it changed): this ccapki's own, or the lab is right
    if examine_database(env.home, env.database_url, quick=True).revision != SCHEMA_HEAD:
        return None
    named = f"--deployment {running.serves} " if running and running.serves else ""
    return StoreError(
        "the lab did not reload: an older ccapki started it, and it cannot read the store "
        "since `ccapki upgrade`",
        f"restart it with this ccapki: `ccapki lab down`, then `ccapki {named}lab up` "
        "(until then it keeps serving what it served before)",
    )


@lab.command(
    "reload",
    epilog="""\b
EXAMPLES
  ccapki apply && ccapki lab reload          serve the new certificates
  ccapki trust apply && ccapki lab reload    and the new trust stores

\b
EXIT CODES
  0 reloaded   2 no lab runs for this store, it serves another deployment than
                 --deployment names (nothing reloaded), or the reload failed (see
                 lab/lab.log)
""",
)
@pass_env
def lab_reload(env: Env) -> int:
    """Reload certificates and trust stores from the store without restarting."""
    from ccapki.lab.daemon import read_state, request_reload

    named = env.deployment_option
    running = read_state(_state_dir(env))
    if named is not None and running is not None and running.alive and running.serves_other(named):
        # reloading another deployment's lab must not answer "reloaded" for the one named
        raise StoreError(
            f"the lab of {env.home} serves deployment {running.serves!r}, not {named!r}: "
            "nothing was reloaded",
            f"reload {running.serves!r} (`ccapki --deployment {running.serves} lab reload`), "
            f"or serve {named!r}: `ccapki lab down`, then `ccapki --deployment {named} lab up`",
        )
    try:
        state = request_reload(_state_dir(env))
    except StoreError as exc:
        raise _started_by_older(env, exc, running) or exc from None
    from ccapki.cli.output import plural

    click.echo(f"lab reloaded ({plural(state.reloads, 'reload')} so far)")
    if state.status is not None:
        _render_status(state.status, False)
    return 0


@lab.command(
    "down",
    epilog="""\b
EXAMPLES
  ccapki lab down                   stop this store's lab (never another home's)

\b
EXIT CODES
  0 stopped (or none was running)   2 bad input
""",
)
@pass_env
def lab_down(env: Env) -> int:
    """Stop the lab."""
    from ccapki.lab.daemon import read_state, stop_background

    state = read_state(_state_dir(env))  # a copied home's stale state is noticed (and removed)
    stopped = stop_background(_state_dir(env))
    served = f" (it served deployment {state.serves})" if state and state.serves else ""
    click.echo(
        f"lab stopped{served}"
        if stopped
        else f"no lab was running for {env.home}{_stale_note(state)}"
    )
    return 0


def _stale_note(state: LabState | None) -> str:
    """Why the lab state found in this home is not its lab (a copied home), if so."""
    if state is None or not state.foreign:
        return ""
    return f" ({state.foreign}; its stale lab state was removed here, that lab left running)"


def _render_status(status: LabStatus, as_json: bool, *, serves: str | None = None) -> None:
    if as_json:
        from ccapki.cli.output import print_json

        print_json({**status.to_dict(), **({"deployment": serves} if serves else {})})
        return
    if serves:
        click.echo(f"the lab serves deployment {serves}")
    from rich.markup import escape
    from rich.table import Table

    from ccapki.cli.output import console, plural

    out = console()
    t = Table(title="lab links", title_justify="left")
    for col in ("link", "address", "state", "error"):
        t.add_column(col)
    for link in status.links:
        state = (
            "[dim]?[/dim]"
            if link.ok is None
            else ("[green]up[/green]" if link.ok else "[red]DOWN[/red]")
        )
        t.add_row(link.name, link.address, state, escape(link.error or ""))
    out.print(t)
    down = status.cas_not_connected()
    for a in down:
        out.print(f"{a.name}: {escape(a.state)}" + (f": {escape(a.detail)}" if a.detail else ""))
    broken = status.pairs_not_up()
    for p in broken:
        out.print(f"pair {p.pair}: {escape(p.state)} {escape(p.error or '')}")
    if down or broken:  # the lab serves what the store holds: the store's fix is the lab's
        out.print(
            "next: `ccapki trust check` says why and names the fix (`ccapki trust apply` for "
            "a trust store, `ccapki apply` or `ccapki renew` for a certificate); then "
            "`ccapki lab reload`",
            soft_wrap=True,
        )
    note = _lab_heartbeat_note(status)
    if note:
        out.print(escape(note))
    host = status.endpoints[0].host if status.endpoints else "-"
    out.print(f"{plural(len(status.endpoints), 'endpoint')} on {host}")


def _lab_heartbeat_note(status: LabStatus) -> str | None:
    """What judged the HA pairs' heartbeat in the lab: strongSwan, or the TLS emulation."""
    from ccapki.lab.ipsec import IPSEC_STACK

    judged = [p for p in status.pairs if p.stack]
    if not judged:
        return None
    by_ike = [p.pair for p in judged if p.stack == "strongswan"]
    emulated = [p for p in judged if p.stack != "strongswan"]
    lines = []
    if by_ike:
        lines.append(
            f"HA heartbeat of {', '.join(by_ike)}: {IPSEC_STACK} between two charon daemons "
            "per pair, judged by IKE_AUTH both ways"
        )
    if emulated:
        why = "; ".join(dict.fromkeys(p.ike_unavailable or "not run" for p in emulated))
        lines.append(
            f"HA heartbeat of {', '.join(p.pair for p in emulated)}: the lab's TLS emulation "
            f"({IPSEC_STACK} not run: {why})"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------- verify --live


@click.command(
    epilog="""\b
EXAMPLES
  ccapki lab up && ccapki verify --live      every channel of the lab, by real handshakes
  ccapki verify --live --json

Each channel is probed as its real client connects (trust store, client certificate, name).
The live result must agree with `ccapki trust check` in every cell; a disagreement is a
ccapki bug and is reported as such. A cell whose handshake passes but which a client
platform refuses by policy (macOS and iOS rules: no handshake here shows them) is listed
apart, with trust check's reasons. Probes are read-only: a handshake and at most a GET /.
Real appliances: give `endpoints = { control = "host:port", gui = "host:port", ... }` per
appliance in the deployment file; `verify --live` then probes those (never changing them).
A cell with a link to an appliance whose endpoint is not given is "not probed", never
compared (IPv6 endpoints go in brackets: "[2001:db8::1]:443").
Run as root with strongSwan installed, the lab's HA heartbeat cells are judged by real IKEv2
between two charon daemons in network namespaces (else by the lab's TLS emulation).

\b
EXIT CODES
  0 all pass and agree   1 findings   2 bad input / no lab   3 live and offline disagree
"""
)
@click.option("--live", is_flag=True, required=True, help="Probe by real handshakes.")
@click.option(
    "--target",
    type=click.Choice(["auto", "lab", "deployment"]),
    default="auto",
    show_default=True,
    help="The lab, or the real host:port endpoints the deployment file gives "
    "(auto: the deployment's when it names any).",
)
@click.option("--json", "as_json", is_flag=True)
@pass_env
def verify(env: Env, live: bool, target: str, as_json: bool) -> int:
    """Verify every channel live and compare with the offline verdicts."""
    from ccapki.cli.common import load_deployment_arg
    from ccapki.lab.daemon import read_state
    from ccapki.lifecycle.labspec import build_spec
    from ccapki.lifecycle.trustops import load_inventory
    from ccapki.lifecycle.verify import (
        LiveState,
        real_endpoints_status,
        uses_real_endpoints,
        verify_live,
    )

    if not live:
        raise InputError("only --live is supported", "run `ccapki verify --live`")
    when = os.environ.get("CCAPKI_NOW")
    if when:  # the handshakes cannot move the clock: both sides must judge at one instant
        raise InputError(
            f"`ccapki verify --live` compares real handshakes, which run on the real clock, "
            f"with the offline verdicts; CCAPKI_NOW={when} would judge those at another time",
            f"unset CCAPKI_NOW for verify --live; for a what-if at that time run "
            f"`CCAPKI_NOW={when} ccapki trust check`",
        )
    dep, _ = load_deployment_arg(env, None)
    real = uses_real_endpoints(dep, cast("LiveTarget", target))
    material = None
    if real:
        status = real_endpoints_status(dep)
    else:
        state = read_state(_state_dir(env))
        if state is None or not state.alive or state.status is None:
            raise StoreError(
                f"no lab runs for {env.home}{_stale_note(state)}",
                "start one with `ccapki lab up`, or give real endpoints in the deployment "
                'file (endpoints = { control = "host:port", ... }) and use --target deployment',
            )
        if state.serves_other(dep.name):
            raise StoreError(
                f"the lab of {env.home} serves deployment {state.serves!r}, not {dep.name!r}",
                f"verify {state.serves!r} (`ccapki --deployment {state.serves} verify --live`), "
                f"or serve {dep.name!r}: `ccapki lab down`, then "
                f"`ccapki --deployment {dep.name} lab up`",
            )
        status = state.status
        material = state.material
    with env.open_store() as store:
        spec = build_spec(store, dep)
        inv = load_inventory(store, dep)
    report = verify_live(spec, inv, status, now=env.now(), real=real, lab_material=material)
    if as_json:
        from ccapki.cli.output import print_json

        print_json(report.to_dict())
    else:
        _render_live(report)
        if report.lab_outdated:
            click.echo(
                "not compared: the lab serves other certificates or trust stores than the "
                f"store holds now for {', '.join(report.lab_outdated)} (changed since "
                "`ccapki lab up` / `ccapki lab reload`); run `ccapki lab reload`, then "
                "`ccapki verify --live`"
            )
        if report.unprobed_endpoints:
            click.echo(
                "not probed (never compared): no endpoint in the deployment file for "
                + ", ".join(f"{u.appliance} {u.kind}" for u in report.unprobed_endpoints)
                + '; add endpoints = { KIND = "host:port" } to probe them'
            )
        for cell in report.disagreements:
            said = {None: "does not apply (n/a)", True: "passes", False: "fails"}[cell.offline]
            seen = {
                LiveState.PASSED: "passed",
                LiveState.FAILED: "failed",
                LiveState.NOT_APPLICABLE: "verified nothing (n/a)",
            }.get(cell.live, cell.live.value)
            click.echo(
                f"ccapki bug: offline ({cell.offline_stack}) says {cell.appliance} "
                f"{cell.channel.value} {said}, the live handshake ({cell.live_stack or 'none'}) "
                f"{seen}: please report it with `ccapki verify --live --json` and "
                "`ccapki trust check --json`",
                err=True,
            )
    return report.exit_code


def _heartbeat_note(report: LiveReport) -> str | None:
    """Which stack judged the ha-heartbeat cells: strongSwan, or the lab's TLS emulation."""
    from ccapki.lab.ipsec import IPSEC_STACK
    from ccapki.lifecycle.verify import LiveState
    from ccapki.topology.model import Channel

    if report.heartbeats:
        child = "; ".join(dict.fromkeys(h.child_sa for h in report.heartbeats))
        return (
            f"ha-heartbeat: {IPSEC_STACK}, two charon daemons per pair, judged by IKE_AUTH "
            f"both ways (CHILD_SA: {child})"
        )
    shown = any(
        c.channel is Channel.HA_HEARTBEAT and c.live is not LiveState.NOT_APPLICABLE
        for c in report.cells
    )
    if shown and report.ike_unavailable:
        return f"ha-heartbeat: TLS emulation ({IPSEC_STACK} not run: {report.ike_unavailable})"
    return None


def _stack_lines(report: LiveReport) -> list[str]:
    """Per channel: the stack the offline verdict models and the stack(s) that made the
    live handshakes (by cell when they differ)."""
    from ccapki.topology.model import Channel

    lines = []
    for ch in Channel:
        cells = [c for c in report.cells if c.channel is ch]
        offline = sorted({c.offline_stack for c in cells if c.offline_stack})
        by_live: dict[str, list[str]] = {}
        for c in cells:
            if c.live_stack:
                by_live.setdefault(c.live_stack, []).append(c.appliance)
        if not by_live:
            continue
        if len(by_live) == 1:
            live = next(iter(by_live))
        else:
            live = "; ".join(f"{k} ({', '.join(v)})" for k, v in by_live.items())
        lines.append(f"{ch.value}: offline models {', '.join(offline)}; live by {live}")
    return lines


def _render_live(report: LiveReport) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ccapki.cli.output import console
    from ccapki.lifecycle.verify import LiveState
    from ccapki.topology.model import Channel

    out = console()
    t = Table(
        title=f"verify --live: {report.deployment} ({report.probes} real handshakes)",
        title_justify="left",
    )
    t.add_column("appliance")
    channels = list(Channel)
    for ch in channels:
        t.add_column(ch.value)
    by = {(c.appliance, c.channel): c for c in report.cells}
    for name in report.appliances:
        line = [name]
        for ch in channels:
            c = by.get((name, ch))
            if c is None or c.live is LiveState.NOT_APPLICABLE:
                line.append("[dim]n/a[/dim]")
            elif c.live is LiveState.NOT_PROBED:
                line.append(
                    "[yellow]not probed[/yellow]"
                    + (" [red](a link FAILs)[/red]" if c.errors else "")
                )
            else:
                mark = "[green]pass[/green]" if c.live is LiveState.PASSED else "[red]FAIL[/red]"
                if not c.compared:
                    mark += " [yellow](not compared)[/yellow]"
                line.append(mark + ("" if c.agree else " [bold red](!)[/bold red]"))
        t.add_row(*line)
    out.print(t)
    for stack_line in _stack_lines(report):
        out.print(escape(stack_line))
    note = _heartbeat_note(report)
    if note:
        out.print(escape(note))
    shown: set[str] = set()
    for c in report.cells:
        for e in c.errors:
            if e not in shown:
                shown.add(e)
                out.print(f"[red]FAIL[/red] {escape(e)}")
    refused = [c for c in report.cells if c.refusals]
    if refused:
        out.print(
            f"[yellow]{len(refused)} cell(s) pass the handshake, but client platforms refuse "
            "them by policy or by a rule of their own stack, such as Chromium's keyUsage check "
            "(no handshake here can show it; `ccapki trust check` fails them):"
            "[/yellow]"
        )
        for c in refused:
            for why in c.refusals:
                out.print(f"  {escape(c.appliance)} {c.channel.value}: {escape(why)}")
    unprobed = report.not_probed
    if not report.agree:
        out.print("")
    elif unprobed:
        out.print(
            f"offline verdicts and live handshakes agree in every probed cell ({unprobed} "
            "not probed)"
        )
    else:
        out.print("offline verdicts and live handshakes agree in every cell")
