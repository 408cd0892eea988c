"""The root command group, the shared environment and the error boundary.

Exit codes: 0 success; 1 findings (a check that found problems); 2 bad input or a usage
error (every ``error:``/``hint:``); 3 ``verify --live`` disagrees with the offline verdict;
70 an internal error (a ccapki bug: run again with ``--debug``); 130 interrupted (SIGINT,
Ctrl-C) and 143 stopped (SIGTERM), each with a hint saying what was kept.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import importlib
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from ccapki import __version__
from ccapki.cli.common import FiniteFloatRange
from ccapki.cli.interrupts import at_a_seam, deliver_again, signal_handler
from ccapki.errors import (
    CcapkiError,
    InputError,
    Interrupted,
    PasswordError,
    StoreError,
    StoreOutdated,
)

if TYPE_CHECKING:
    from ccapki.store.session import Store

__all__ = ["Env", "cli", "run", "say_waiting"]

#: command name -> "module:attribute"; imported only when the command runs or help lists it.
COMMANDS: dict[str, str] = {
    "init": "ccapki.cli.init:init",
    "plan": "ccapki.cli.plan:plan",
    "apply": "ccapki.cli.apply:apply",
    "inspect": "ccapki.cli.inspect:inspect_cmd",
    "demo": "ccapki.cli.demo:demo",
    "csr": "ccapki.cli.files:csr",
    "import": "ccapki.cli.files:import_cmd",
    "export": "ccapki.cli.files:export",
    "export-roots": "ccapki.cli.files:export_roots",
    "check-ha": "ccapki.cli.files:check_ha",
    "keys": "ccapki.cli.files:keys",
    "trust": "ccapki.cli.trust:trust",
    "lab": "ccapki.cli.lab:lab",
    "verify": "ccapki.cli.lab:verify",
    "backup": "ccapki.cli.backup:backup",
    "doctor": "ccapki.cli.doctor:doctor",
    "deployments": "ccapki.cli.deployments:deployments",
    "probe": "ccapki.cli.probe:probe",
    "status": "ccapki.cli.status:status",
    "renew": "ccapki.cli.renew:renew",
    "watch": "ccapki.cli.watch:watch",
    "serve": "ccapki.cli.serve:serve",
    "users": "ccapki.cli.serve:users",
    "ca": "ccapki.cli.ca:ca",
    "acme": "ccapki.cli.acme:acme",
    "upgrade": "ccapki.cli.upgrade:upgrade",
}


_GAP = re.compile(r"^( *)(\S.*?\S)( {2,})(\S.*)$")
_COMMAND = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*(?:ccapki|printf)\b|^[A-Z_]+=\$\(")


def _shell_words(text: str) -> list[str]:
    """``text`` split at the spaces outside quotes (a quoted argument stays whole)."""
    words: list[str] = []
    current = ""
    quote = ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == " ":
            if current:
                words.append(current)
            current = ""
            continue
        current += ch
    if current:
        words.append(current)
    return words


def _fill(words: list[str], first: str, indent: str, width: int, join: str) -> list[str]:
    """``words`` (each with the spaces that followed it) filled greedily into lines of at
    most ``width`` (a word longer than a line gets one of its own), the first starting with
    ``first``, the others with ``indent``; ``join`` ends every line but the last (`` \\``
    for a command)."""
    lines: list[str] = []
    line = first
    for word in words:
        if len((line + word).rstrip()) + len(join) > width and line.strip():
            lines.append(line.rstrip() + join)
            line = indent + word
        else:
            line += word
    lines.append(line.rstrip())
    return lines


def _spaced(text: str) -> list[str]:
    """``text``'s words, each with the spaces after it (so runs of spaces stay)."""
    return re.findall(r"\S+ *", text)


def fit_help_line(line: str, width: int) -> list[str]:
    """A line of a help text's ``\\b`` block (kept as written) that fits in ``width``
    columns as one or more lines: an example's comment goes on below, aligned with its
    column; a command too long breaks between its words with `` \\`` (still a valid shell
    command); prose wraps between words. Returns the lines."""
    if len(line) <= width:
        return [line]
    lead = " " * (len(line) - len(line.lstrip(" ")))
    head, gap, tail = line.rstrip(), "", ""
    m = _GAP.match(line)
    if m:
        head, gap, tail = m.group(1) + m.group(2), m.group(3), m.group(4)
    out: list[str] = []
    if len(head) <= width:
        out.append(head)
    elif _COMMAND.match(head.strip()) or head.endswith(" \\"):
        body = head.strip()
        continued = body.endswith("\\")
        words = [w + " " for w in _shell_words(body.removesuffix("\\").rstrip())]
        out += _fill(words, lead, lead + "    ", width, " \\")
        if continued:
            out[-1] += " \\"
    else:
        out += _fill(_spaced(head.strip()), lead, lead, width, "")
    if not tail:
        return out
    col = len(head) + len(gap)
    if len(out) == 1 and width - col >= 24:  # the comment stays in its column
        lines = _fill(_spaced(tail), " " * col, " " * col, width, "")
        return [out[0] + gap + lines[0][col:], *lines[1:]]
    return out + _fill(_spaced(tail), lead + "      ", lead + "      ", width, "")


def _fit_items(lines: list[str], width: int, prose: bool) -> list[str]:
    """Lines of a ``\\b`` paragraph that is not a list of examples, fitted to ``width``:
    prose as one text; otherwise each item (a line at the paragraph's indentation, with
    the deeper-indented lines after it) wrapped under itself."""
    base = min(len(x) - len(x.lstrip(" ")) for x in lines)
    items: list[list[str]] = []
    for line in lines:
        if items and (prose or len(line) - len(line.lstrip(" ")) > base):
            items[-1].append(line)
        else:
            items.append([line])
    out: list[str] = []
    for item in items:
        lead = " " * base
        deeper = [len(x) - len(x.lstrip(" ")) for x in item[1:]]
        hang = " " * (deeper[0] if deeper and not prose else base + (0 if prose else 2))
        words = [w for x in item for w in _spaced(x.strip() + " ")]
        out += _fill(words, lead, hang, width, "")
    return out


_HEADING = re.compile(r"^ *[A-Z][A-Z ]+$")


def _fit_text(text: str, width: int) -> str:
    """``text`` with its ``\\b`` paragraphs (kept as written) fitted to ``width`` where a
    line is too long: an EXAMPLES list line by line (:func:`fit_help_line`), EXIT CODES
    item by item, prose as a whole; other paragraphs are click's to wrap."""
    out: list[str] = []
    block: list[str] | None = None

    def flush() -> None:
        if block is None:
            return
        body = block[1:]
        head = [body.pop(0)] if body and _HEADING.match(body[0]) else []
        if body and any(len(x) > width for x in body):
            if head and head[0].strip() == "EXAMPLES":
                body = [piece for x in body for piece in fit_help_line(x, width)]
            else:
                body = _fit_items(body, width, prose=not head or head[0].strip() != "EXIT CODES")
        out.extend([block[0], *head, *body])

    for line in text.splitlines():
        if line.strip() == "\b":
            flush()
            block = [line]
        elif not line.strip():
            flush()
            block = None
            out.append(line)
        elif block is not None:
            block.append(line)
        else:
            out.append(line)
    flush()
    return "\n".join(out)


class _HelpFormatter(click.HelpFormatter):
    """click's help formatter, with example and exit-code blocks (``\\b``, kept as
    written) fitted to the terminal: at 80 columns no line is cut mid-word."""

    def write_text(self, text: str) -> None:
        super().write_text(_fit_text(text, self.width - self.current_indent))


class _Context(click.Context):
    formatter_class = _HelpFormatter


def _refuse_repeated_options(cmd: click.Command, ctx: click.Context, args: list[str]) -> None:
    """Raise a :class:`click.UsageError` when ``args`` give an option that takes one value
    twice (``--out a --out b``): click would keep the last one silently, which of the two
    was meant is the user's to say. Flags and ``multiple``/``count`` options may repeat."""
    if ctx.resilient_parsing:
        return
    try:
        _, _, order = cmd.make_parser(ctx).parse_args(args=list(args))
    except click.UsageError as exc:
        if exc.ctx is None:  # click's parser says "--out requires an argument" without it:
            exc.ctx = ctx  # the hint then names this command's --help, not ccapki's
        raise
    seen: set[str] = set()
    for param in order:
        if not isinstance(param, click.Option) or param.is_flag or param.multiple:
            continue
        if param.count or param.name is None:
            continue
        if param.name in seen:
            raise click.UsageError(
                f"Option '{param.opts[0]}' given twice: which value is meant?", ctx=ctx
            )
        seen.add(param.name)


def _parse_args_once(cmd: click.Command, ctx: click.Context, args: list[str]) -> list[str]:
    """``cmd.parse_args``, refusing an option given twice (:func:`_refuse_repeated_options`)."""
    _refuse_repeated_options(cmd, ctx, args)
    return type(cmd).parse_args(cmd, ctx, args)


def _use_our_help(cmd: click.Command) -> None:
    """Give ``cmd`` and its subcommands the fitted help (:class:`_HelpFormatter`), and
    refuse an option given twice (:func:`_refuse_repeated_options`)."""
    cmd.context_class = _Context
    if not isinstance(cmd, LazyGroup):
        cmd.parse_args = functools.partial(_parse_args_once, cmd)  # type: ignore[method-assign]
    if isinstance(cmd, click.Group) and not isinstance(cmd, LazyGroup):
        for sub in cmd.commands.values():
            _use_our_help(sub)


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    context_class = _Context

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        _refuse_repeated_options(self, ctx, args)
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        mod, _, attr = target.partition(":")
        cmd = getattr(importlib.import_module(mod), attr)
        assert isinstance(cmd, click.Command)
        _use_our_help(cmd)
        return cmd


@dataclass
class Env:
    """What every command shares: where the store is, the clock, the passphrase."""

    home_option: str | None = None
    debug: bool = False
    #: how long a command that writes waits for another ccapki writing to the store (s)
    wait: float = 60.0
    #: ``--deployment`` / ``CCAPKI_DEPLOYMENT``: the deployment a command acts on
    deployment_option: str | None = None
    #: ``deployment_option`` came from ``CCAPKI_DEPLOYMENT`` (a default for the shell):
    #: a deployment file naming another deployment wins over it
    deployment_from_env: bool = False
    #: the deployment the command's deployment file names (see :meth:`act_on`)
    _acting: str | None = field(default=None, repr=False)
    _now: dt.datetime | None = field(default=None, repr=False)
    _asked: str | None = field(default=None, repr=False)
    _modes_checked: bool = field(default=False, repr=False)
    _outdated_said: bool = field(default=False, repr=False)

    @property
    def home(self) -> Path:
        from ccapki.home import resolve_home

        return resolve_home(self.home_option)

    def now(self) -> dt.datetime:
        """The clock: real time, or ``CCAPKI_NOW`` (ISO 8601) for what-if runs and tests."""
        if self._now is None:
            text = os.environ.get("CCAPKI_NOW")
            if text:
                try:
                    value = dt.datetime.fromisoformat(text)
                except ValueError:
                    raise InputError(
                        f"CCAPKI_NOW={text!r} is not an ISO 8601 time",
                        "use a form like 2026-11-27T12:00:00+00:00, or unset CCAPKI_NOW",
                    ) from None
                self._now = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
            else:
                self._now = dt.datetime.now(dt.UTC)
        return self._now

    def refuse_what_if(self, command: str) -> None:
        """Refuse a command that changes the store or writes files under ``CCAPKI_NOW``.

        ``CCAPKI_NOW`` moves the clock for what-if reports (plan, inspect, trust check,
        ``apply --dry-run``); a write on it would store certificates that start in the
        future. ``CCAPKI_NOW_ALLOW_WRITES=1`` lifts this for test suites only.
        """
        text = os.environ.get("CCAPKI_NOW")
        if text and os.environ.get("CCAPKI_NOW_ALLOW_WRITES") != "1":
            raise InputError(
                f"`ccapki {command}` writes, and CCAPKI_NOW={text} is a what-if clock: "
                "nothing was written",
                "unset CCAPKI_NOW; it is for what-if reports (plan, inspect, trust check, "
                "apply --dry-run)",
            )

    def work_done(self) -> None:
        """Say that the command's change is committed: a Ctrl-C or SIGTERM from now until
        the command returns is ignored, so it reports what it did and exits as it would
        have (never "interrupted" with a hint to run again after the work was done)."""
        work_done()

    def passphrase(self) -> str:
        env = os.environ.get("CCAPKI_PASSPHRASE")
        if env == "":
            raise PasswordError(
                "CCAPKI_PASSPHRASE is set but empty",
                "set CCAPKI_PASSPHRASE to the store's passphrase, or unset it to be asked "
                "in a terminal",
            )
        if env is not None:
            return env
        if self._asked is not None:  # ask once per command
            return self._asked
        if sys.stdin.isatty():
            value: str = click.prompt("Store passphrase", hide_input=True, err=True)
            self._asked = value
            return value
        raise PasswordError(
            "the store is locked by a passphrase and none was given",
            "set CCAPKI_PASSPHRASE, or run the command in a terminal to be asked",
        )

    def pkcs11_pin(self, token: str) -> str:
        """The user PIN of the PKCS#11 token ``token``: ``CCAPKI_PKCS11_PIN``, else asked
        in a terminal (never stored, never logged). Raises :class:`TokenError` otherwise."""
        from ccapki.hsm.uri import PIN_ENV

        if os.environ.get(PIN_ENV) is None and sys.stdin.isatty():
            try:
                value: str = click.prompt(
                    f"User PIN of the PKCS#11 token {token}", hide_input=True, err=True
                )
            except Interrupted:
                click.echo(err=True)  # the hidden prompt left the cursor on its line
                raise
            return value
        from ccapki.hsm.token import env_pin

        return env_pin(token)

    @property
    def database_url(self) -> str | None:
        """``CCAPKI_DATABASE_URL`` (e.g. PostgreSQL), else None: the SQLite file in
        :attr:`home`. The CLI is the one place that reads it; the store is given it.
        Raises :class:`StoreError` for a URL no store can live at (not a URL, MySQL...)."""
        url = os.environ.get("CCAPKI_DATABASE_URL") or None
        if url is not None:
            from ccapki.store.urls import check_store_url

            check_store_url(url)  # also: no in-memory SQLite, no '?' read as options
        return url

    @property
    def store_where(self) -> str:
        """Where the store is, for "issued ... in WHERE": the database URL without its
        password when ``CCAPKI_DATABASE_URL`` names one (the home folder holds none of
        its rows), else the home folder."""
        url = self.database_url
        if url is None:
            return str(self.home)
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)

    def refuse_file_home(self) -> None:
        """Raise :class:`StoreError` when the store folder (--home, CCAPKI_HOME) is a file:
        never "no store here, run init" for a path init cannot use either."""
        home = self.home
        if self.database_url is None and home.exists() and not home.is_dir():
            raise StoreError(
                f"the store folder {home} is a file, not a folder",
                "point --home (or CCAPKI_HOME) at a folder: the store's folder, or a new "
                "path for `ccapki init` to create",
            )
        if self.database_url is None:
            self.refuse_odd_database(home / "ccapki.db")

    @staticmethod
    def refuse_odd_database(db: Path) -> None:
        """Raise :class:`StoreError` when the store's database is there but is not a
        regular file (:func:`ccapki.store.home.refuse_odd_database`, which ``Store.open``
        and ``Store.init`` run too: the Python API refuses it in the same words)."""
        import stat

        try:
            if stat.S_ISREG(db.stat().st_mode):
                return  # the usual case: no store package loaded (`inspect FILE` stays light)
        except OSError:
            return  # not there (or unreadable): the open says
        from ccapki.store.home import refuse_odd_database

        refuse_odd_database(db)

    def open_store(self) -> Store:
        """The store, open (use it as ``with env.open_store() as store:``)."""
        from ccapki.store.session import Store

        self.refuse_file_home()
        url = self.database_url
        if url is not None and url.startswith("sqlite:"):
            from sqlalchemy.engine import make_url

            database = make_url(url).database
            if database and not Path(database).exists():
                # opening it would make an empty SQLite file there (0644), and then say
                # it "holds no ccapki schema"
                raise StoreError(
                    f"no ccapki store at {database}",
                    "check CCAPKI_DATABASE_URL (sqlite:///PATH names the database file), "
                    "or run `ccapki init` first",
                )

        if url is None and not Store.exists(self.home, None):
            from ccapki.home import KEY_FILE

            if not (self.home / KEY_FILE).exists():  # (a data.key alone: the open says)
                raise StoreError(
                    f"no ccapki store at {self.home}",
                    f"create it with `{self.command_for('init')}` (or point --home / "
                    "CCAPKI_HOME at your store)",
                )
        try:
            store = Store.open(
                self.home,
                url=self.database_url,
                passphrase=self.passphrase,
                clock=self.now,
                wait=self.wait,
                on_wait=_say_waiting,
                caller="cli",  # a busy store's hint names `ccapki --wait`
            )
        except StoreOutdated as exc:  # the hint names the exact command (--home X)
            from ccapki.store.session import upgrade_hint

            hint = upgrade_hint(exc.url, exc.version, self.upgrade_command())
            raise StoreOutdated(exc.message, hint, url=exc.url, version=exc.version) from None
        store.actor = _os_user()
        store.token_keys.pin = self.pkcs11_pin  # CA keys in a PKCS#11 token (issue 14)
        try:
            if self._acting is not None:  # the file's deployment (apply may create it)
                store.use(self._acting, new=True)
            elif self.deployment_option is not None:
                store.use(self.deployment_option)
        except BaseException:
            store.close()
            raise
        self.warn_loose_modes()
        return store

    def upgrade_command(self) -> str:
        """The exact command that upgrades this store, as the administrator runs it:
        `ccapki --home X upgrade` when --home was given, `CCAPKI_HOME=X ccapki upgrade`
        when only CCAPKI_HOME names it, else `ccapki upgrade` (a CCAPKI_DATABASE_URL
        stays as set: its password is never repeated)."""
        return self.command_for("upgrade")

    def command_for(self, sub: str) -> str:
        """``ccapki SUB`` on this store, as the administrator runs it (see
        :meth:`upgrade_command`): a hint's command, run as printed, acts on the store
        this command was given, never the default one."""
        import shlex

        if self.database_url is None:
            if self.home_option is not None:
                return f"ccapki --home {shlex.quote(self.home_option)} {sub}"
            home = os.environ.get("CCAPKI_HOME")
            if home:
                return f"CCAPKI_HOME={shlex.quote(home)} ccapki {sub}"
        return f"ccapki {sub}"

    @contextlib.contextmanager
    def optional_store(self) -> Iterator[Store | None]:
        """The store, open, for a command that also works without one (``inspect FILE``,
        ``plan FILE``): None when there is none, or when its schema is older than this
        ccapki's (then one note line, once per command, names the upgrade it needs for
        the rest). Raises :class:`StoreError` for any other store trouble."""
        if not self.store_exists():
            yield None
            return
        try:
            store = self.open_store()
        except StoreOutdated as exc:
            if not self._outdated_said:
                self._outdated_said = True
                click.echo(
                    f"note: the store's schema ({exc.version}) is older than this ccapki's: "
                    f"shown without it; run `{self.upgrade_command()}` for the rest",
                    err=True,
                )
            yield None
            return
        with store:
            yield store

    def act_on(self, name: str, *, source: str) -> None:
        """Act on deployment ``name``, the one the deployment file ``source`` names.

        Raises :class:`InputError` when ``--deployment`` names another; a
        ``CCAPKI_DEPLOYMENT`` naming another gives way to the file (its default is for
        commands given no file).
        """
        option = self.deployment_option
        if option is not None and option != name and self.deployment_from_env:
            self.deployment_option = option = None
        if option is not None and option != name:
            raise InputError(
                f"{source} is deployment {name!r}, and --deployment names {option!r}",
                "a command given a deployment file acts on the deployment it names: drop "
                f"--deployment, or give the file of {option!r}",
            )
        self._acting = name

    def warn_loose_modes(self) -> None:
        """Once per command: warn when others can read the store's folder or files."""
        if self._modes_checked:
            return
        self._modes_checked = True
        from ccapki.store.home import loose_modes

        text = loose_modes(self.home, self.database_url)
        if text:
            click.echo(f"warning: {text}", err=True)

    def store_exists(self) -> bool:
        """Whether a store is there to open: the SQLite file in :attr:`home` (no database
        code imported), or a database at :attr:`database_url` that holds a ccapki schema or
        cannot be examined (opening it then says why). An empty database holds no store, as
        a folder without the file: ``plan FILE`` and ``inspect FILE`` need none."""
        from ccapki.home import store_exists

        url = self.database_url
        if url is None:
            self.refuse_file_home()
            return store_exists(self.home, None)
        from ccapki.store.health import examine_database

        state = examine_database(self.home, url)
        return state.error is not None or state.revision is not None


pass_env = click.make_pass_decorator(Env)


def _os_user() -> str | None:
    """The operating-system user running the command (the audit log's ``actor``): under
    sudo, who ran sudo too (``ann (sudo as ccapki)``), as sudo's own log says it, so the
    administrators sharing the store's account are told apart."""
    import getpass

    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no passwd entry and no LOGNAME/USER
        return None
    by = os.environ.get("SUDO_USER")
    if by and by != user:
        return f"{by} (sudo as {user})"[:128]  # the actor column's width
    return user


def _say_waiting(seconds: float) -> None:
    click.echo(f"another ccapki is writing to this store; waiting (up to {seconds:g} s)", err=True)


#: the notice of a command waiting for another ccapki's write lock (``ccapki upgrade``'s too)
say_waiting = _say_waiting


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
EXAMPLES
  ccapki demo                         the whole workflow on the FAQ's example deployment
  ccapki init --key-file              create the store (or use CCAPKI_PASSPHRASE)
  ccapki plan examples/faq.toml       how many certificates, for which names
  ccapki apply examples/faq.toml      issue them
  ccapki inspect cas-dorm             what the store holds for an identity

\b
EXIT CODES
  0 success   1 findings   2 bad input or usage (error: and hint:)
  3 verify --live: live and offline verdicts disagree   70 internal error
  130 interrupted (Ctrl-C)   143 stopped by SIGTERM (nothing half-written)
  141 output closed early (`ccapki plan FILE | head -1`): stops silently

\b
CCAPKI_NOW=2027-06-01T00:00:00+00:00 runs reports as if at that time (what-if);
commands that write, and verify --live (real handshakes, real clock), refuse it.
""",
)
@click.option(
    "--home",
    metavar="DIR",
    help="Store folder (default: $CCAPKI_HOME, else $XDG_DATA_HOME/ccapki).",
)
@click.option(
    "--deployment",
    metavar="NAME",
    envvar="CCAPKI_DEPLOYMENT",
    help="The deployment to act on, when the store holds several (default: "
    "$CCAPKI_DEPLOYMENT; a deployment file names its own; `ccapki deployments` lists them).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option(
    "--wait",
    metavar="SECONDS",
    type=FiniteFloatRange(min=0),  # nan or inf: never a wait for ever
    default=60.0,
    show_default=True,
    help="How long a command that writes waits for another ccapki writing to the store.",
)
@click.version_option(__version__, "-V", "--version", prog_name="ccapki")
@click.pass_context
def cli(
    ctx: click.Context, home: str | None, deployment: str | None, debug: bool, wait: float
) -> None:
    """ccapki: every certificate of a Cisco Clean Access deployment, managed."""
    from click.core import ParameterSource

    for name, value, what in (("home", home, "DIR"), ("deployment", deployment, "NAME")):
        # `--home=$DIR` with DIR unset: never the default store in its place
        if value == "" and ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE:
            raise InputError(
                f"--{name} is empty",
                f"give it a value (`--{name} {what}`), or leave --{name} out for the default",
            )
    ctx.obj = Env(
        home_option=home,
        debug=debug,
        wait=wait,
        deployment_option=deployment or None,
        deployment_from_env=ctx.get_parameter_source("deployment") is ParameterSource.ENVIRONMENT,
    )


def _say_error(message: str, hint: str | None) -> None:
    click.echo(f"error: {message}", err=True)
    if hint:
        click.echo(f"hint: {hint}", err=True)


#: What an interruption keeps, when the command does not say (see :class:`Interrupted`).
INTERRUPT_HINT = (
    "nothing is half-written (each store change is one transaction, each file is replaced "
    "whole); run the command again"
)


class _Late:
    """Whether the command's work is done (committed, or the command has returned): from
    then on a signal changes nothing, so a late Ctrl-C cannot turn a success into 130.
    ``interrupted_at``: when the signal that interrupts the command came (monotonic)."""

    done = False
    interrupted_at: float | None = None


#: A repeat of the interrupting signal within this many seconds is the same interruption
#: (``timeout`` signals both the process and its group; a Ctrl-C may bounce).
REPEAT_SECONDS = 1.0


def work_done() -> None:
    """The command's change is committed: a signal from now to the command's end is
    ignored (the command reports what it did and exits as it would have)."""
    _Late.done = True


@contextlib.contextmanager
def _signals_raise_interrupted(*, exiting: bool = False) -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` while a command runs, until its work is
    done (:func:`work_done`, or the command returned).

    A second signal during the cleanup that follows stops the process at once (saying so),
    unless it repeats the first within :data:`REPEAT_SECONDS`.
    ``exiting``: the process exits after the command, so the signals stay ignored from
    then on (restoring Python's handlers would let a late Ctrl-C end the exit with a
    traceback, or with a silent 130 once the interpreter shuts down). Only the main thread
    can install handlers; elsewhere nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def redeliver(signum: int) -> None:
        # a moment later, from another thread: handled in the main thread once the code
        # that swallowed it has returned
        _Late.interrupted_at = None
        deliver_again(signum)

    @signal_handler
    def handler(signum: int, frame: FrameType | None) -> None:
        if _Late.done:
            return
        if at_a_seam(frame):  # a context manager entering or leaving: once it has
            deliver_again(signum)
            return
        while frame is not None:
            if frame.f_code is swallowed.__code__:  # raising here would be lost again
                redeliver(signum)
                return
            frame = frame.f_back
        now = time.monotonic()
        if _Late.interrupted_at is None:
            _Late.interrupted_at = now
            raise Interrupted(signum)
        if now - _Late.interrupted_at < REPEAT_SECONDS:
            return
        name = signal.Signals(signum).name
        os.write(
            2,
            f"error: interrupted again ({name}): stopped at once\n"
            "hint: a store change that was not committed is rolled back by the database; "
            "run the command again\n".encode(),
        )
        os._exit(128 + signum)

    def swallowed(unraisable: sys.UnraisableHookArgs) -> None:
        # the signal landed in code whose exceptions Python only prints (a weakref
        # callback, ``__del__``, e.g. inside an import): print nothing and deliver it
        # again, so that it still interrupts the command
        exc = unraisable.exc_value
        if not isinstance(exc, Interrupted):
            default_hook(unraisable)
        elif not _Late.done:
            redeliver(exc.signum)

    default_hook = sys.unraisablehook
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    sys.unraisablehook = swallowed
    try:
        yield
    finally:
        sys.unraisablehook = default_hook
        for sig, old in previous.items():
            if exiting:
                signal.signal(sig, signal.SIG_IGN)
            elif old is not None:  # None: a handler not installed from Python, left as is
                signal.signal(sig, old)


def _interrupted(exc: Interrupted) -> int:
    if _left_at_a_prompt(exc):
        click.echo(err=True)  # a prompt left the cursor on its line: the error starts a line
    _say_error(f"interrupted ({exc.name})", exc.hint or INTERRUPT_HINT)
    return exc.exit_code


def _left_at_a_prompt(exc: BaseException) -> bool:
    """Whether ``exc`` interrupted one of click's prompts, which ends no line when input is
    cut short (a hidden prompt does not even echo ``^C``), unless the code asking ended it
    already (:meth:`Env.pkcs11_pin`)."""
    prompted = False
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code is Env.pkcs11_pin.__code__:
            return False
        if code.co_name == "prompt_func" and code.co_filename == click.termui.__file__:
            prompted = True
        tb = tb.tb_next
    return prompted


def run(args: list[str], *, exiting: bool = False) -> int:
    """Run the CLI; turn every known error into ``error:`` + ``hint:`` and an exit code.

    ``exiting``: the process ends with this command (the ``ccapki`` entry point); a signal
    after the command is done is then ignored. Runs nest (``ccapki demo``).
    """
    outer = (_Late.done, _Late.interrupted_at)
    _Late.done, _Late.interrupted_at = False, None
    if not {"serve", "watch"} & set(args):  # the long-running ones keep their logs
        _quiet_library_logs()
    try:
        with _signals_raise_interrupted(exiting=exiting):
            code = _run(args)
        if exiting and code != SIGPIPE_EXIT:
            try:  # what is still buffered: a reader gone by now is a closed pipe too
                sys.stdout.flush()
            except BrokenPipeError:
                _quiet_stdout()
                return SIGPIPE_EXIT
        return code
    except Interrupted as exc:  # before the handlers were installed (ccapki was starting)
        return _interrupted(exc)
    finally:
        _Late.done, _Late.interrupted_at = outer


#: The library loggers a command keeps off standard error (see :func:`_quiet_library_logs`).
QUIET_LOGGERS = ("sqlalchemy.pool", "psycopg")


def _quiet_library_logs() -> None:
    """Keep the database libraries' logs of an interrupted connection off standard error.
    A Ctrl-C or SIGTERM that lands while SQLAlchemy's pool resets a connection being given
    back is logged by SQLAlchemy ("Exception during reset or similar" and a traceback), and
    one that lands inside a PostgreSQL pipeline by psycopg ("error ignored exiting
    <psycopg.Pipeline ...>"), through logging's last-resort handler, before it reaches
    ccapki, which reports it as ever: `error:` + `hint:` (the kill tests caught both). Not
    for `serve` and `watch`, whose logs keep what the libraries say."""
    import logging

    for name in QUIET_LOGGERS:
        log = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in log.handlers):
            log.addHandler(logging.NullHandler())
        log.propagate = False


#: The exit code when standard output is closed early (``| head -1``): 128 + SIGPIPE, as a
#: shell reports a command killed by SIGPIPE (and as git exits).
SIGPIPE_EXIT = 128 + 13

#: The optional extra (pyproject.toml) that installs each module a command may import
#: late: a command run without it says which extra to install (exit 2), not "a ccapki bug".
_EXTRA_OF = {
    "fastapi": "serve",
    "starlette": "serve",
    "uvicorn": "serve",
    "jinja2": "serve",
    "argon2": "serve",
    "multipart": "serve",
    "python_multipart": "serve",
    "psycopg": "postgres",
    "acme": "acme",
    "josepy": "acme",
    "dns": "acme",
    "pkcs11": "pkcs11",
    "asn1crypto": "pkcs11",
}


def _stdout_gone() -> bool:
    """Whether standard output is a pipe (or socket) whose reader has gone."""
    import select

    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (in process): cannot tell
        return True
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))


def _quiet_stdout() -> None:
    """Point standard output at /dev/null, so nothing written later (the interpreter's
    last flush) meets the closed pipe again."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _invoke(args: list[str]) -> object:
    try:
        return cli.main(args, prog_name="ccapki", standalone_mode=False)
    finally:
        _Late.done = True  # returned or raised: a signal now would only garble the report


def _interrupted_by(exc: BaseException) -> Interrupted | None:
    """The :class:`Interrupted` (a signal) that ``exc`` was raised while handling, if any:
    e.g. the database driver failing to roll back a statement the signal cut short
    (psycopg: "cannot exit pipeline mode while busy"). Nothing was committed by then."""
    seen: set[int] = set()
    cause: BaseException | None = exc.__context__
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, Interrupted):
            return cause
        if isinstance(cause, KeyboardInterrupt):
            return Interrupted(signal.SIGINT)
        seen.add(id(cause))
        cause = cause.__context__
    return None


def _run(args: list[str]) -> int:
    debug = "--debug" in args
    try:
        rv = _invoke(args)
    except Interrupted as exc:
        if debug:
            import traceback

            traceback.print_exc()
        return _interrupted(exc)
    except CcapkiError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        _say_error(exc.message, exc.hint)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except SystemExit as exc:
        # click catches a write to a closed standard output (EPIPE) itself, wraps stdout so
        # nothing more is said, and exits 1, which means "findings" here: 141 instead
        if exc.code == 1 and type(sys.stdout).__name__ == "_PacifyFlushWrapper":
            _quiet_stdout()
            return SIGPIPE_EXIT
        raise
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__ or exc.__context__, EOFError):  # Ctrl-D at a prompt
            _say_error(
                "no answer: the input ended at a prompt",
                "answer the prompt, or give the value by its option or environment variable "
                "(see --help)",
            )
            return 2
        return _interrupted(Interrupted(signal.SIGINT))
    except click.exceptions.NoArgsIsHelpError as exc:
        # `ccapki keys` (a group, no subcommand): its help is what was asked for, as
        # `git remote` lists: on standard output, exit 0
        click.echo(exc.format_message())
        return 0
    except click.UsageError as exc:
        cmd = exc.ctx.command_path if exc.ctx else "ccapki"
        hint = f"see `{cmd} --help` for usage and examples"
        message = exc.format_message() + _did_you_mean(exc)
        if isinstance(exc, click.BadParameter) and exc.message.endswith("is a directory."):
            # click.Path(dir_okay=False) given a folder: say the fix, as for any file
            hint = f"name a file inside that folder (it takes a file, not a folder); {hint}"
        _say_error(message, hint)
        return 2
    except click.ClickException as exc:
        # click's other errors (e.g. a file it could not open) are bad input too: exit 2,
        # never 1, which means "findings"
        _say_error(exc.format_message(), "see `ccapki --help` for usage and examples")
        return 2
    except KeyboardInterrupt:
        return _interrupted(Interrupted(signal.SIGINT))
    except BrokenPipeError as exc:
        if _stdout_gone():  # the reader of our output left (`| head -1`): stop silently
            _quiet_stdout()
            return SIGPIPE_EXIT
        if debug:
            raise
        _say_error(
            f"internal error: {type(exc).__name__}: {exc}",
            "this is a ccapki bug: run again with --debug and report the traceback",
        )
        return 70
    except OSError as exc:
        import errno

        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) and not debug:
            # the output could not be written (`ccapki plan FILE > /dev/full`, a full disk):
            # the machine's state, not a ccapki bug
            _quiet_stdout()
            _say_error(
                f"could not write the output: {exc.strerror or exc}",
                "make room where the output goes (or write it elsewhere), then run the "
                "command again",
            )
            return 2
        if exc.errno == errno.EIO and not debug:
            # a failing disk or device, read from or written to: which file, when it is known
            _quiet_stdout()
            name = f" on {os.fsdecode(exc.filename)}" if exc.filename is not None else ""
            _say_error(
                f"input/output error{name}: a disk or device failed to read or write (not "
                "a ccapki bug)",
                "check the device (`dmesg` names it), or read and write elsewhere, then "
                "run the command again",
            )
            return 2
        if exc.errno in (errno.EACCES, errno.EPERM) and exc.filename is not None and not debug:
            # a file this user may not read or write (the store's data.key made 0000 or
            # owned by another user): its permissions, not a ccapki bug
            name = os.fsdecode(exc.filename)
            _say_error(
                f"permission denied: {name}",
                f"run ccapki as the user that owns {name} (`ls -l {name}`), or give this "
                "user access to it (a store's data.key and ccapki.db stay 0600, its "
                "folder 0700)",
            )
            return 2
        bad_path = exc.errno in (errno.ELOOP, errno.ENAMETOOLONG)
        if bad_path and exc.filename is not None and not debug:
            # a path given that is a symbolic link loop, or a name longer than the system
            # takes (a pasted blob, a runaway $(...)), wherever it is opened: bad input
            from ccapki.fsutil import unreadable

            bad = unreadable(os.fsdecode(exc.filename), exc)
            _say_error(bad.message, bad.hint)
            return 2
        return _unexpected(exc, debug)
    except ModuleNotFoundError as exc:
        extra = _EXTRA_OF.get((exc.name or "").split(".")[0])
        if extra is None or debug:
            return _unexpected(exc, debug)
        _say_error(
            f"this command needs the Python package {exc.name}, which is not installed "
            f"(ccapki's `{extra}` extra)",
            f"install it where ccapki is installed: pip install 'ccapki[{extra}]'",
        )
        return 2
    except Exception as exc:
        trouble = None if debug else database_trouble(exc)
        if trouble is not None:  # the store's file, not a ccapki bug
            _say_error(trouble.message, trouble.hint)
            return trouble.exit_code
        return _unexpected(exc, debug)
    return rv if isinstance(rv, int) else 0


#: What fixes a damaged SQLite store (``database_trouble``).
_DAMAGED_HINT = (
    "run `ccapki doctor` to see what is damaged; restore your last backup into a new store "
    "(`ccapki --home NEWDIR init && ccapki --home NEWDIR backup restore FILE`), or salvage "
    "the rows: `sqlite3 ccapki.db .recover | sqlite3 recovered.db`"
)


def database_trouble(exc: BaseException) -> StoreError | None:
    """The error to show for a SQLite store's database failing under a command, where the
    file, not ccapki, is at fault (see :func:`ccapki._util.sqlite_trouble`: damaged,
    refusing writes, locked by another program). Returns None for anything else (a ccapki
    bug: exit 70)."""
    from ccapki._util import sqlite_trouble

    found = sqlite_trouble(exc)
    if found is None:
        return None
    kind, why = found
    if kind == "damaged":
        return StoreError(
            f"the store's database is damaged ({why}): the command stopped", _DAMAGED_HINT
        )
    if kind == "read-only":
        return StoreError(
            f"the store's database refused a write ({why}): a file of it is read-only "
            "for this user; nothing was written",
            "the store folder, ccapki.db and its ccapki.db-wal and ccapki.db-shm must all "
            "be writable by the user running ccapki (`ls -l` the folder; `chmod u+w` what "
            "is not), or check the mount (`findmnt -T FOLDER`)",
        )
    if kind in ("full", "failing"):
        # SQLite rolls the transaction back: the store is as the last command left it
        return StoreError(
            f"the store's database could not be written ({why}): the disk is full, a "
            "file-size limit was reached or the disk is failing; the command stopped and "
            "the change under way was rolled back (nothing half-written: the store is whole)",
            "make room on the store's file system (`df -h FOLDER`; `ulimit -f` for a "
            "file-size limit), then run the command again; `ccapki doctor` checks the store",
        )
    from ccapki.errors import StoreBusy

    return StoreBusy(
        f"another program holds the store's database ({why}): the command stopped",
        "run the command again once the other one is done (`ccapki --wait SECONDS ...` "
        "waits longer for another ccapki)",
    )


def _did_you_mean(exc: click.UsageError) -> str:
    """`` Did you mean 'apply'?`` for ``No such command 'aply'.`` when one of the group's
    commands is close to the name given (click suggests only among the commands a group has
    loaded, and :class:`LazyGroup` loads none until one runs); else ``""``."""
    found = re.fullmatch(r"No such command '(.+)'\.", exc.format_message())
    ctx = exc.ctx
    if found is None or ctx is None or not isinstance(ctx.command, click.Group):
        return ""
    import difflib

    close = difflib.get_close_matches(found[1], ctx.command.list_commands(ctx), n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def _unexpected(exc: Exception, debug: bool) -> int:
    """An exception no handler expected: the signal behind it, or a ccapki bug (70).
    With ``debug`` a bug is raised again (its traceback printed)."""
    stopped = _interrupted_by(exc)
    if stopped is not None:  # cleaning up after a signal failed: the signal is the news
        if debug:
            import traceback

            traceback.print_exc()
        return _interrupted(stopped)
    if debug:
        raise exc
    _say_error(
        f"internal error: {type(exc).__name__}: {exc}",
        "this is a ccapki bug: run again with --debug and report the traceback",
    )
    return 70
