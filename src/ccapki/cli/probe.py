"""``ccapki probe``: what every endpoint really serves, against what the store holds."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, cast

import click

from ccapki.cli.app import Env, pass_env
from ccapki.cli.common import FiniteFloatRange
from ccapki.errors import InputError, StoreError

if TYPE_CHECKING:
    from ccapki.lab import LabStatus
    from ccapki.lab.daemon import LabState
    from ccapki.lifecycle.probing import ProbeRun
    from ccapki.lifecycle.verify import LiveTarget
    from ccapki.topology.model import Deployment

__all__ = ["probe"]

_COLOURS = {
    "expected": "green",
    "stale": "yellow",
    "temporary": "yellow",
    "unknown": "red",
    "ha-mismatch": "red",
    "unreachable": "red",
    "not-tls": "red",
    "handshake-error": "red",
}


@click.command(
    "probe",
    epilog="""\b
EXAMPLES
  ccapki probe                       every endpoint of every deployment (the lab, or the
                                     real endpoints the deployment file gives)
  ccapki probe cas-dorm cam:gui      one appliance (or HA pair), and one endpoint
  ccapki probe --target deployment --concurrency 128 --timeout 3 --retries 2
  ccapki probe --json

One TLS handshake per endpoint reads the chain it presents (nothing is verified, nothing
changes on the appliance), its protocol version and the handshake time, and compares the
chain with the store: expected (the identity's current certificate), stale (an older
version: reload or install the current one), unknown (a certificate the store does not
hold for it: installed by hand; "expected (chain incomplete)" when the right certificate
is sent without its intermediate, which Java on the appliances does not fetch), temporary
(the release's install-time certificate still in place), ha-mismatch (the two peers of
an HA pair present different certificates), unreachable (refused, timed out, no such
host), not-tls, handshake-error. Results are kept
in the store with the time each endpoint was first seen presenting its certificate
(`since`), for `ccapki status`. A TARGET is an appliance, an identity (both peers of an HA
pair) or APPLIANCE:KIND (control, heartbeat, agent, web-login, gui). The handshakes run on
the real clock, so CCAPKI_NOW is refused. A progress bar shows on a terminal (stderr).

\b
EXIT CODES
  0 every endpoint presents its current certificate with its whole chain
  1 anything else: stale, unknown, temporary, ha-mismatch, unreachable, not-tls, handshake,
    a chain without its intermediate
  2 bad input: an unknown TARGET, no lab running and no endpoints in the deployment file,
    no store or deployment, CCAPKI_NOW set
""",
)
@click.argument("targets", nargs=-1, metavar="[TARGET]...")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 4096),
    default=256,
    show_default=True,
    help="Endpoints probed at the same time.",
)
@click.option(
    "--timeout",
    type=FiniteFloatRange(0, 3600, min_open=True),
    default=None,
    metavar="SECONDS",
    help="Seconds per endpoint, all attempts together (default: the deployment file's "
    "[monitoring] probe_timeout, 5).",
)
@click.option(
    "--retries",
    type=click.IntRange(0, 10),
    default=1,
    show_default=True,
    help="More attempts for a refused, reset or closed connection (after 0.2 s, doubling).",
)
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
def probe(
    env: Env,
    targets: tuple[str, ...],
    concurrency: int,
    timeout: float | None,
    retries: int,
    target: str,
    as_json: bool,
) -> int:
    """Probe every endpoint and compare what it serves with the store."""
    from ccapki.lab.daemon import read_state
    from ccapki.lifecycle.probing import endpoints_for, probe_deployment, select_endpoints
    from ccapki.lifecycle.verify import uses_real_endpoints

    when = os.environ.get("CCAPKI_NOW")
    if when:  # the handshakes run on the real clock; their results are kept with it
        raise InputError(
            f"`ccapki probe` records real handshakes, which run on the real clock; "
            f"CCAPKI_NOW={when} would stamp them with another time",
            f"unset CCAPKI_NOW for probe; for a what-if at that time run "
            f"`CCAPKI_NOW={when} ccapki trust check`",
        )
    live = cast("LiveTarget", target)
    deployments = _deployments(env)
    state: LabState | None = None
    lab: LabStatus | None = None
    if any(not uses_real_endpoints(d, live) for d in deployments):
        state = read_state(env.home / "lab")
        if state is not None and state.alive and state.status is not None:
            lab = state.status
    plans: list[tuple[Deployment, LabStatus]] = []
    skipped: list[str] = []
    for dep in deployments:
        # a lab started for another deployment serves none of this one's endpoints
        mine = None if state is not None and state.serves_other(dep.name) else lab
        found = endpoints_for(dep, live, mine)
        if found is None or not found[0].endpoints:
            skipped.append(dep.name)
        else:
            plans.append((dep, found[0]))
    if not plans:
        raise _nothing_to_probe(env, live, state, lab, [d.name for d in deployments])
    plans = select_endpoints(plans, targets)
    runs: list[ProbeRun] = []
    total = sum(len(s.endpoints) for _, s in plans)
    with _progress(total) as advance:
        for dep, status in plans:
            with env.open_store() as store:
                runs.append(
                    probe_deployment(
                        store,
                        dep,
                        status,
                        now=env.now(),
                        concurrency=concurrency,
                        timeout=timeout,
                        retries=retries,
                        progress=advance(len(status.endpoints)),
                    )
                )
    env.work_done()
    unprobed = skipped if not targets else []
    code = max(r.exit_code for r in runs)
    if as_json:
        from ccapki.cli.output import print_json

        print_json(
            {
                "exit_code": code,
                "runs": [r.to_dict() for r in runs],
                "not_probed": unprobed,
            }
        )
        return code
    for run in runs:
        _render(run)
    for name in unprobed:
        click.echo(
            f"not probed: deployment {name} (its file gives no endpoints, and the lab does "
            "not serve it)",
            err=True,
        )
    return code


def _deployments(env: Env) -> list[Deployment]:
    """The deployment named (``--deployment``), the store's only one, or every deployment
    the store holds a file of."""
    from ccapki.cli.common import load_deployment_arg
    from ccapki.topology.fastload import parse_deployment

    if env.deployment_option is not None or not env.store_exists():
        return [load_deployment_arg(env, None)[0]]
    with env.open_store() as store:
        names = store.deployments.names()
        if len(names) <= 1:
            return [load_deployment_arg(env, None)[0]]
        out = []
        for name in names:
            with store.scoped(name):
                kept = store.deployments.latest()
            if kept is not None:
                out.append(parse_deployment(kept.text, kept.path or "<stored deployment>"))
    if not out:
        raise StoreError(
            f"the store at {env.home} holds no deployment file",
            "apply your deployment file first (`ccapki apply FILE`), then run `ccapki probe`",
        )
    return out


def _nothing_to_probe(
    env: Env,
    target: LiveTarget,
    state: LabState | None,
    lab: LabStatus | None,
    names: list[str] | None = None,
) -> Exception:
    from ccapki.cli.lab import _stale_note

    if target == "deployment":
        return InputError(
            "no endpoint to probe: the deployment file gives none",
            'give endpoints = { control = "host:port", ... } per appliance in the deployment '
            "file, or probe the lab (`ccapki lab up`, then `ccapki probe --target lab`)",
        )
    if (
        lab is not None
        and state is not None
        and names
        and len(names) == 1
        and state.serves_other(names[0])
    ):
        # the lab serves another deployment of this store than the one asked for
        named = names[0]
        return StoreError(
            f"the lab of {env.home} serves deployment {state.serves!r}, not {named!r}",
            f"probe {state.serves!r} (`ccapki --deployment {state.serves} probe`), or serve "
            f"{named!r}: `ccapki lab down`, then `ccapki --deployment {named} lab up`; or give "
            'real endpoints in the deployment file (endpoints = { control = "host:port", ... })',
        )
    if lab is not None:
        return StoreError(
            f"the lab running for {env.home} serves none of this store's deployments",
            "restart it for the deployment to probe (`ccapki lab down`, `ccapki lab up`), or "
            'give real endpoints in the deployment file (endpoints = { control = "host:port", '
            "... }) and use --target deployment",
        )
    return StoreError(
        f"no lab runs for {env.home}{_stale_note(state)}",
        "start one with `ccapki lab up`, or give real endpoints in the deployment "
        'file (endpoints = { control = "host:port", ... }) and use --target deployment',
    )


@contextmanager
def _progress(
    total: int,
) -> Iterator[Callable[[int], Callable[[int, int], None] | None]]:
    """``advance(n)`` -> a ``progress(done, total)`` callback for a run of ``n`` endpoints,
    moving one bar over all runs; a bar only when standard error is a terminal."""
    if not sys.stderr.isatty():
        yield lambda _n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from ccapki.cli.output import console

    bar = Progress(
        "probing",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console(stderr=True),
        transient=True,
    )
    task = bar.add_task("probe", total=total)
    base = [0]

    def advance(n: int) -> Callable[[int, int], None]:
        offset = base[0]
        base[0] += n

        def update(done: int, _total: int) -> None:
            bar.update(task, completed=offset + done)

        return update

    with bar:
        yield advance


def _render(run: ProbeRun) -> None:
    from rich.table import Table

    from ccapki.cli.output import console

    out = console()
    table = Table(
        title=f"probe: {run.deployment} ({run.summary}; {run.seconds:.1f} s)",
        title_justify="left",
    )
    for col in ("appliance", "kind", "address"):
        table.add_column(col, overflow="fold")
    table.add_column("verdict", no_wrap=True)
    table.add_column("since")  # wraps between the date and the time on a narrow terminal
    table.add_column("protocol", no_wrap=True)
    table.add_column("reason", overflow="fold", min_width=24, ratio=1)
    for r in run.records:
        colour = _COLOURS.get(r.verdict.value, "red")
        since = r.since.strftime("%Y-%m-%d %H:%M") if r.since else "-"
        flag = (
            " [yellow](chain incomplete)[/yellow]"
            if run.incomplete.get((r.appliance, r.kind))
            else ""
        )
        table.add_row(
            r.appliance,
            r.kind,
            r.address,
            f"[{colour}]{r.verdict.value}[/{colour}]{flag}",
            since,
            r.protocol or "-",
            _escape(r.reason),
        )
    out.print(table)
    bad = [r for r in run.records if run.needs_a_look(r)]
    if not bad:
        out.print(f"every endpoint of {run.deployment} presents its current certificate")
    else:
        out.print(f"{len(bad)} of {len(run.records)} endpoints of {run.deployment} need a look")
    for r in run.records:
        missing = run.incomplete.get((r.appliance, r.kind))
        if missing and r.identity:
            out.print(
                _escape(
                    f"{r.appliance} {r.kind} sends {r.identity}'s certificate without the "
                    f"intermediate {', '.join(missing)}: Java on the appliances (the CAM/CAS "
                    "links) and other clients that do not fetch it fail; hint: install the "
                    f"full chain (`ccapki export {r.identity} --format pem-bundle`)"
                ),
                soft_wrap=True,
            )


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
