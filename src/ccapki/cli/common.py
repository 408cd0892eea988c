"""Helpers shared by command modules."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import click

from ccapki.errors import CcapkiError, InputError, StoreError

if TYPE_CHECKING:
    from ccapki.cli.app import Env
    from ccapki.topology.model import Deployment

__all__ = ["STDIN", "STDIN_NAME", "FiniteFloatRange", "load_deployment_arg"]

#: A deployment FILE given as ``-``: standard input (``ccapki plan -``).
STDIN = "-"
#: What messages call the deployment read from standard input (``<stdin>:12: ...``).
STDIN_NAME = "<stdin>"
#: The largest deployment file read (as :func:`ccapki.topology.fastload.load_deployment`).
_DEPLOYMENT_LIMIT = 4 * 1024 * 1024


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses nan and inf, with the range's own error (a
    FloatRange lets nan through: every comparison with it is false)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        rv = super().convert(value, param, ctx)
        if isinstance(rv, float) and not math.isfinite(rv):
            self.fail(f"{rv} is not in the range {self._describe_range()}.", param, ctx)
        return rv


def load_deployment_arg(
    env: Env, path: str | None, *, stdin: bool = False
) -> tuple[Deployment, str | None]:
    """The deployment from FILE, else the file the store last applied of the deployment
    the command acts on (``--deployment``, or the store's only one); the command then acts
    on that deployment (see :meth:`Env.act_on`). Returns it and the path of its file.

    FILE ``-`` is standard input for a command that records no path (``stdin``: ``plan``),
    named ``<stdin>`` in messages; the path returned is then None. A command that records
    the file's path with the deployment (``apply``, ``ca create``...) refuses ``-``.
    Raises :class:`InputError` (unreadable input, ``-`` refused) and
    :class:`~ccapki.errors.DeploymentError` (a broken deployment, FILE:LINE)."""
    # the loader's fast path (no pydantic for a plain file), the full loader otherwise
    from ccapki.topology.fastload import load_deployment, parse_deployment

    if path == "":  # `ccapki plan "$FILE"` with FILE unset: never the stored one instead
        raise InputError(
            "the deployment file's name is empty",
            "name the deployment file, or leave it out for the deployment the store last applied",
        )
    if path == STDIN:
        if not stdin:
            raise _no_stdin()
        dep = _deployment_from_stdin()
        env.act_on(dep.name, source=STDIN_NAME)
        return dep, None
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


def _command() -> str:
    ctx = click.get_current_context(silent=True)
    return ctx.command_path if ctx else "ccapki"


def _no_stdin() -> InputError:
    """``-`` given to a command that records the deployment file's path."""
    command = _command()
    return InputError(
        f"`{command} -`: {command.removeprefix('ccapki ')} keeps the deployment file's path "
        "with what it records, and standard input has none: nothing was read",
        f"save it to a file and give its path (`{command} deployment.toml`); `ccapki plan -` "
        "reads standard input",
    )


def _deployment_from_stdin() -> Deployment:
    """The deployment piped into standard input, named ``<stdin>`` in messages."""
    from ccapki.topology.fastload import parse_deployment

    data = _read_stdin(_DEPLOYMENT_LIMIT)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        from ccapki.topology import loader

        raise loader.not_utf8(STDIN_NAME, data) from None
    return parse_deployment(text, STDIN_NAME)


def _read_stdin(limit: int) -> bytes:
    """Standard input to its end, at most ``limit`` bytes, never blocking for ever: a pipe
    nothing arrives on for :data:`ccapki.fsutil.INPUT_WAIT` seconds is refused, and so are
    a terminal (nothing piped in), no standard input at all, and more than ``limit``.
    Raises :class:`InputError`."""
    import os
    import select
    import stat
    import sys

    from ccapki import fsutil

    command = _command()
    pipe_in = f"pipe the deployment in (`{command} - < FILE`, `cat FILE | {command} -`)"
    try:
        fd = sys.stdin.fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, ValueError, OSError):  # closed, or no file behind it
        raise InputError(
            f"{STDIN_NAME}: there is no standard input to read the deployment from",
            f"{pipe_in}, or give the file's path",
        ) from None
    if os.isatty(fd):
        raise InputError(
            f"`{command} -` reads the deployment from standard input, and it is a terminal: "
            "nothing was read",
            f"{pipe_in}, or give the file's path",
        )
    poller = None
    if not stat.S_ISREG(mode):  # a pipe, a FIFO, a device: wait for each piece, not for ever
        poller = select.poll()
        poller.register(fd, select.POLLIN)
    chunks: list[bytes] = []
    got = 0
    while True:
        if poller is not None and not poller.poll(fsutil.INPUT_WAIT * 1000):
            what = "nothing arrived" if got == 0 else "its writer fell silent"
            raise InputError(
                f"{STDIN_NAME}: {what} for {fsutil.INPUT_WAIT:g} s: nothing was read",
                f"{pipe_in}, or give the file's path",
            )
        piece = os.read(fd, 1 << 16)
        if not piece:
            return b"".join(chunks)
        chunks.append(piece)
        got += len(piece)
        if got > limit:
            raise InputError(
                f"{STDIN_NAME}: more than {limit // 1048576} MB is far too large for a "
                "deployment file: nothing was used",
                "check what is piped in: the deployment file's TOML",
            )


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
            f"create it with `{env.command_for('init')}`, then "
            f"`{env.command_for('apply FILE')}` with your deployment file (or point --home / "
            "CCAPKI_HOME at your store)",
        )
    if ctx is not None and ctx.command.name == "import":  # adopting: apply would reissue
        return StoreError(
            f"the store at {env.home} holds no deployment yet",
            f"give the deployment file: `{command} --file FILE ...` takes the certificates "
            "in service and keeps FILE as applied (`ccapki apply FILE` first would issue new "
            "certificates for every identity)",
        )
    return StoreError(
        f"the store at {env.home} holds no deployment yet",
        f"apply your deployment file first (`ccapki apply FILE`), then run `{command}` again",
    )
