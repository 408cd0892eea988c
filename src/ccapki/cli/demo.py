"""``ccapki demo``: the whole workflow on the FAQ's example deployment, in a fresh home."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from importlib import resources
from pathlib import Path

import click

from ccapki.cli.app import Env

__all__ = ["demo", "example_path"]


def example_path() -> Path:
    return Path(str(resources.files("ccapki") / "data" / "faq.toml"))


def _step(text: str) -> None:
    click.echo("")
    click.secho(f"== {text}", bold=True)


def render_inventory(env: Env) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ccapki.cli.output import console, days_text
    from ccapki.pki.inspect import KnownCA, describe

    with env.open_store() as store:
        known = [KnownCA(c.name, c.kind, c.certificate) for c in store.cas.list()]
        idents = store.identities.current()
    t = Table(title="inventory")
    for col in ("identity", "v", "subject", "signed by", "key", "expires", "left"):
        t.add_column(col)
    for name in sorted(idents):
        ident = idents[name]
        info = describe(ident.certificate, now=env.now(), known=known, chain=ident.chain)
        t.add_row(
            name,
            str(ident.version),
            escape(info.common_name),
            escape(info.signed_by),
            f"{info.key}",
            f"{info.not_after:%Y-%m-%d}",
            days_text(info.days_left),
        )
    console().print(t)


def _trust_demo(base: list[str], env: Env) -> int:
    """Trust check all green; break one link; repair it with trust plan + trust apply."""
    from ccapki.cli.app import run

    _step("trust check: every channel of the deployment (ccapki trust check)")
    if run([*base, "trust", "check"]) != 0:
        return 1
    with env.open_store() as store:
        fp = store.trust.entries("cas-dorm-a")[0].fingerprint
    _step(f"break a link: remove {fp[:16]} from cas-dorm-a's trust store (ccapki trust remove)")
    if run([*base, "trust", "remove", "cas-dorm-a", fp[:16]]) != 0:
        return 1
    _step("trust check now fails on exactly that link (exit 1)")
    if run([*base, "trust", "check"]) != 1:
        click.echo("demo: expected the broken link to be found", err=True)
        return 1
    for title, args in (
        ("the smallest fix (ccapki trust plan)", ["trust", "plan"]),
        ("carry it out (ccapki trust apply)", ["trust", "apply"]),
        ("all green again (ccapki trust check)", ["trust", "check"]),
    ):
        _step(title)
        if run([*base, *args]) != 0:
            return 1
    return 0


def _stacks_demo(now: dt.datetime) -> int:
    """One case where web-PKI and the appliance's Java disagree, predicted and proven."""
    import asyncio

    from rich.markup import escape
    from rich.table import Table

    from ccapki.cli.output import console
    from ccapki.lifecycle.stackproof import CASE_HOST, keyusage_less_root

    _step(
        "stacks differ: a third-party root made like `openssl req -x509` (CA:TRUE, no "
        f"keyUsage) signs {CASE_HOST}"
    )
    rows = asyncio.run(keyusage_less_root(now))
    t = Table(title="ccapki's verdict per stack, and the real stack's handshake")
    for col in ("stack", "judges", "ccapki predicts", "real handshake", "why"):
        t.add_column(col)
    for r in rows:
        live = "[dim]not run here[/dim]" if r.live is None else ("pass" if r.live else "fail")
        mark = "" if r.agrees else " [bold red](!)[/bold red]"
        t.add_row(
            r.stack.value,
            r.judges,
            "pass" if r.predicted else "fail",
            live + mark,
            escape(r.detail.split(";")[0]),
        )
    console().print(t)
    if not all(r.agrees for r in rows):
        click.echo("demo: a real stack disagrees with ccapki's prediction", err=True)
        return 3
    click.echo(
        "web-PKI refuses the root (no keyUsage); the appliances' Java accepts it, so the "
        "CAM/CAS channel works: `trust check` passes it with the web-PKI finding as a warning"
    )
    return 0


def _lab_demo(base: list[str]) -> int:
    """Start the lab, verify every channel by real handshakes, stop the lab."""
    from ccapki.cli.app import run

    _step("start the lab: every appliance on 127.0.0.1 over real TLS (ccapki lab up)")
    if run([*base, "lab", "up", "--interval", "2"]) != 0:
        return 1
    try:
        _step("verify every channel live (ccapki verify --live)")
        code = run([*base, "verify", "--live"])
    finally:
        _step("stop the lab (ccapki lab down)")
        run([*base, "lab", "down"])
    return code


@click.command(
    epilog="""\b
EXAMPLES
  ccapki demo              run in a fresh temporary store, removed afterwards
  ccapki demo --keep       keep the temporary store and print where it is

\b
EXIT CODES
  0 every step passed   otherwise the exit code of the step that failed (1 findings,
                        2 bad input, 3 live and offline verdicts disagree)
"""
)
@click.option("--keep", is_flag=True, help="Keep the temporary store.")
@click.pass_context
def demo(ctx: click.Context, keep: bool) -> int:
    """The FAQ's example end to end: plan, issue, trust, lab, live verification."""
    from ccapki.cli.app import run

    home = Path(tempfile.mkdtemp(prefix="ccapki-demo-"))
    store_home = home / "store"
    example = str(example_path())
    base = ["--home", str(store_home)]
    try:
        steps: list[tuple[str, list[str]]] = [
            ("create a store (data key in a 0600 key file)", ["init", "--key-file"]),
            ("the plan: how many certificates do I need?", ["plan", example]),
            ("issue every identity", ["apply", example]),
            ("apply again: idempotent", ["apply", example]),
            ("inspect the CAM pair's identity", ["inspect", "cam"]),
        ]
        for title, args in steps:
            _step(f"{title}  (ccapki {' '.join(args[:1] + [Path(a).name for a in args[1:]])})")
            code = run(base + args)
            if code != 0:
                return code
        _step("inventory")
        env: Env = ctx.obj
        demo_env = Env(home_option=str(store_home), debug=env.debug)
        render_inventory(demo_env)
        code = _trust_demo(base, demo_env)
        if code != 0:
            return code
        code = _stacks_demo(dt.datetime.now(dt.UTC))  # real handshakes: the real clock
        if code != 0:
            return code
        code = _lab_demo(base)
        if code != 0:
            return code
        click.echo("")
        click.echo("demo finished: every step passed")
        return 0
    finally:
        if keep:
            click.echo(f"store kept in {store_home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
