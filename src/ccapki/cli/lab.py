"""``ccapki lab`` (emulated appliances over real TLS) and ``ccapki verify --live``."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ccapki.cli.app import Env, pass_env
from ccapki.errors import InputError, StoreError

if TYPE_CHECKING:
    from ccapki.lab import LabSpec, LabStatus
    from ccapki.probe import ProbeTarget

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
"""
)
def lab() -> None:
    """Emulated CAM and CAS appliances: every channel over real TLS on loopback."""


@lab.command("up")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between link checks.")
@click.option("--json", "as_json", is_flag=True)
@pass_env
def lab_up(env: Env, interval: float, as_json: bool) -> int:
    """Start the lab for the deployment the store holds."""
    from ccapki.lab.daemon import start_background

    store = env.open_store()
    try:
        store.unlock()  # a wrong passphrase fails here, not inside the daemon
        if store.deployment_text() is None:
            raise StoreError("the store holds no deployment", "run `ccapki apply FILE` first")
    finally:
        store.close()
    child_env = dict(os.environ)
    if env.store_exists() and "CCAPKI_PASSPHRASE" not in child_env:
        passphrase = _passphrase_if_needed(env)
        if passphrase is not None:
            child_env["CCAPKI_PASSPHRASE"] = passphrase
    state = start_background(
        _state_dir(env), loader=LOADER, loader_args=[str(env.home), str(interval)], env=child_env
    )
    click.echo(f"lab up: pid {state.pid}, log {state.log_path}")
    if state.status is not None:
        _render_status(state.status, as_json)
    return 0


def _passphrase_if_needed(env: Env) -> str | None:
    from ccapki.store.db import KEY_FILE

    if (env.home / KEY_FILE).exists():
        return None
    return env.passphrase()


@lab.command("status")
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
    _render_status(state.status, as_json)
    return 0 if all(link.ok is not False for link in state.status.links) else 1


@lab.command("reload")
@pass_env
def lab_reload(env: Env) -> int:
    """Reload certificates and trust stores from the store without restarting."""
    from ccapki.lab.daemon import request_reload

    state = request_reload(_state_dir(env))
    from ccapki.cli.output import plural

    click.echo(f"lab reloaded ({plural(state.reloads, 'reload')} so far)")
    if state.status is not None:
        _render_status(state.status, False)
    return 0


@lab.command("down")
@pass_env
def lab_down(env: Env) -> int:
    """Stop the lab."""
    from ccapki.lab.daemon import read_state, stop_background

    state = read_state(_state_dir(env))  # a copied home's stale state is noticed (and removed)
    stopped = stop_background(_state_dir(env))
    click.echo(
        "lab stopped" if stopped else f"no lab was running for {env.home}{_stale_note(state)}"
    )
    return 0


def _stale_note(state: Any) -> str:
    """Why the lab state found in this home is not its lab (a copied home), if so."""
    if state is None or not state.foreign:
        return ""
    return f" ({state.foreign}; its stale lab state was removed here, that lab left running)"


def _render_status(status: LabStatus, as_json: bool) -> None:
    if as_json:
        from ccapki.cli.output import print_json

        print_json(status.to_dict())
        return
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
    for a in status.appliances:
        if a.state.lower() != "connected" and a.role == "cas":
            out.print(f"{a.name}: {escape(a.state)} {escape(a.detail or '')}")
    for p in status.pairs:
        if not p.ok:
            out.print(f"pair {p.pair}: {escape(p.state)} {escape(p.error or '')}")
    host = status.endpoints[0].host if status.endpoints else "-"
    out.print(f"{plural(len(status.endpoints), 'endpoint')} on {host}")


# ---------------------------------------------------------------------------- verify --live

_KIND_CHANNEL = {
    "status": "cam-cas",
    "control": "cam-cas",
    "heartbeat": "ha-heartbeat",
    "agent": "agent",
    "web-login": "web-login",
    "gui": "admin-gui",
}


#: probe failures where no TLS verdict was reached: nothing to compare with the offline one
_UNREACHABLE = frozenset({"refused", "timeout", "dns"})


@dataclass(frozen=True)
class LiveCell:
    """The live result of one (appliance, channel) cell.

    ``compared``: whether it can be held against the offline verdict. A failure is not
    comparable when the endpoint could not be reached (no handshake) or when the server
    presented another certificate than the store's current one (the offline verdict is about
    the store's): such a cell fails, but is not a disagreement.

    ``probed``: False when a link of the cell was not probed (real appliances: an end whose
    endpoint the deployment file does not give). Such a cell is "not probed": never compared,
    whatever its probed links showed (their failures are still reported).
    """

    ok: bool
    errors: tuple[str, ...] = ()
    compared: bool = True
    probed: bool = True


def _label_cells(label: str) -> list[tuple[str, str]]:
    """The (appliance, channel) cells a probe label counts for: both ends of a link."""
    kind, _, rest = label.partition(":")
    channel = _KIND_CHANNEL.get(kind)
    if channel is None:
        return []
    if "->" in rest:
        client, server = rest.split("->", 1)
        return [(client, channel), (server, channel)]
    return [(rest, channel)]


def live_cells(
    results: list[Any],
    served: Mapping[str, str] | None = None,
    unprobed: frozenset[str] | set[str] = frozenset(),
) -> dict[tuple[str, str], LiveCell]:
    """Probe results -> (appliance, channel) -> LiveCell; a link counts for both ends.

    ``served``: appliance -> SHA-256 of the leaf certificate the store holds for it.
    ``unprobed``: labels of the probes that could not be made (no endpoint): every cell they
    count for is not probed, never compared.
    """
    served = served or {}
    acc: dict[tuple[str, str], tuple[bool, list[str], bool, bool]] = {}

    def put(appliance: str, channel: str, ok: bool, err: str | None, verdict: bool) -> None:
        prev_ok, errs, any_verdict, any_other = acc.get(
            (appliance, channel), (True, [], False, False)
        )
        if err:
            errs = [*errs, err]
        acc[(appliance, channel)] = (
            prev_ok and ok,
            errs,
            any_verdict or (not ok and verdict),
            any_other or (not ok and not verdict),
        )

    for r in results:
        label: str = r.target.label
        kind, _, rest = label.partition(":")
        channel = _KIND_CHANNEL.get(kind)
        if channel is None:
            continue
        server = rest.split("->", 1)[1] if "->" in rest else rest
        err = None if r.ok else f"{label}: {r.error}"
        verdict = True
        if not r.ok and r.error_kind in _UNREACHABLE:
            verdict = False
            err = f"{err} (unreachable: no handshake, nothing to compare)"
        elif (
            not r.ok
            and r.peer_fingerprint
            and served.get(server)
            not in (
                None,
                r.peer_fingerprint,
            )
        ):
            verdict = False
            err = (
                f"{err} ({server} serves certificate {r.peer_fingerprint[:16]}, the store's is "
                f"{served[server][:16]}: `ccapki lab reload`, or install the store's identity)"
            )
        if "->" in rest:
            client = rest.split("->", 1)[0]
            put(client, channel, r.ok, err, verdict)
        put(server, channel, r.ok, err, verdict)
    cells = {
        key: LiveCell(ok, tuple(errs), ok or any_verdict or not any_other)
        for key, (ok, errs, any_verdict, any_other) in acc.items()
    }
    for label in unprobed:
        for key in _label_cells(label):
            got = cells.get(key)
            cells[key] = LiveCell(
                got.ok if got else True, got.errors if got else (), compared=False, probed=False
            )
    return cells


def _unprobed(
    spec: LabSpec,
    status: LabStatus,
    build: Callable[[LabStatus, bool], list[ProbeTarget]],
    probed: list[ProbeTarget],
) -> tuple[list[tuple[str, str]], frozenset[str]]:
    """Real appliances: the endpoints the deployment file does not give (appliance, kind),
    and the labels of every probe they leave out (``build(status, skip_missing)`` makes the
    probes; it is run on the status completed with placeholders, never probed)."""
    from ccapki.lab import EndpointStatus, LabStatus

    have = {(e.appliance, e.kind) for e in status.endpoints}
    missing = sorted(
        {(a.name, k) for a in spec.appliances for k in a.endpoint_kinds} - have,
    )
    if not missing:
        return [], frozenset()
    placeholders = tuple(
        EndpointStatus(name, kind, "unprobed.invalid", 1, "unprobed.invalid", False)
        for name, kind in missing
    )
    full = LabStatus(True, (*status.endpoints, *placeholders), (), (), ())
    every = {t.label for t in build(full, False)}
    return missing, frozenset(every - {t.label for t in probed})


def _reverse_heartbeats(
    spec: LabSpec, status: LabStatus, *, skip_missing: bool
) -> list[ProbeTarget]:
    """The heartbeat the other way (primary -> secondary): each peer must present the pair's
    identity, so a secondary holding another certificate fails live."""
    from ccapki.probe import ProbeTarget

    out = []
    for _pair, (primary, secondary) in sorted(spec.pairs().items()):
        try:
            ep = status.endpoint(secondary.name, "heartbeat")
        except KeyError:
            if skip_missing:
                continue
            raise
        m = primary.heartbeat_material
        out.append(
            ProbeTarget(
                ep.host,
                ep.port,
                secondary.peer_name if spec.check_peer_names else None,
                m.trust_pem,
                client_cert_pem=m.cert_chain_pem,
                client_key_pem=m.key_pem,
                purpose="heartbeat",
                label=f"heartbeat:{primary.name}->{secondary.name}",
                strict_x509=spec.strict_x509,
                expect_leaf_sha256=m.fingerprint,
            )
        )
    return out


def _standby_cam_links(
    spec: LabSpec, status: LabStatus, *, skip_missing: bool
) -> list[ProbeTarget]:
    """CAS <-> the standby CAM (the CAM pair's secondary), both ways: after a failover the
    CASes talk to it, so its trust store and identity must work too."""
    from ccapki.probe import ProbeTarget

    active = spec.active_cam
    cams = [a for a in spec.appliances if a.role == "cam" and a is not active]
    out = []
    for cam in cams:
        for cas in (a for a in spec.appliances if a.role == "cas"):
            for client, server, kind in ((cas, cam, "status"), (cam, cas, "control")):
                try:
                    ep = status.endpoint(server.name, "control")
                except KeyError:
                    if skip_missing:
                        continue
                    raise
                m = client.identity
                out.append(
                    ProbeTarget(
                        ep.host,
                        ep.port,
                        server.peer_name if spec.check_peer_names else None,
                        m.trust_pem,
                        client_cert_pem=m.cert_chain_pem,
                        client_key_pem=m.key_pem,
                        purpose=kind,
                        label=f"{kind}:{client.name}->{server.name}",
                        strict_x509=spec.strict_x509,
                    )
                )
    return out


@click.command(
    epilog="""\b
EXAMPLES
  ccapki lab up && ccapki verify --live      every channel of the lab, by real handshakes
  ccapki verify --live --json

Each channel is probed as its real client connects (trust store, client certificate, name).
The live result must agree with `ccapki trust check` in every cell; a disagreement is a
ccapki bug and is reported as such. Probes are read-only: a handshake and at most a GET /.
Real appliances: give `endpoints = { control = "host:port", gui = "host:port", ... }` per
appliance in the deployment file; `verify --live` then probes those (never changing them).
A cell with a link to an appliance whose endpoint is not given is "not probed", never
compared (IPv6 endpoints go in brackets: "[2001:db8::1]:443").

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
    import asyncio

    from cryptography.hazmat.primitives import serialization

    from ccapki.cli.common import load_deployment_arg
    from ccapki.lab import live_targets
    from ccapki.lab.daemon import read_state
    from ccapki.lifecycle.labspec import build_spec
    from ccapki.lifecycle.trustops import check_deployment, load_inventory
    from ccapki.probe import probe_many
    from ccapki.topology.model import Channel
    from ccapki.trust import required_anchor

    if not live:
        raise InputError("only --live is supported", "run `ccapki verify --live`")
    dep, _ = load_deployment_arg(env, None)
    real = target == "deployment" or (target == "auto" and any(a.endpoints for a in dep.appliances))
    if real:
        status = _real_status(dep)
    else:
        state = read_state(_state_dir(env))
        if state is None or not state.alive or state.status is None:
            raise StoreError(
                f"no lab runs for {env.home}{_stale_note(state)}",
                "start one with `ccapki lab up`, or give real endpoints in the deployment "
                'file (endpoints = { control = "host:port", ... }) and use --target deployment',
            )
        status = state.status
    store = env.open_store()
    try:
        spec = build_spec(store, dep)
        inv = load_inventory(store, dep)
    finally:
        store.close()
    anchors = [required_anchor(c, inv.cas) for s in dep.identities if (c := inv.chain_of(s))]
    client_pem = b"".join(a.public_bytes(serialization.Encoding.PEM) for a in anchors)

    def build(st: LabStatus, skip: bool) -> list[ProbeTarget]:
        made = live_targets(spec, st, client_trust_pem=client_pem, skip_missing=skip)
        made += _reverse_heartbeats(spec, st, skip_missing=skip)
        made += _standby_cam_links(spec, st, skip_missing=skip)
        return made

    targets = build(status, real)
    missing, unprobed = _unprobed(spec, status, build, targets) if real else ([], frozenset())
    if not targets:
        raise InputError(
            "no endpoint to probe", "give endpoints per appliance in the deployment file"
        )
    results = asyncio.run(probe_many(targets))
    served = {
        m.name: ident.fingerprint
        for s in dep.identities
        if (ident := inv.identities.get(s.name)) is not None
        for m in s.members
    }
    live_map = live_cells(results, served, unprobed)
    offline = check_deployment(inv, env.now(), anchors)
    rows: list[dict[str, Any]] = []
    disagree = []
    for cell in offline.cells:
        got = live_map.get((cell.appliance, cell.channel.value))
        want = cell.handshake_ok
        agrees = got is None or want is None or not got.compared or want == got.ok
        if not agrees:
            disagree.append((cell, got))
        if got is None:
            live_text = "n/a"
        elif not got.probed:
            live_text = "not probed"
        else:
            live_text = "pass" if got.ok else "fail"
        rows.append(
            {
                "appliance": cell.appliance,
                "channel": cell.channel.value,
                "offline": "n/a" if want is None else ("pass" if want else "fail"),
                "live": live_text,
                "live_errors": list(got.errors) if got else [],
                "compared": got is None or got.compared,
                "agree": agrees,
            }
        )
    # a failed handshake is a finding even in a cell that is not probed as a whole
    ok = all(r["live"] != "fail" and not r["live_errors"] for r in rows)
    if as_json:
        from ccapki.cli.output import print_json

        print_json(
            {
                "ok": ok,
                "agree": not disagree,
                "probes": len(results),
                "cells": rows,
                "unprobed_endpoints": [{"appliance": a, "kind": k} for a, k in missing],
            }
        )
    else:
        _render_live(rows, dep, [c.value for c in Channel], len(results))
        if missing:
            click.echo(
                "not probed (never compared): no endpoint in the deployment file for "
                + ", ".join(f"{a} {k}" for a, k in missing)
                + '; add endpoints = { KIND = "host:port" } to probe them'
            )
        for cell, got in disagree:
            click.echo(
                f"ccapki bug: offline says {cell.appliance} {cell.channel.value} "
                f"{'passes' if cell.handshake_ok else 'fails'}, the live handshake "
                f"{'passed' if got and got.ok else 'failed'}: please report it with "
                "`ccapki verify --live --json` and `ccapki trust check --json`",
                err=True,
            )
    if disagree:
        return 3
    return 0 if ok else 1


def _real_status(dep: Any) -> LabStatus:
    """Endpoints of real appliances, from the deployment file, in the lab's status shape."""
    from ccapki.lab import EndpointStatus, LabStatus
    from ccapki.topology.loader import split_endpoint

    endpoints = []
    for spec in dep.identities:
        for a in spec.members:
            for kind, address in a.endpoints:
                host, port = split_endpoint(address)  # checked when the file was loaded
                endpoints.append(
                    EndpointStatus(
                        a.name,
                        kind,
                        host,
                        port,
                        spec.common_name,
                        kind in ("control", "heartbeat"),
                    )
                )
    return LabStatus(True, tuple(endpoints), (), (), ())


def _render_live(rows: list[dict[str, Any]], dep: Any, channels: list[str], probes: int) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ccapki.cli.output import console

    out = console()
    t = Table(title=f"verify --live: {dep.name} ({probes} real handshakes)", title_justify="left")
    t.add_column("appliance")
    for ch in channels:
        t.add_column(ch)
    by = {(r["appliance"], r["channel"]): r for r in rows}
    for a in dep.appliances:
        line = [a.name]
        for ch in channels:
            r = by.get((a.name, ch))
            if r is None or r["live"] == "n/a":
                line.append("[dim]n/a[/dim]")
            elif r["live"] == "not probed":
                line.append(
                    "[yellow]not probed[/yellow]"
                    + (" [red](a link FAILs)[/red]" if r["live_errors"] else "")
                )
            else:
                mark = "[green]pass[/green]" if r["live"] == "pass" else "[red]FAIL[/red]"
                if not r["compared"]:
                    mark += " [yellow](not compared)[/yellow]"
                line.append(mark + ("" if r["agree"] else " [bold red](!)[/bold red]"))
        t.add_row(*line)
    out.print(t)
    shown: set[str] = set()
    for r in rows:
        for e in r["live_errors"]:
            if e not in shown:
                shown.add(e)
                out.print(f"[red]FAIL[/red] {escape(e)}")
    unprobed = sum(r["live"] == "not probed" for r in rows)
    if not all(r["agree"] for r in rows):
        out.print("")
    elif unprobed:
        out.print(
            f"offline verdicts and live handshakes agree in every probed cell ({unprobed} "
            "not probed)"
        )
    else:
        out.print("offline verdicts and live handshakes agree in every cell")
