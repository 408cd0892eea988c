"""Helpers shared by command modules."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import click

from ccapki.errors import CcapkiError, InputError, StoreError

if TYPE_CHECKING:
    from ccapki.cli.app import Env
    from ccapki.topology.model import Deployment

__all__ = ["FiniteFloatRange", "load_deployment_arg"]


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses nan and inf, with the range's own error (a
    FloatRange lets nan through: every comparison with it is false)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        rv = super().convert(value, param, ctx)
        if isinstance(rv, float) and not math.isfinite(rv):
            self.fail(f"{rv} is not in the range {self._describe_range()}.", param, ctx)
        return rv


def load_deployment_arg(env: Env, path: str | None) -> tuple[Deployment, str | None]:
    """The deployment from FILE, else the file the store last applied of the deployment
    the command acts on (``--deployment``, or the store's only one); the command then acts
    on that deployment (see :meth:`Env.act_on`)."""
    # the loader's fast path (no pydantic for a plain file), the full loader otherwise
    from ccapki.topology.fastload import load_deployment, parse_deployment

    if path:
        dep = load_deployment(path)
        env.act_on(dep.name, source=path)
        return dep, path
    exists = env.store_exists()
    if exists:
        with env.open_store() as store:
            kept = store.deployments.latest()
        if kept:
            dep = parse_deployment(kept.text, kept.path or "<stored deployment>")
            env.act_on(kept.name, source=kept.path or "the stored deployment file")
            return dep, kept.path
    raise _no_deployment(env, exists)


def _takes_file() -> bool:
    """Whether the running command takes a deployment FILE argument (plan, apply)."""
    ctx = click.get_current_context(silent=True)
    return ctx is not None and any(p.name == "file" for p in ctx.command.params)


def _no_deployment(env: Env, store_exists: bool) -> CcapkiError:
    """Why there is no deployment, with the hint that fits the running command: one that
    takes a FILE argument is given one; any other reads the deployment the store holds."""
    ctx = click.get_current_context(silent=True)
    command = ctx.command_path if ctx else "ccapki"
    takes_file = _takes_file()
    if takes_file:
        where = (
            "the store holds none"
            if store_exists
            else "there is no store in CCAPKI_DATABASE_URL"
            if env.database_url is not None
            else f"there is no store at {env.home}"
        )
        return InputError(
            f"no deployment file given, and {where}",
            f"pass the deployment file: `{command} FILE` (e.g. `{command} examples/faq.toml`)",
        )
    if not store_exists and env.database_url is not None:  # as Store.open says it
        from sqlalchemy.engine import make_url

        where = make_url(env.database_url).render_as_string(hide_password=True)
        return StoreError(
            f"the database {where} holds no ccapki schema",
            "create the store in it with `ccapki init`, then `ccapki apply FILE` with your "
            "deployment file (or check CCAPKI_DATABASE_URL)",
        )
    if not store_exists:
        return StoreError(
            f"no ccapki store at {env.home}",
            "create it with `ccapki init`, then `ccapki apply FILE` with your deployment "
            "file (or point --home / CCAPKI_HOME at your store)",
        )
    return StoreError(
        f"the store at {env.home} holds no deployment yet",
        f"apply your deployment file first (`ccapki apply FILE`), then run `{command}` again",
    )
