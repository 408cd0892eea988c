"""``ccapki demo``: the whole workflow on the FAQ's example deployment, in a fresh home."""

from __future__ import annotations

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
    from rich.table import Table

    from ccapki.cli.output import console, days_text
    from ccapki.pki.inspect import KnownCA, describe

    store = env.open_store()
    try:
        known = [KnownCA(c.name, c.kind, c.certificate) for c in store.cas()]
        idents = store.current_identities()
    finally:
        store.close()
    t = Table(title="inventory")
    for col in ("identity", "v", "subject", "signed by", "key", "expires", "left"):
        t.add_column(col)
    for name in sorted(idents):
        ident = idents[name]
        info = describe(ident.certificate, now=env.now(), known=known, chain=ident.chain)
        t.add_row(
            name,
            str(ident.version),
            info.common_name,
            info.signed_by,
            f"{info.key}",
            f"{info.not_after:%Y-%m-%d}",
            days_text(info.days_left),
        )
    console().print(t)


@click.command(
    epilog="""\b
EXAMPLES
  ccapki demo              run in a fresh temporary store, removed afterwards
  ccapki demo --keep       keep the temporary store and print where it is
"""
)
@click.option("--keep", is_flag=True, help="Keep the temporary store.")
@click.pass_context
def demo(ctx: click.Context, keep: bool) -> int:
    """Plan, issue and inventory the FAQ's example (1 CAM pair, 3 CAS pairs, 2 CAS)."""
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
        render_inventory(Env(home_option=str(store_home), debug=env.debug))
        click.echo("")
        click.echo("demo finished: every step passed")
        return 0
    finally:
        if keep:
            click.echo(f"store kept in {store_home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
